"""Fabric coordinates: where a frame lies on the roll, and where its boxes lie on the fabric.

Convention (the same as the synthetic moving web): image rows run along the roll, a frame's first
row lies at `top_m` from the roll start and row y at `top_m + y * mm_per_px_along / 1000`; image
columns run across the web, column x at `across_offset_mm + x * mm_per_px` from the web's reference
edge. `flip_along` / `flip_across` turn either axis round for a camera mounted the other way.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from loomsight.errors import ModelFileError
from loomsight.inference.detections import Detections
from loomsight.schema import Identifier, NonNegative, Positive

logger = logging.getLogger(__name__)

NS_PER_MIN = 60e9


class Calibration(BaseModel):
    """One camera on one machine: scale, placement on the web, line speed and the current roll."""

    model_config = ConfigDict(extra="forbid")

    mm_per_px: Positive = Field(description="Across the web; also along it unless set apart.")
    mm_per_px_along: Positive | None = Field(None, description="Along the roll (line-scan).")
    web_width_mm: Positive
    across_offset_mm: float = Field(
        0.0, allow_inf_nan=False, description="Where pixel column 0 lies from the reference edge."
    )
    flip_across: bool = Field(False, description="Column 0 is at the far side, not the near one.")
    flip_along: bool = Field(False, description="The last row, not the first, is at top_m.")
    speed_m_per_min: Positive = Field(description="Line speed when no encoder value comes.")
    use_encoder: bool = Field(
        True, description="Prefer a frame's encoder position when it has one."
    )
    roll_id: Identifier | None = None
    roll_start_m: NonNegative = 0.0

    @property
    def along_mm_per_px(self) -> float:
        return self.mm_per_px if self.mm_per_px_along is None else self.mm_per_px_along

    def frame_length_m(self, frame_height_px: int) -> float:
        """The stretch of roll one frame of `frame_height_px` rows shows."""
        return frame_height_px * self.along_mm_per_px / 1000


class DefectSizeFilter(BaseModel):
    """Drop defects smaller than a size in mm (the larger of length and width), per class or all."""

    model_config = ConfigDict(extra="forbid")

    min_size_mm: NonNegative = 0.0
    min_size_mm_by_class: dict[str, NonNegative] = Field(default_factory=dict)

    def keeps(self, class_name: str, length_mm: float, width_mm: float) -> bool:
        least = self.min_size_mm_by_class.get(class_name, self.min_size_mm)
        return max(length_mm, width_mm) >= least


class WebOdometer:
    """The roll position of a frame's first row: the encoder value if the frame has one, else the
    line speed integrated over monotonic time since the last known position.

    An encoder value re-anchors the integration, so a frame without one continues from it.
    Positions never run backwards in time: a `t_ns` before the anchor gives the anchor position.
    """

    def __init__(self, calibration: Calibration, start_t_ns: int) -> None:
        self._use_encoder = calibration.use_encoder
        self._speed_m_per_min = calibration.speed_m_per_min
        self.roll_id = calibration.roll_id
        self._anchor_t_ns = start_t_ns
        self._anchor_m = calibration.roll_start_m

    @property
    def speed_m_per_min(self) -> float:
        return self._speed_m_per_min

    def position_m(self, t_ns: int, encoder_m: float | None = None) -> float:
        """Roll position at monotonic time `t_ns`; `encoder_m` is the frame's encoder position."""
        if encoder_m is not None and self._use_encoder:
            if not math.isfinite(encoder_m):
                raise ValueError(f"encoder position must be a finite number, got {encoder_m}")
            if t_ns >= self._anchor_t_ns:
                self._anchor_t_ns, self._anchor_m = t_ns, encoder_m
            return encoder_m
        elapsed_ns = max(t_ns - self._anchor_t_ns, 0)
        return self._anchor_m + self._speed_m_per_min * elapsed_ns / NS_PER_MIN

    def set_speed(self, speed_m_per_min: float, t_ns: int) -> None:
        """From `t_ns` on, the line runs at `speed_m_per_min` (what ran before is kept)."""
        if not speed_m_per_min >= 0:
            raise ValueError(f"speed_m_per_min must be >= 0, got {speed_m_per_min}")
        self._anchor_m = self.position_m(t_ns)
        self._anchor_t_ns = max(t_ns, self._anchor_t_ns)
        self._speed_m_per_min = speed_m_per_min

    def start_roll(self, roll_id: str | None, start_m: float, t_ns: int) -> None:
        """A new roll starts at `t_ns`, its first metre at `start_m`."""
        if not start_m >= 0:
            raise ValueError(f"roll start must be >= 0 m, got {start_m}")
        self.roll_id = roll_id
        self._anchor_t_ns, self._anchor_m = t_ns, start_m


