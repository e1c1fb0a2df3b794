"""Defect-free frames of the running article, collected from the camera's source: a given length
of cloth, frames that do not overlap (so frames later held apart share no cloth with those
trained on), in roll order.

Where a frame is on the roll comes from its encoder value or the line speed (`WebOdometer`), as
in the agent; a folder of images has no such thing, so each image counts as the next frame's
length of cloth.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from loomsight.camera.calibration import Calibration, WebOdometer
from loomsight.camera.sources.base import FrameSource
from loomsight.errors import ConfigError

logger = logging.getLogger(__name__)

Image = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class CollectedFrames:
    """Frames kept (roll order) with the roll position of each one's first row."""

    source_name: str
    images: list[Image]
    top_m: list[float]
    covered_m: float  # cloth that passed from the first frame read to the end of the last
    frames_read: int
    frame_length_m: float

    def __post_init__(self) -> None:
        if len(self.images) != len(self.top_m):
            raise ValueError(f"{len(self.images)} images but {len(self.top_m)} positions")


def collect_frames(
    source: FrameSource,
    calibration: Calibration,
    length_m: float,
    *,
    by_sequence: bool = False,
    max_frames: int = 100_000,
    on_progress: Callable[[float, float], None] | None = None,
) -> CollectedFrames:
    """Read SOURCE (opened) until LENGTH_M of cloth has passed, it ends or MAX_FRAMES were read;
    keep each frame that starts where the last kept one ended or later. BY_SEQUENCE: frame i is
    at i frame lengths (a folder of images). `on_progress(covered_m, length_m)` per frame."""
    if not length_m > 0:
        raise ConfigError(f"expected a length of cloth above 0 m, got {length_m}")
    images: list[Image] = []
    tops: list[float] = []
    odometer: WebOdometer | None = None
    first_m: float | None = None
    next_free_m = -np.inf
    covered_m, read, frame_m = 0.0, 0, 0.0
    while covered_m < length_m and read < max_frames:
        frame = source.read()
        if frame is None:
            break
        frame_m = calibration.frame_length_m(frame.image.shape[0])
        if by_sequence:
            top_m = read * frame_m
        else:
            odometer = odometer or WebOdometer(calibration, frame.t_ns)
            top_m = odometer.position_m(frame.t_ns, frame.top_m)
        read += 1
        first_m = top_m if first_m is None else first_m
        if top_m >= next_free_m:
            images.append(frame.image)
            tops.append(top_m)
            next_free_m = top_m + frame_m
        covered_m = top_m + frame_m - first_m
        if on_progress is not None:
            on_progress(covered_m, length_m)
    logger.info(
        "collected %d of %d frames, %.1f m of cloth from %s",
        len(images),
        read,
        covered_m,
        source.name,
    )
    return CollectedFrames(source.name, images, tops, covered_m, read, frame_m)
