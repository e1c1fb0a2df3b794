"""`Detections`: the one result type of the detector (boxes in pixels, scores, class ids).

Validated once at construction (shapes, dtypes, finite values, x2 >= x1 and y2 >= y1); everything
downstream trusts it. Boxes are in the pixels of the image they were found in (`xyxy_px`);
`box_mm` converts them to fabric millimetres with a camera calibration.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Float32Array = npt.NDArray[np.float32]
Float64Array = npt.NDArray[np.float64]
Int64Array = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True, eq=False)
class Detections:
    """N boxes: `xyxy_px` (N, 4) float32, `confidence` (N,) float32, `class_id` (N,) int64."""

    xyxy_px: Float32Array
    confidence: Float32Array
    class_id: Int64Array

    def __post_init__(self) -> None:
        xyxy = np.ascontiguousarray(self.xyxy_px, dtype=np.float32)
        confidence = np.ascontiguousarray(self.confidence, dtype=np.float32)
        class_id = np.ascontiguousarray(self.class_id, dtype=np.int64)
        if xyxy.ndim != 2 or xyxy.shape[1] != 4:
            raise ValueError(f"xyxy_px must have shape (N, 4), got {xyxy.shape}")
        count = len(xyxy)
        if confidence.shape != (count,) or class_id.shape != (count,):
            raise ValueError(
                f"expected confidence and class_id of shape ({count},) for {count} boxes, "
                f"got {confidence.shape} and {class_id.shape}"
            )
        if not (np.isfinite(xyxy).all() and np.isfinite(confidence).all()):
            raise ValueError("boxes and confidences must be finite numbers")
        if count and bool(np.any(xyxy[:, 2:] < xyxy[:, :2])):
            raise ValueError("boxes must have x2 >= x1 and y2 >= y1")
        if count and int(class_id.min()) < 0:
            raise ValueError(f"class ids must be >= 0, got {int(class_id.min())}")
        object.__setattr__(self, "xyxy_px", xyxy)
        object.__setattr__(self, "confidence", confidence)
        object.__setattr__(self, "class_id", class_id)

    @classmethod
    def empty(cls) -> Detections:
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64))

    @classmethod
    def merge(cls, parts: Sequence[Detections]) -> Detections:
        """All boxes of `parts`, in order."""
        if not parts:
            return cls.empty()
        return cls(
            np.concatenate([part.xyxy_px for part in parts]),
            np.concatenate([part.confidence for part in parts]),
            np.concatenate([part.class_id for part in parts]),
        )

    def __len__(self) -> int:
        return len(self.class_id)

    def filter(self, keep: BoolArray | Int64Array | npt.NDArray[np.intp]) -> Detections:
        """The detections that `keep` (a boolean mask or indices) names, in its order."""
        return Detections(self.xyxy_px[keep], self.confidence[keep], self.class_id[keep])

    def sorted_by_confidence(self) -> Detections:
        """Highest confidence first (stable for equal scores)."""
        return self.filter(np.argsort(-self.confidence, kind="stable"))

    @property
    def size_wh_px(self) -> Float32Array:
        """(N, 2) width and height of each box in pixels."""
        return self.xyxy_px[:, 2:] - self.xyxy_px[:, :2]

    def shifted(self, dx_px: float, dy_px: float) -> Detections:
        """The same boxes moved by (dx_px, dy_px), e.g. from a tile to its frame."""
        offset = np.array([dx_px, dy_px, dx_px, dy_px], dtype=np.float32)
        return Detections(self.xyxy_px + offset, self.confidence, self.class_id)

    def box_mm(self, mm_per_px: float, origin_mm: tuple[float, float] = (0.0, 0.0)) -> Float64Array:
        """(N, 4) boxes x1, y1, x2, y2 in millimetres: pixels times `mm_per_px` plus `origin_mm`."""
        if not mm_per_px > 0:
            raise ValueError(f"mm_per_px must be positive, got {mm_per_px}")
        origin = np.array([*origin_mm, *origin_mm], dtype=np.float64)
        return self.xyxy_px.astype(np.float64) * mm_per_px + origin
