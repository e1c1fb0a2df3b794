"""Read an ultralytics data.yaml: which images (and labels) make up its train, val and test splits.

A split entry is an images folder, a text file listing image paths, or a list of either; paths are
relative to `path:` (or to the yaml's folder). A label file sits where ultralytics looks for it:
the image path with its last `images` folder replaced by `labels` and the suffix by `.txt`.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import yaml

from loomsight.datasets.labels import ImageLabels, read_yolo_labels
from loomsight.datasets.layout import DATA_YAML, IMAGE_SUFFIXES
from loomsight.errors import DatasetError


def read_data_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise DatasetError(f"{path}: data yaml file does not exist")
    try:
        content = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise DatasetError(f"{path}: not valid YAML ({error})") from None
    if not isinstance(content, dict):
        raise DatasetError(f"{path}: expected a mapping with path, train, val and names")
    return content


def read_class_names(root: Path) -> list[str]:
    """Class names from ROOT/data.yaml (`names` as a list or an {id: name} mapping)."""
    if not (root / DATA_YAML).is_file():
        raise DatasetError(f"{root}: expected {DATA_YAML} with the class names, found none")
    return class_names_of(root / DATA_YAML)


def class_names_of(path: Path) -> list[str]:
    """Class names from the data yaml file PATH (`names` as a list or an {id: name} mapping)."""
    names = read_data_yaml(path).get("names")
    if isinstance(names, list) and all(isinstance(name, str) for name in names):
        return list(names)
    if isinstance(names, dict):
        try:
            by_id = {int(key): str(value) for key, value in names.items()}
        except (TypeError, ValueError):
            by_id = {}
        if by_id and sorted(by_id) == list(range(len(by_id))):
            return [by_id[index] for index in range(len(by_id))]
    raise DatasetError(
        f"{path}: expected 'names' as a list of strings or a mapping 0..N-1 -> name, got {names!r}"
    )


def dataset_root(path: Path, content: dict[str, Any]) -> Path:
    declared = content.get("path")
    if not declared:
        return path.parent
    root = Path(declared)
    return root if root.is_absolute() else path.parent / root


def split_images(path: Path, split: str) -> list[Path]:
    """The image files of SPLIT (train, val or test) of the data.yaml at PATH, sorted."""
    content = read_data_yaml(path)
    entries = content.get(split)
    if not entries:
        raise DatasetError(f"{path}: no '{split}' split (expected {split}: FOLDER or LIST.txt)")
    root = dataset_root(path, content)
    images: list[Path] = []
    for entry in entries if isinstance(entries, list) else [entries]:
        target = Path(entry) if Path(entry).is_absolute() else root / entry
        if target.is_dir():
            images.extend(p for p in target.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        elif target.is_file():
            for line in target.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    listed = Path(line.strip())
                    images.append(listed if listed.is_absolute() else root / listed)
        else:
            raise DatasetError(f"{path}: {split} points to {target}, which does not exist")
    return sorted(images)


def label_path(image_path: Path) -> Path:
    """Where ultralytics finds the label file of an image."""
    parts = list(image_path.parts)
    for index in range(len(parts) - 2, -1, -1):
        if parts[index] == "images":
            parts[index] = "labels"
            break
    return Path(*parts).with_suffix(".txt")


def split_labels(image_path: Path, resolution_wh: tuple[int, int]) -> ImageLabels:
    """The labels of an image of a split: its label file's boxes, none where it has no file."""
    label_file = label_path(image_path)
    if not label_file.is_file():
        return ImageLabels.empty(resolution_wh)
    return read_yolo_labels(label_file, resolution_wh)


def fingerprint(images: list[Path]) -> str:
    """sha256 over the images' bytes and their label files: the same data gives the same print."""
    digest = hashlib.sha256()
    for image in sorted(images):
        digest.update(image.name.encode())
        digest.update(hashlib.sha256(image.read_bytes()).digest())
        label = label_path(image)
        digest.update(label.read_bytes() if label.is_file() else b"<no label>")
    return digest.hexdigest()
