from __future__ import annotations

from pathlib import Path

import pytest

from loomsight.datasets.data_yaml import class_names_of, split_images
from loomsight.errors import DatasetError


def _dataset(root: Path, yaml_text: str) -> Path:
    for split in ("train", "val"):
        (root / "images" / split).mkdir(parents=True)
        (root / "images" / split / f"{split}.jpg").write_bytes(b"")
    (root / "data.yaml").write_text(yaml_text, encoding="utf-8")
    return root / "data.yaml"


def test_split_without_path_key_is_relative_to_the_yaml_even_from_a_relative_yaml_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _dataset(tmp_path / "set", "train: images/train\nval: images/val\nnames: [defect]\n")
    monkeypatch.chdir(tmp_path)
    images = split_images(Path("set/data.yaml"), "train")
    assert [image.resolve() for image in images] == [tmp_path / "set/images/train/train.jpg"]


def test_relative_path_key_is_relative_to_the_yaml(tmp_path: Path) -> None:
    (tmp_path / "set").mkdir()
    _dataset(tmp_path / "set" / "inner", "names: [defect]\n")
    yaml_path = tmp_path / "set" / "data.yaml"
    yaml_path.write_text("path: inner\ntrain: images/train\nval: images/val\nnames: [a, b]\n")
    assert [p.name for p in split_images(yaml_path, "val")] == ["val.jpg"]
    assert class_names_of(yaml_path) == ["a", "b"]


def test_missing_split_folder_is_a_dataset_error(tmp_path: Path) -> None:
    yaml_path = _dataset(tmp_path, "train: images/train\nval: images/nowhere\nnames: [d]\n")
    with pytest.raises(DatasetError, match="does not exist"):
        split_images(yaml_path, "val")
