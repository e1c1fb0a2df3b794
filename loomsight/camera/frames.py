"""`Frame`: one image from a capture source, validated once; and the clock that stamps it.

Every source delivers HxWx3 uint8 BGR (grey and BGRA images are converted by `as_bgr`), an index
counted per source, the monotonic time of capture (`t_ns`, for durations and rates), the wall time
(`captured_at`, aware UTC, for reports) and, where the source knows it, the roll position of the
frame's first row (`top_m`, from an encoder or the synthetic web).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import cv2
import numpy as np
import numpy.typing as npt

from loomsight.errors import LoomsightError

ImageBGR = npt.NDArray[np.uint8]


class BadFrameError(LoomsightError):
    """An image that is not HxWx3 uint8 BGR (missing, empty, wrong shape or type): skip it."""


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Clock:
    """Time as sources and captures see it; tests pass their own functions."""

    monotonic_ns: Callable[[], int] = time.monotonic_ns
    utc_now: Callable[[], datetime] = utc_now
    sleep: Callable[[float], None] = time.sleep


SYSTEM_CLOCK = Clock()


def _describe(image: object) -> str:
    if image is None:
        return "None"
    if isinstance(image, np.ndarray):
        return f"array of shape {image.shape} and dtype {image.dtype}"
    return type(image).__name__


def check_bgr(image: object) -> ImageBGR:
    """`image` itself if it is a non-empty HxWx3 uint8 array; BadFrameError otherwise."""
    if (
        not isinstance(image, np.ndarray)
        or image.dtype != np.uint8
        or image.ndim != 3
        or image.shape[2] != 3
        or image.size == 0
    ):
        raise BadFrameError(f"expected an HxWx3 uint8 BGR image, got {_describe(image)}")
    return image


def as_bgr(image: object) -> ImageBGR:
    """An OpenCV image as HxWx3 uint8 BGR: grey (HxW or HxWx1) and BGRA are converted."""
    if isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.size > 0:
        if image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 1):
            return np.asarray(cv2.cvtColor(image, cv2.COLOR_GRAY2BGR), dtype=np.uint8)
        if image.ndim == 3 and image.shape[2] == 4:
            return np.asarray(cv2.cvtColor(image, cv2.COLOR_BGRA2BGR), dtype=np.uint8)
    return check_bgr(image)


@dataclass(frozen=True, eq=False, kw_only=True)
class Frame:
    """One captured image; `top_m` is None unless the source knows the roll position."""

    image: ImageBGR
    index: int
    t_ns: int
    captured_at: datetime
    source_name: str
    top_m: float | None = None

    def __post_init__(self) -> None:
        check_bgr(self.image)
        if self.index < 0:
            raise ValueError(f"frame index must be >= 0, got {self.index}")
        if self.captured_at.tzinfo is None or self.captured_at.utcoffset() is None:
            raise ValueError(f"captured_at must carry a time zone, got {self.captured_at!r}")
        if self.top_m is not None and not math.isfinite(self.top_m):
            raise ValueError(f"top_m must be a finite number of metres, got {self.top_m}")

    @classmethod
    def stamped(
        cls,
        image: object,
        *,
        index: int,
        source_name: str,
        clock: Clock = SYSTEM_CLOCK,
        top_m: float | None = None,
    ) -> Frame:
        """A frame of `image` (converted to BGR where it is grey or BGRA) captured now."""
        return cls(
            image=as_bgr(image),
            index=index,
            t_ns=clock.monotonic_ns(),
            captured_at=clock.utc_now(),
            source_name=source_name,
            top_m=top_m,
        )

    @property
    def size_wh_px(self) -> tuple[int, int]:
        return int(self.image.shape[1]), int(self.image.shape[0])
