"""The synthetic moving web as a capture source (exact `top_m` per frame)."""

from __future__ import annotations

from loomsight.camera.frames import SYSTEM_CLOCK, Clock, Frame
from loomsight.camera.sources.base import Pacer
from loomsight.camera.sources.config import SyntheticSourceConfig
from loomsight.datasets.synth.moving_web import MovingWeb
from loomsight.errors import SourceLost


class SyntheticSource:
    """The synthetic moving web; `web` is the `MovingWeb` itself, for ground truth."""

    def __init__(self, config: SyntheticSourceConfig, clock: Clock = SYSTEM_CLOCK) -> None:
        self.config = config
        self._name = config.name or f"synthetic:{config.seed}"
        self._clock = clock
        self.web = MovingWeb(
            seed=config.seed,
            width_px=config.width_px,
            frame_height_px=config.frame_height_px,
            mm_per_px=config.mm_per_px,
            defects_per_100m=config.defects_per_100m,
            grayscale=config.grayscale,
        )
        self.step_m = config.speed_m_per_min / 60 / config.fps
        self._pacer = Pacer(config.fps if config.realtime else None, clock)
        self._open = False
        self._index = 0

    @property
    def name(self) -> str:
        return self._name

    def top_m_of(self, index: int) -> float:
        """Roll position of the first row of frame `index`, as `MovingWeb.frames` places it."""
        return self.config.start_m + index * self.step_m

    def open(self) -> None:
        self._open = True

    def read(self) -> Frame | None:
        if not self._open:
            raise SourceLost(f"{self._name}: read before open() or after close()")
        if self.config.max_frames is not None and self._index >= self.config.max_frames:
            return None
        web_frame = self.web.frame_at(self.top_m_of(self._index), self._index)
        self._pacer.wait()
        frame = Frame.stamped(
            web_frame.image,
            index=self._index,
            source_name=self._name,
            clock=self._clock,
            top_m=web_frame.top_m,
        )
        self._index += 1
        return frame

    def close(self) -> None:
        self._open = False
