"""Box labels of one image, and their YOLO text form.

`ImageLabels` is the one labelled-boxes type of the dataset code: boxes in pixels (`xyxy_px`), class
ids, and the image size they belong to. Importers, the synthetic generator and tiling all produce
it; `to_yolo_text` / `read_yolo_labels` convert at the file boundary only.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from loomsight.errors import DatasetError

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class ImageLabels:
    """Boxes of one image: `xyxy_px` (N, 4) float pixels, `class_id` (N,) int, `resolution_wh`."""

    xyxy_px: FloatArray
    class_id: IntArray
    resolution_wh: tuple[int, int]

    def __post_init__(self) -> None:
        xyxy = np.asarray(self.xyxy_px, dtype=np.float64).reshape(-1, 4)
        class_id = np.asarray(self.class_id, dtype=np.int64).reshape(-1)
        if len(xyxy) != len(class_id):
            raise ValueError(f"xyxy_px has {len(xyxy)} boxes but class_id has {len(class_id)} ids")
        width, height = self.resolution_wh
        if width <= 0 or height <= 0:
            raise ValueError(f"resolution_wh must be positive, got {self.resolution_wh}")
        if len(xyxy) and bool(np.any(xyxy[:, 2:] < xyxy[:, :2])):
            raise ValueError("boxes must have x2 >= x1 and y2 >= y1")
        if len(class_id) and int(class_id.min()) < 0:
            raise ValueError(f"class ids must be >= 0, got {int(class_id.min())}")
        object.__setattr__(self, "xyxy_px", xyxy)
        object.__setattr__(self, "class_id", class_id)
        object.__setattr__(self, "resolution_wh", (int(width), int(height)))

    @classmethod
    def empty(cls, resolution_wh: tuple[int, int]) -> ImageLabels:
        return cls(np.zeros((0, 4)), np.zeros(0, dtype=np.int64), resolution_wh)

    def __len__(self) -> int:
        return len(self.class_id)

    def select(self, keep: npt.NDArray[np.bool_] | IntArray) -> ImageLabels:
        """The labels whose rows `keep` (a mask or indices) names."""
        return ImageLabels(self.xyxy_px[keep], self.class_id[keep], self.resolution_wh)

    def clipped(self) -> ImageLabels:
        """Boxes clipped to the image."""
        width, height = self.resolution_wh
        xyxy = self.xyxy_px.copy()
        xyxy[:, [0, 2]] = xyxy[:, [0, 2]].clip(0, width)
        xyxy[:, [1, 3]] = xyxy[:, [1, 3]].clip(0, height)
        return ImageLabels(xyxy, self.class_id, self.resolution_wh)

    def to_yolo_text(self) -> str:
        """YOLO lines `class cx cy w h`, normalised to the image size; empty string for no boxes."""
        width, height = self.resolution_wh
        lines = []
        for (x1, y1, x2, y2), class_id in zip(self.xyxy_px, self.class_id, strict=True):
            cx, cy = (x1 + x2) / 2 / width, (y1 + y2) / 2 / height
            w, h = (x2 - x1) / width, (y2 - y1) / height
            lines.append(f"{class_id} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}")
        return "".join(line + "\n" for line in lines)


def parse_yolo_text(text: str, resolution_wh: tuple[int, int], source: str) -> ImageLabels:
    """Labels from YOLO text; `source` names the file in errors."""
    width, height = resolution_wh
    boxes: list[list[float]] = []
    class_ids: list[int] = []
    for line_number, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 5:
            raise DatasetError(
                f"{source}:{line_number}: expected 'class cx cy w h' (5 fields), got {line!r}"
            )
        try:
            class_id = int(fields[0])
            cx, cy, w, h = (float(field) for field in fields[1:])
        except ValueError:
            raise DatasetError(
                f"{source}:{line_number}: expected an integer class and 4 numbers, got {line!r}"
            ) from None
        boxes.append(
            [
                (cx - w / 2) * width,
                (cy - h / 2) * height,
                (cx + w / 2) * width,
                (cy + h / 2) * height,
            ]
        )
        class_ids.append(class_id)
    try:
        return ImageLabels(np.array(boxes).reshape(-1, 4), np.array(class_ids), resolution_wh)
    except ValueError as error:
        raise DatasetError(f"{source}: {error}") from None


def read_yolo_labels(path: Path, resolution_wh: tuple[int, int]) -> ImageLabels:
    """Labels of a YOLO label file; a missing file means no boxes is NOT assumed: it is an error."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise DatasetError(f"{path}: cannot read label file ({error})") from None
    return parse_yolo_text(text, resolution_wh, str(path))


def write_yolo_labels(path: Path, labels: ImageLabels) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(labels.to_yolo_text(), encoding="utf-8")
