"""COCO instances JSON (`bbox` as x, y, width, height in pixels) to the YOLO layout.

Category ids may be any integers: they map to YOLO class ids 0..N-1 in ascending id order, and
their names go into data.yaml. Crowd boxes (`iscrowd: 1`) are kept as ordinary boxes. Every image
listed in `images` is imported, those without annotations as defect-free (an empty label file).
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path, PurePosixPath

import numpy as np
from pydantic import BaseModel, ConfigDict, PositiveInt, ValidationError

from loomsight.datasets.importers.common import (
    ImportItem,
    ImportSummary,
    check_declared_size,
    clip_and_drop_empty,
    require_dir,
    write_dataset,
)
from loomsight.datasets.labels import ImageLabels
from loomsight.datasets.layout import check_output_dir
from loomsight.errors import DatasetError

logger = logging.getLogger(__name__)


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class CocoImage(_Model):
    id: int
    file_name: str
    width: PositiveInt
    height: PositiveInt


class CocoAnnotation(_Model):
    image_id: int
    category_id: int
    bbox: tuple[float, float, float, float]
    id: int | None = None
    iscrowd: int = 0


class CocoCategory(_Model):
    id: int
    name: str


class CocoFile(_Model):
    """The parts of a COCO instances file that box import needs."""

    images: list[CocoImage]
    annotations: list[CocoAnnotation]
    categories: list[CocoCategory]


def read_coco(path: Path) -> CocoFile:
    """The validated content of a COCO instances file; DatasetError naming the file if malformed."""
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DatasetError(f"{path}: COCO annotation file does not exist") from None
    except (OSError, UnicodeDecodeError) as error:
        raise DatasetError(f"{path}: cannot read COCO annotation file ({error})") from None
    except json.JSONDecodeError as error:
        raise DatasetError(f"{path}: not valid JSON ({error})") from None
    try:
        return CocoFile.model_validate(content)
    except ValidationError as error:
        raise DatasetError(f"{path}: not a COCO instances file: {_describe(error)}") from None


def import_coco(
    annotations_path: Path, images_root: Path, out: Path, *, overwrite: bool = False
) -> ImportSummary:
    """Import a COCO instances file whose `file_name`s are relative to `images_root` into OUT."""
    require_dir(images_root, "images")
    check_output_dir(out, [annotations_path, images_root], overwrite)
    coco = read_coco(annotations_path)
    categories = sorted(coco.categories, key=lambda category: category.id)
    class_ids = {category.id: index for index, category in enumerate(categories)}
    if len(class_ids) != len(categories):
        raise DatasetError(f"{annotations_path}: category ids must be unique")
    images = {image.id: image for image in coco.images}
    if len(images) != len(coco.images):
        raise DatasetError(f"{annotations_path}: image ids must be unique")
    if not images:
        raise DatasetError(f"{annotations_path}: expected at least one entry in 'images', got none")

    boxes: dict[int, list[tuple[list[float], int]]] = {image_id: [] for image_id in images}
    for index, annotation in enumerate(coco.annotations):
        where = f"{annotations_path}: annotations[{index}]"
        if annotation.image_id not in images:
            raise DatasetError(
                f"{where} refers to image_id {annotation.image_id}, which is not in 'images'"
            )
        if annotation.category_id not in class_ids:
            raise DatasetError(
                f"{where} refers to category_id {annotation.category_id}, "
                "which is not in 'categories'"
            )
        x, y, width, height = annotation.bbox
        if not all(map(math.isfinite, annotation.bbox)) or width < 0 or height < 0:
            raise DatasetError(
                f"{where}: expected bbox [x, y, width, height] with width, height >= 0, "
                f"got {list(annotation.bbox)}"
            )
        boxes[annotation.image_id].append(
            ([x, y, x + width, y + height], class_ids[annotation.category_id])
        )

    items: list[ImportItem] = []
    dropped = 0
    for image in sorted(images.values(), key=lambda image: image.file_name):
        relative = _relative_image_path(image.file_name, annotations_path)
        source = images_root / relative
        check_declared_size(source, (image.width, image.height), annotations_path)
        image_boxes = boxes[image.id]
        labels = ImageLabels(
            np.array([box for box, _ in image_boxes], dtype=np.float64).reshape(-1, 4),
            np.array([class_id for _, class_id in image_boxes], dtype=np.int64),
            (image.width, image.height),
        )
        labels, dropped_here = clip_and_drop_empty(labels)
        dropped += dropped_here
        items.append(ImportItem(source, relative, labels))
    if dropped:
        logger.warning("%s: dropped %d boxes with no area in the image", annotations_path, dropped)
    return write_dataset(
        out,
        items,
        [category.name for category in categories],
        overwrite=overwrite,
        dropped_boxes=dropped,
    )


def _relative_image_path(file_name: str, annotations_path: Path) -> Path:
    relative = PurePosixPath(file_name.replace("\\", "/"))
    if not file_name or relative.is_absolute() or ".." in relative.parts:
        raise DatasetError(
            f"{annotations_path}: expected file_name relative to the images folder, "
            f"got {file_name!r}"
        )
    return Path(*relative.parts)


def _describe(error: ValidationError, limit: int = 3) -> str:
    problems = []
    for detail in error.errors()[:limit]:
        location = "".join(
            f"[{part}]" if isinstance(part, int) else f".{part}" for part in detail["loc"]
        ).lstrip(".")
        problems.append(f"{location or 'top level'}: {detail['msg']}")
    more = error.error_count() - limit
    return "; ".join(problems) + (f" (and {more} more)" if more > 0 else "")
