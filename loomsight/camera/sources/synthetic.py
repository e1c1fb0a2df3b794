"""The synthetic moving web as a capture source (exact `top_m` per frame), optionally a faulty one.

A faulty camera (`dropout_every_s`) loses the frames of `dropout_s` out of every `dropout_every_s`
(counted in frames at `fps`): on reaching them, `read()` and `open()` raise `SourceLost` until
`dropout_s` of clock time has passed; then frames go on after the lost ones, as if the web had moved
on meanwhile. Which stretches of roll no frame shows is known in advance: `dropout_spans_m`.

On the loom's clock (`moving_since_unix_s`) frame `i` is the one under the camera at
`moving_since_unix_s + i / fps`: a read that comes late skips to the frame under the camera now, as
a real web moves on while nobody looks (a restarted agent, a cut cable). `offline_while_exists`
names a file whose presence cuts the camera (a scripted fault): reads raise `SourceLost` meanwhile.
"""

from __future__ import annotations

import math

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
        self._lost_frames = max(1, round(config.dropout_s * config.fps))
        self._period_frames: int | None = None
        if config.dropout_every_s is not None:
            every = round(config.dropout_every_s * config.fps)
            self._period_frames = max(every, self._lost_frames + 1)
        self._lost_since_ns: int | None = None  # when the dropout now under way began

    @property
    def name(self) -> str:
        return self._name

    def top_m_of(self, index: int) -> float:
        """Roll position of the first row of frame `index`, as `MovingWeb.frames` places it."""
        return self.config.start_m + index * self.step_m

    def is_dropped(self, index: int) -> bool:
        """Whether a faulty camera loses frame `index` (the first period always comes whole)."""
        period = self._period_frames
        return period is not None and index >= period and index % period < self._lost_frames

    def dropout_spans_m(self, until_m: float) -> list[tuple[float, float]]:
        """The stretches of roll before `until_m` that no frame shows, because of dropouts."""
        period = self._period_frames
        if period is None:
            return []
        spans = []
        first_lost = period
        while (start_m := self.top_m_of(first_lost - 1) + self.web.frame_length_m) < until_m:
            end_m = min(self.top_m_of(first_lost + self._lost_frames), until_m)
            if end_m > start_m:
                spans.append((start_m, end_m))
            first_lost += period
        return spans

    def open(self) -> None:
        self._check_lost()
        self._open = True

    def read(self) -> Frame | None:
        if not self._open:
            raise SourceLost(f"{self._name}: read before open() or after close()")
        if self.config.max_frames is not None and self._index >= self.config.max_frames:
            return None
        self._check_lost()
        if self.config.moving_since_unix_s is None:
            self._pacer.wait()
        else:
            self._follow_loom_clock(self.config.moving_since_unix_s)
            self._check_lost()  # the frame under the camera now may be one a dropout loses
        web_frame = self.web.frame_at(self.top_m_of(self._index), self._index)
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

    def _follow_loom_clock(self, moving_since_unix_s: float) -> None:
        """Wait for frame `_index` to be under the camera, or skip to the one that is now."""
        elapsed_s = self._clock.utc_now().timestamp() - moving_since_unix_s
        due = math.floor(elapsed_s * self.config.fps + 1e-6)  # not 30.999.. for 31
        if due > self._index:
            self._index = due
        elif due < self._index:
            self._clock.sleep(self._index / self.config.fps - elapsed_s)

    def _check_lost(self) -> None:
        """SourceLost while the camera is cut or a dropout lasts; after a dropout, skip the
        frames it lost."""
        cut = self.config.offline_while_exists
        if cut is not None and cut.exists():
            raise SourceLost(f"{self._name}: camera cut off (a scripted fault: {cut} exists)")
        if self._lost_since_ns is None:
            if not self.is_dropped(self._index):
                return
            self._lost_since_ns = self._clock.monotonic_ns()
        left_s = self.config.dropout_s - (self._clock.monotonic_ns() - self._lost_since_ns) / 1e9
        if left_s > 0:
            raise SourceLost(
                f"{self._name}: camera dropped out (a planted fault) at frame {self._index}, "
                f"back in {left_s:.1f} s"
            )
        self._lost_since_ns = None
        while self.is_dropped(self._index):
            self._index += 1