@dataclass(frozen=True)
class FabricDefect:
    """One detection in fabric coordinates, with the pixel box it came from."""

    position_m: float  # centre, along the roll from its start
    across_mm: float  # centre, from the web's reference edge
    length_mm: float  # extent along the roll
    width_mm: float  # extent across the web
    class_name: str
    confidence: float
    box_xyxy_px: tuple[float, float, float, float]  # clipped to the frame
    frame_wh_px: tuple[int, int]

    @property
    def along_span_m(self) -> tuple[float, float]:
        half_m = self.length_mm / 2000
        return self.position_m - half_m, self.position_m + half_m

    @property
    def across_span_mm(self) -> tuple[float, float]:
        half_mm = self.width_mm / 2
        return self.across_mm - half_mm, self.across_mm + half_mm


def to_fabric(
    detections: Detections,
    class_names: Sequence[str],
    frame_top_m: float,
    frame_wh_px: tuple[int, int],
    calibration: Calibration,
    size_filter: DefectSizeFilter | None = None,
) -> list[FabricDefect]:
    """The detections of one frame as fabric defects.

    Boxes are clipped to the frame and their across extent to the web; boxes empty after that
    (off the frame or off the web) and defects below the size filter are dropped.
    """
    width_px, height_px = frame_wh_px
    if width_px <= 0 or height_px <= 0:
        raise ValueError(f"frame_wh_px must be positive, got {frame_wh_px}")
    if len(detections) and int(detections.class_id.max()) >= len(class_names):
        raise ModelFileError(
            f"detections name class id {int(detections.class_id.max())} but the model names "
            f"{len(class_names)} classes ({', '.join(class_names)})"
        )
    xyxy = detections.xyxy_px.astype(np.float64)
    xyxy[:, [0, 2]] = xyxy[:, [0, 2]].clip(0, width_px)
    xyxy[:, [1, 3]] = xyxy[:, [1, 3]].clip(0, height_px)
    across_px = width_px - xyxy[:, [2, 0]] if calibration.flip_across else xyxy[:, [0, 2]]
    along_px = height_px - xyxy[:, [3, 1]] if calibration.flip_along else xyxy[:, [1, 3]]
    across_mm = (across_px * calibration.mm_per_px + calibration.across_offset_mm).clip(
        0, calibration.web_width_mm
    )
    along_mm = along_px * calibration.along_mm_per_px
    defects = []
    for index in range(len(detections)):
        a1, a2 = (float(v) for v in across_mm[index])
        l1, l2 = (float(v) for v in along_mm[index])
        x1, y1, x2, y2 = (float(v) for v in xyxy[index])
        if not (a2 > a1 and l2 > l1 and x2 > x1 and y2 > y1):
            logger.debug("box %s is empty on the frame or off the web; dropped", xyxy[index])
            continue
        class_name = class_names[int(detections.class_id[index])]
        if size_filter is not None and not size_filter.keeps(class_name, l2 - l1, a2 - a1):
            continue
        defects.append(
            FabricDefect(
                position_m=frame_top_m + (l1 + l2) / 2000,
                across_mm=(a1 + a2) / 2,
                length_mm=l2 - l1,
                width_mm=a2 - a1,
                class_name=class_name,
                confidence=float(detections.confidence[index]),
                box_xyxy_px=(x1, y1, x2, y2),
                frame_wh_px=(width_px, height_px),
            )
        )
    return defects
