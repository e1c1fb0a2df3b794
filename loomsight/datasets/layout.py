"""The on-disk YOLO dataset layout that every dataset command reads and writes.

```
ROOT/data.yaml            path, names (and train/val/test when split)
ROOT/images/**/NAME.jpg   any image suffix in IMAGE_SUFFIXES, in sub-folders or not
ROOT/labels/**/NAME.txt   same relative path, `.txt`; an empty file means a defect-free image
```
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import yaml

from loomsight.errors import DatasetError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
DATA_YAML = "data.yaml"


@dataclass(frozen=True)
class DatasetItem:
    """One image of a dataset and where its label file is (or would be)."""

    image_path: Path
    label_path: Path


def images_dir(root: Path) -> Path:
    return root / "images"


def labels_dir(root: Path) -> Path:
    return root / "labels"


def label_path_for(root: Path, image_path: Path) -> Path:
    relative = image_path.relative_to(images_dir(root))
    return labels_dir(root) / relative.with_suffix(".txt")


def list_items(root: Path) -> list[DatasetItem]:
    """Every image below ROOT/images, sorted, with its label path; a clear error if none."""
    if not root.is_dir():
        raise DatasetError(f"{root}: dataset folder does not exist")
    image_root = images_dir(root)
    if not image_root.is_dir():
        raise DatasetError(f"{root}: expected an images/ folder inside the dataset, found none")
    items = [
        DatasetItem(path, label_path_for(root, path))
        for path in sorted(image_root.rglob("*"))
        if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES
    ]
    return items


def read_image(path: Path) -> npt.NDArray[np.uint8]:
    """An image as a BGR (or grayscale) array; DatasetError naming the file if unreadable."""
    data = np.fromfile(str(path), dtype=np.uint8) if path.is_file() else None
    if data is None:
        raise DatasetError(f"{path}: image file does not exist")
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if image is None:
        raise DatasetError(f"{path}: not a readable image (empty or corrupt file)")
    return np.asarray(image, dtype=np.uint8)


def image_size_wh(path: Path) -> tuple[int, int]:
    image = read_image(path)
    return int(image.shape[1]), int(image.shape[0])


def write_image(path: Path, image: npt.NDArray[np.uint8], jpeg_quality: int = 92) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    params = (
        [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality] if path.suffix.lower() in (".jpg", ".jpeg") else []
    )
    ok, encoded = cv2.imencode(path.suffix, image, params)
    if not ok:
        raise DatasetError(f"{path}: OpenCV could not encode the image as {path.suffix}")
    encoded.tofile(str(path))


def check_output_dir(out: Path, sources: Sequence[Path], overwrite: bool) -> None:
    """Refuse an output folder that overlaps the source data, or that already holds a dataset
    (images/ or labels/ not empty, or a data.yaml) unless `overwrite`. Changes nothing on disk."""
    out_resolved = out.resolve()
    for source in sources:
        source_resolved = source.resolve()
        overlaps = out_resolved == source_resolved or out_resolved in source_resolved.parents
        if source.is_dir():
            overlaps = overlaps or source_resolved in out_resolved.parents
        if overlaps:
            raise DatasetError(
                f"{out}: output folder overlaps the source data {source}; "
                "choose an output folder apart from it"
            )
    if out.exists() and not out.is_dir():
        raise DatasetError(f"{out}: expected an output folder, found a file")
    filled = [
        folder.name + "/"
        for folder in (images_dir(out), labels_dir(out))
        if folder.is_dir() and any(folder.iterdir())
    ] + ([DATA_YAML] if (out / DATA_YAML).is_file() else [])
    if filled and not overwrite:
        raise DatasetError(
            f"{out}: output folder already holds a dataset ({', '.join(filled)}); "
            "use --overwrite to replace it"
        )


def clear_output_dir(out: Path) -> None:
    """Remove the images/ and labels/ of an earlier run in OUT (nothing else), and create OUT."""
    for folder in (images_dir(out), labels_dir(out)):
        shutil.rmtree(folder, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)


def write_data_yaml(root: Path, names: Sequence[str], extra: dict[str, Any] | None = None) -> Path:
    """Write ROOT/data.yaml for ultralytics: `path`, `names`, and `train`/`val` when not given."""
    content: dict[str, Any] = {"path": str(root.resolve()), "train": "images", "val": "images"}
    content.update(extra or {})
    content["names"] = dict(enumerate(names))
    path = root / DATA_YAML
    root.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(content, sort_keys=False), encoding="utf-8")
    return path
