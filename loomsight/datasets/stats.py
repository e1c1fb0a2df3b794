"""Numbers that describe a YOLO dataset: images, defect-free images, boxes per class, sizes.

Images are decoded (in threads) for their size, so box sizes are in real pixels as well as in
fractions of the image. Malformed labels are an error here (run `loomsight dataset check`); an image
without a label file is counted as unlabelled, not as defect-free.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from loomsight.datasets.labels import FloatArray, ImageLabels, read_yolo_labels
from loomsight.datasets.layout import DatasetItem, image_size_wh, list_items

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SizeSummary:
    """Minimum, median and maximum of a set of sizes."""

    min: float
    median: float
    max: float

    @classmethod
    def of(cls, values: Sequence[float] | FloatArray) -> SizeSummary | None:
        array = np.asarray(values, dtype=np.float64)
        if array.size == 0:
            return None
        return cls(float(array.min()), float(np.median(array)), float(array.max()))


@dataclass(frozen=True)
class DatasetStats:
    """Counts and size summaries of one dataset; box sizes are None when there are no boxes."""

    root: Path
    images: int
    defect_free_images: int
    unlabelled_images: int
    boxes: int
    class_names: list[str]
    boxes_per_class: dict[int, int]
    images_per_class: dict[int, int]
    box_width_px: SizeSummary | None
    box_height_px: SizeSummary | None
    box_width_frac: SizeSummary | None
    box_height_frac: SizeSummary | None
    image_sizes_wh: dict[tuple[int, int], int]

    def class_name(self, class_id: int) -> str:
        if 0 <= class_id < len(self.class_names):
            return self.class_names[class_id]
        return f"class {class_id}"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form: classes by name, image sizes as 'WxH'."""
        content = asdict(self)
        content["root"] = str(self.root)
        content["boxes_per_class"] = {
            self.class_name(class_id): count for class_id, count in self.boxes_per_class.items()
        }
        content["images_per_class"] = {
            self.class_name(class_id): count for class_id, count in self.images_per_class.items()
        }
        content["image_sizes_wh"] = {
            f"{width}x{height}": count for (width, height), count in self.image_sizes_wh.items()
        }
        return content


def _read_item(item: DatasetItem) -> tuple[tuple[int, int], ImageLabels | None]:
    resolution_wh = image_size_wh(item.image_path)
    if not item.label_path.is_file():
        return resolution_wh, None
    return resolution_wh, read_yolo_labels(item.label_path, resolution_wh)


def dataset_stats(
    root: Path,
    names: Sequence[str] | None = None,
    workers: int = 8,
    on_progress: Callable[[int, int], None] | None = None,
) -> DatasetStats:
    """Statistics of the dataset ROOT; DatasetError (naming the file) on unreadable input."""
    items = list_items(root)
    sizes: Counter[tuple[int, int]] = Counter()
    boxes_per_class: Counter[int] = Counter()
    images_per_class: Counter[int] = Counter()
    defect_free = unlabelled = 0
    widths_px: list[FloatArray] = []
    heights_px: list[FloatArray] = []
    widths_frac: list[FloatArray] = []
    heights_frac: list[FloatArray] = []
    executor = ThreadPoolExecutor(max_workers=workers)
    try:
        results = executor.map(_read_item, items)
        for done, (resolution_wh, labels) in enumerate(results, start=1):
            sizes[resolution_wh] += 1
            if labels is None:
                unlabelled += 1
            elif len(labels) == 0:
                defect_free += 1
            else:
                boxes_per_class.update(labels.class_id.tolist())
                images_per_class.update(set(labels.class_id.tolist()))
                box_wh = labels.xyxy_px[:, 2:] - labels.xyxy_px[:, :2]
                widths_px.append(box_wh[:, 0])
                heights_px.append(box_wh[:, 1])
                widths_frac.append(box_wh[:, 0] / resolution_wh[0])
                heights_frac.append(box_wh[:, 1] / resolution_wh[1])
            if on_progress is not None:
                on_progress(done, len(items))
    finally:  # on Ctrl-C, drop the queued work instead of finishing it
        executor.shutdown(wait=True, cancel_futures=True)

    def summary(parts: list[FloatArray]) -> SizeSummary | None:
        return SizeSummary.of(np.concatenate(parts) if parts else np.zeros(0))

    return DatasetStats(
        root=root,
        images=len(items),
        defect_free_images=defect_free,
        unlabelled_images=unlabelled,
        boxes=sum(boxes_per_class.values()),
        class_names=list(names) if names is not None else [],
        boxes_per_class=dict(sorted(boxes_per_class.items())),
        images_per_class=dict(sorted(images_per_class.items())),
        box_width_px=summary(widths_px),
        box_height_px=summary(heights_px),
        box_width_frac=summary(widths_frac),
        box_height_frac=summary(heights_frac),
        image_sizes_wh=dict(sizes.most_common()),
    )
