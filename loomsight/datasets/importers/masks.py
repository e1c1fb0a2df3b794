"""Defect masks (one mask image per image, same stem) to boxes in the YOLO layout.

Boxes come from connected components (8-connected) of each class's pixels. Components smaller
than `min_area_px` are dropped first (annotation specks); then boxes of one class whose gap is at
most `merge_distance_px` merge into one, repeated until stable (fragments of one scratch become one
box). An image without a mask file, or with an all-zero mask, is a defect-free image: it gets an
empty label file, and the number of images without a mask file is logged as a warning.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from enum import StrEnum
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from loomsight.datasets.importers.common import (
    ImportItem,
    ImportSummary,
    image_files,
    require_dir,
    write_dataset,
)
from loomsight.datasets.labels import FloatArray, ImageLabels
from loomsight.datasets.layout import check_output_dir, read_image
from loomsight.errors import DatasetError

logger = logging.getLogger(__name__)


class MaskValues(StrEnum):
    """What a mask pixel means: `binary`, nonzero is a defect; `classes`, value k is class k - 1."""

    BINARY = "binary"
    CLASSES = "classes"


def import_masks(
    images_root: Path,
    masks_root: Path,
    out: Path,
    *,
    class_names: Sequence[str] = ("defect",),
    mask_values: MaskValues = MaskValues.BINARY,
    merge_distance_px: float = 5.0,
    min_area_px: int = 4,
    overwrite: bool = False,
) -> ImportSummary:
    """Import the images of `images_root` with boxes from the same-stem masks in `masks_root`."""
    if merge_distance_px < 0 or min_area_px < 0:
        raise ValueError("merge_distance_px and min_area_px must be >= 0")
    if mask_values is MaskValues.BINARY and len(class_names) != 1:
        raise DatasetError(f"binary masks have one class, got class names {list(class_names)}")
    require_dir(images_root, "images")
    require_dir(masks_root, "masks")
    if images_root.resolve() == masks_root.resolve():
        raise DatasetError(f"{masks_root}: expected a masks folder apart from the images folder")
    check_output_dir(out, [images_root, masks_root], overwrite)
    masks: dict[str, Path] = {}
    for path in image_files(masks_root):
        if path.stem in masks:
            raise DatasetError(f"{path} and {masks[path.stem]}: two masks for one image")
        masks[path.stem] = path
    images = image_files(images_root)
    if not images:
        raise DatasetError(f"{images_root}: expected image files, found none")

    items: list[ImportItem] = []
    dropped = without_mask = 0
    for image_path in images:
        image = read_image(image_path)
        resolution_wh = (int(image.shape[1]), int(image.shape[0]))
        mask_path = masks.pop(image_path.stem, None)
        if mask_path is None:
            without_mask += 1
            labels = ImageLabels.empty(resolution_wh)
        else:
            values = _class_values(read_image(mask_path), mask_values, len(class_names), mask_path)
            if values.shape != image.shape[:2]:
                raise DatasetError(
                    f"{mask_path}: mask is {values.shape[1]}x{values.shape[0]} px but its image "
                    f"{image_path} is {resolution_wh[0]}x{resolution_wh[1]} px"
                )
            labels, dropped_here = labels_from_mask(
                values, len(class_names), merge_distance_px, min_area_px
            )
            dropped += dropped_here
        items.append(ImportItem(image_path, Path(image_path.name), labels))
    _log_counts(images_root, masks_root, len(items), without_mask, masks, dropped, min_area_px)
    return write_dataset(out, items, class_names, overwrite=overwrite, dropped_boxes=dropped)


def labels_from_mask(
    values: npt.NDArray[np.integer], num_classes: int, merge_distance_px: float, min_area_px: int
) -> tuple[ImageLabels, int]:
    """Boxes of a class-value mask (0 background, k is class k - 1), and how many specks went."""
    boxes: list[FloatArray] = []
    class_ids: list[int] = []
    dropped = 0
    for value in range(1, num_classes + 1):
        pixels = (values == value).astype(np.uint8)
        if not pixels.any():
            continue
        _, _, stats, _ = cv2.connectedComponentsWithStats(pixels, connectivity=8)
        stats = np.asarray(stats[1:], dtype=np.int64)  # row 0 is the background
        keep = stats[:, cv2.CC_STAT_AREA] >= min_area_px
        dropped += int((~keep).sum())
        x, y, w, h = (stats[keep, column] for column in range(4))
        merged = merge_close_boxes(np.column_stack([x, y, x + w, y + h]), merge_distance_px)
        boxes.append(merged)
        class_ids.extend([value - 1] * len(merged))
    resolution_wh = (int(values.shape[1]), int(values.shape[0]))
    xyxy = np.concatenate(boxes) if boxes else np.zeros((0, 4))
    return ImageLabels(xyxy, np.array(class_ids, dtype=np.int64), resolution_wh), dropped


def merge_close_boxes(xyxy_px: npt.ArrayLike, max_gap_px: float) -> FloatArray:
    """Merge boxes whose gap (Euclidean, 0 if they overlap) is <= `max_gap_px`, until stable."""
    boxes = np.asarray(xyxy_px, dtype=np.float64).reshape(-1, 4)
    while len(boxes) > 1:
        low = np.maximum(boxes[:, None, :2], boxes[None, :, :2])
        high = np.minimum(boxes[:, None, 2:], boxes[None, :, 2:])
        gap_xy = np.clip(low - high, 0, None)
        near = np.hypot(gap_xy[..., 0], gap_xy[..., 1]) <= max_gap_px
        groups = _connected_groups(near)
        if len(groups) == len(boxes):
            break
        boxes = np.array(
            [[*boxes[group, :2].min(axis=0), *boxes[group, 2:].max(axis=0)] for group in groups]
        )
    return boxes


def _connected_groups(adjacent: npt.NDArray[np.bool_]) -> list[npt.NDArray[np.int64]]:
    group_of = np.full(len(adjacent), -1)
    groups: list[npt.NDArray[np.int64]] = []
    for start in range(len(adjacent)):
        if group_of[start] >= 0:
            continue
        group_of[start] = len(groups)
        frontier = np.array([start])
        while frontier.size:
            frontier = np.flatnonzero(adjacent[frontier].any(axis=0) & (group_of < 0))
            group_of[frontier] = len(groups)
        groups.append(np.flatnonzero(group_of == len(groups)))
    return groups


def _class_values(
    mask: npt.NDArray[np.uint8], mask_values: MaskValues, num_classes: int, mask_path: Path
) -> npt.NDArray[np.int64]:
    channels = mask[..., :3] if mask.ndim == 3 else mask[..., None]  # an alpha channel is ignored
    if mask_values is MaskValues.BINARY:
        return np.asarray(channels.any(axis=-1), dtype=np.int64)
    if bool(np.any(channels != channels[..., :1])):
        raise DatasetError(f"{mask_path}: expected a grey class-id mask, got differing colours")
    values = np.asarray(channels[..., 0], dtype=np.int64)
    if int(values.max()) > num_classes:
        raise DatasetError(
            f"{mask_path}: mask value {int(values.max())} but only {num_classes} class names "
            "(values 1..N are the classes)"
        )
    return values


def _log_counts(
    images_root: Path,
    masks_root: Path,
    images: int,
    without_mask: int,
    orphan_masks: dict[str, Path],  # masks no image claimed
    dropped: int,
    min_area_px: int,
) -> None:
    if without_mask:
        logger.warning(
            "%d of %d images in %s have no mask in %s: imported as defect-free",
            without_mask,
            images,
            images_root,
            masks_root,
        )
    if orphan_masks:
        logger.warning("%d masks in %s have no image: ignored", len(orphan_masks), masks_root)
    if dropped:
        logger.warning("dropped %d mask components under %d px", dropped, min_area_px)
