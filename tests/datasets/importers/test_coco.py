"""COCO instances JSON -> YOLO, on small real JPEG/PNG files and a real COCO JSON file."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import yaml

from loomsight.datasets.importers import import_coco
from loomsight.errors import DatasetError
from tests.conftest import RunCli

Coco = dict[str, Any]

# Category ids 7, 1, 3 (unsorted, non-contiguous) -> classes hole=0, stain=1, slub=2.
# Expected YOLO rows `class cx cy w h`, worked out by hand from the COCO boxes below.
EXPECTED_ROWS = {
    "a.txt": [
        [1, 0.25, 0.5, 0.3, 0.5],  # [10, 20, 30, 40] in 100x80
        [2, 0.95, 0.9375, 0.1, 0.125],  # [90, 70, 20, 20] clipped to [90, 70, 10, 10]
    ],
    "sub/b.txt": [[0, 0.125, 0.125, 0.25, 0.25]],  # crowd box [0, 0, 16, 12] in 64x48, kept
    "c.txt": [],  # no annotations: a defect-free image
}


def _coco() -> Coco:
    return {
        "info": {"description": "test"},
        "images": [
            {"id": 1, "file_name": "a.jpg", "width": 100, "height": 80},
            {"id": 2, "file_name": "sub/b.png", "width": 64, "height": 48},
            {"id": 5, "file_name": "c.jpg", "width": 50, "height": 50},
        ],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 3, "bbox": [10, 20, 30, 40], "iscrowd": 0},
            {"id": 2, "image_id": 1, "category_id": 7, "bbox": [90, 70, 20, 20], "iscrowd": 0},
            {"id": 3, "image_id": 1, "category_id": 1, "bbox": [120, 10, 5, 5], "iscrowd": 0},
            {"id": 4, "image_id": 2, "category_id": 1, "bbox": [0, 0, 16, 12], "iscrowd": 1},
        ],
        "categories": [
            {"id": 7, "name": "slub", "supercategory": "defect"},
            {"id": 1, "name": "hole", "supercategory": "defect"},
            {"id": 3, "name": "stain", "supercategory": "defect"},
        ],
    }


@pytest.fixture
def source(tmp_path: Path) -> tuple[Path, Path]:
    """(annotations.json, images folder) in tmp_path/src."""
    images = tmp_path / "src" / "images"
    (images / "sub").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name, (width, height) in {
        "a.jpg": (100, 80),
        "sub/b.png": (64, 48),
        "c.jpg": (50, 50),
    }.items():
        assert cv2.imwrite(str(images / name), rng.integers(0, 255, (height, width, 3), np.uint8))
    annotations = tmp_path / "src" / "annotations.json"
    annotations.write_text(json.dumps(_coco()), encoding="utf-8")
    return annotations, images


def _rows(path: Path) -> np.ndarray:
    text = path.read_text(encoding="utf-8")
    return np.array([line.split() for line in text.splitlines()], dtype=float).reshape(-1, 5)


def test_import_coco_writes_yolo_labels_images_and_names(
    source: tuple[Path, Path], tmp_path: Path
) -> None:
    annotations, images = source
    out = tmp_path / "out"

    summary = import_coco(annotations, images, out)

    assert (summary.images, summary.defect_free_images, summary.boxes) == (3, 1, 3)
    assert summary.dropped_boxes == 1  # the box wholly outside a.jpg
    assert summary.class_names == ("hole", "stain", "slub")
    for label_name, expected in EXPECTED_ROWS.items():
        rows = _rows(out / "labels" / label_name)
        np.testing.assert_allclose(rows, np.array(expected, float).reshape(-1, 5), atol=1e-4)
    assert (out / "labels" / "c.txt").read_text(encoding="utf-8") == ""
    for name in ("a.jpg", "sub/b.png", "c.jpg"):
        assert (out / "images" / name).read_bytes() == (images / name).read_bytes()
    data = yaml.safe_load((out / "data.yaml").read_text(encoding="utf-8"))
    assert data["names"] == {0: "hole", 1: "stain", 2: "slub"}


def _text(change: Callable[[Coco], object]) -> Callable[[], str]:
    def make() -> str:
        coco = _coco()
        change(coco)
        return json.dumps(coco)

    return make


def _set(path: str, value: object) -> Callable[[Coco], None]:
    def change(coco: Coco) -> None:
        *parents, last = path.split(".")
        target: Any = coco
        for key in parents:
            target = target[int(key)] if key.isdigit() else target[key]
        target[last] = value

    return change


@pytest.mark.parametrize(
    ("make_text", "named_file", "fragment"),
    [
        pytest.param(lambda: '{"images": [', "json", "not valid JSON", id="malformed-json"),
        pytest.param(lambda: "[]", "json", "top level", id="not-an-object"),
        pytest.param(
            _text(lambda c: c.pop("categories")), "json", "categories", id="no-categories"
        ),
        pytest.param(
            _text(lambda c: c["annotations"][0].pop("bbox")),
            "json",
            "annotations[0].bbox",
            id="annotation-without-bbox",
        ),
        pytest.param(
            _text(_set("annotations.1.image_id", 99)), "json", "image_id 99", id="unknown-image-id"
        ),
        pytest.param(
            _text(_set("annotations.0.category_id", 5)), "json", "category_id 5", id="unknown-cat"
        ),
        pytest.param(
            _text(_set("annotations.0.bbox", [1, 1, -3, 4])), "json", ">= 0", id="negative-width"
        ),
        pytest.param(
            _text(_set("images.1.id", 1)), "json", "image ids must be unique", id="dup-id"
        ),
        pytest.param(
            _text(_set("images.0.file_name", "../a.jpg")), "json", "relative", id="escaping-path"
        ),
        pytest.param(
            _text(_set("images.0.width", 101)), "json", "as 101x80 px", id="size-mismatch"
        ),
        pytest.param(
            _text(_set("images.2.file_name", "gone.jpg")), "gone.jpg", "does not exist", id="gone"
        ),
        pytest.param(
            _text(_set("images.2.file_name", "broken.jpg")),
            "broken.jpg",
            "not a readable image",
            id="unreadable-image",
        ),
    ],
)
def test_import_coco_errors_name_the_file(
    source: tuple[Path, Path],
    tmp_path: Path,
    make_text: Callable[[], str],
    named_file: str,
    fragment: str,
) -> None:
    annotations, images = source
    annotations.write_text(make_text(), encoding="utf-8")
    (images / "broken.jpg").write_bytes(b"not a jpeg at all")

    with pytest.raises(DatasetError) as raised:
        import_coco(annotations, images, tmp_path / "out")

    named = annotations if named_file == "json" else images / named_file
    assert str(named) in str(raised.value)
    assert fragment in str(raised.value)
    assert not (tmp_path / "out" / "images").exists()  # nothing written before validation


@pytest.mark.parametrize(
    ("out_below_src", "fragment"),
    [
        pytest.param("images/yolo", "overlaps the source data", id="inside-images"),
        pytest.param(".", "overlaps the source data", id="beside-annotations"),
        pytest.param("..", "overlaps the source data", id="above-sources"),
    ],
)
def test_import_coco_refuses_to_write_into_the_source_data(
    source: tuple[Path, Path], out_below_src: str, fragment: str
) -> None:
    annotations, images = source
    with pytest.raises(DatasetError, match=fragment):
        import_coco(annotations, images, annotations.parent / out_below_src)


def test_import_coco_refuses_a_filled_out_folder_unless_overwrite(
    source: tuple[Path, Path], tmp_path: Path
) -> None:
    annotations, images = source
    out = tmp_path / "out"
    (out / "labels").mkdir(parents=True)
    (out / "labels" / "stale.txt").write_text("0 0.5 0.5 0.1 0.1\n", encoding="utf-8")

    with pytest.raises(DatasetError, match="--overwrite"):
        import_coco(annotations, images, out)
    import_coco(annotations, images, out, overwrite=True)

    assert not (out / "labels" / "stale.txt").exists()
    assert sorted(p.name for p in (out / "labels").rglob("*.txt")) == ["a.txt", "b.txt", "c.txt"]


def test_cli_import_coco_prints_a_summary(
    source: tuple[Path, Path], tmp_path: Path, run_cli: RunCli
) -> None:
    annotations, images = source
    out = tmp_path / "out"

    result = run_cli(
        *("dataset", "import", "coco", str(annotations)),
        *("--images", str(images), "--out", str(out)),
        check=True,
    )

    summary = "imported 3 images (1 defect-free), 3 boxes, 3 classes (hole, stain, slub)"
    assert summary in result.stdout
    assert (out / "labels" / "a.txt").is_file()


@pytest.mark.parametrize(
    ("images_arg", "json_text", "named"),
    [
        pytest.param("src/missing", None, "src/missing", id="missing-images-folder"),
        pytest.param("src/images", "{oops", "annotations.json", id="malformed-json"),
        pytest.param("src/images", '{"images": []}', "annotations.json", id="missing-keys"),
    ],
)
def test_cli_import_coco_errors_are_one_line(
    source: tuple[Path, Path], run_cli: RunCli, images_arg: str, json_text: str | None, named: str
) -> None:
    annotations, _ = source
    if json_text is not None:
        annotations.write_text(json_text, encoding="utf-8")

    result = run_cli(
        "dataset", "import", "coco", "src/annotations.json", "--images", images_arg, "--out", "out"
    )

    assert result.returncode == 2
    assert result.stderr.startswith("error: ")
    assert named in result.stderr
    assert "Traceback" not in result.stderr
