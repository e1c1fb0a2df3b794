"""What every importer shares: checks of the folders, box clipping, and writing the YOLO dataset."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from loomsight.datasets.labels import ImageLabels, write_yolo_labels
from loomsight.datasets.layout import (
    IMAGE_SUFFIXES,
    clear_output_dir,
    images_dir,
    label_path_for,
    read_image,
    write_data_yaml,
)
from loomsight.errors import DatasetError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ImportItem:
    """One image to import: its source file, its path below OUT/images/, and its labels."""

    source_path: Path
    relative_path: Path
    labels: ImageLabels


@dataclass(frozen=True)
class ImportSummary:
    """What an import wrote. `dropped_boxes`: boxes left out (zero area, or below a minimum)."""

    out_dir: Path
    images: int
    defect_free_images: int
    boxes: int
    dropped_boxes: int
    class_names: tuple[str, ...]


def require_dir(path: Path, what: str) -> None:
    """DatasetError naming `path` unless it is a folder; `what` says what it should hold."""
    if not path.is_dir():
        found = "a file" if path.exists() else "nothing"
        raise DatasetError(f"{path}: expected a folder of {what}, found {found}")


def image_files(folder: Path) -> list[Path]:
    """The image files directly inside `folder`, sorted."""
    return sorted(
        path
        for path in folder.iterdir()
        if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES
    )


def check_declared_size(image_path: Path, declared_wh: tuple[int, int], declared_in: Path) -> None:
    """Check that the image is readable and has the size its annotation file declares."""
    image = read_image(image_path)
    actual_wh = (int(image.shape[1]), int(image.shape[0]))
    if actual_wh != declared_wh:
        raise DatasetError(
            f"{declared_in}: declares {image_path.name} as {declared_wh[0]}x{declared_wh[1]} px, "
            f"but {image_path} is {actual_wh[0]}x{actual_wh[1]} px"
        )


def clip_and_drop_empty(labels: ImageLabels) -> tuple[ImageLabels, int]:
    """Boxes clipped to the image, without those that have no area left; and how many went."""
    clipped = labels.clipped()
    xyxy = clipped.xyxy_px
    keep = (xyxy[:, 2] > xyxy[:, 0]) & (xyxy[:, 3] > xyxy[:, 1])
    return clipped.select(keep), int((~keep).sum())


def write_dataset(
    out: Path,
    items: Sequence[ImportItem],
    class_names: Sequence[str],
    *,
    overwrite: bool,
    dropped_boxes: int,
) -> ImportSummary:
    """Copy the images, write their label files and data.yaml; `overwrite` replaces old ones."""
    if len(set(class_names)) != len(class_names):
        raise DatasetError(f"class names must be unique, got {list(class_names)}")
    written: dict[Path, Path] = {}
    for item in items:
        if item.relative_path.suffix.lower() not in IMAGE_SUFFIXES:
            raise DatasetError(
                f"{item.source_path}: expected an image suffix in {', '.join(IMAGE_SUFFIXES)}"
            )
        stem = item.relative_path.with_suffix("")
        if stem in written:
            raise DatasetError(
                f"{item.source_path} and {written[stem]} would share the label file {stem}.txt"
            )
        written[stem] = item.source_path
        if len(item.labels) and int(item.labels.class_id.max()) >= len(class_names):
            raise DatasetError(
                f"{item.source_path}: class id beyond the {len(class_names)} class names"
            )
    clear_output_dir(out)
    for item in items:
        target = images_dir(out) / item.relative_path
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(item.source_path, target)
            write_yolo_labels(label_path_for(out, target), item.labels)
        except OSError as error:
            raise DatasetError(f"{target}: cannot write ({error})") from None
    write_data_yaml(out, class_names)
    summary = ImportSummary(
        out_dir=out,
        images=len(items),
        defect_free_images=sum(1 for item in items if len(item.labels) == 0),
        boxes=sum(len(item.labels) for item in items),
        dropped_boxes=dropped_boxes,
        class_names=tuple(class_names),
    )
    logger.debug("wrote %s", summary)
    return summary
