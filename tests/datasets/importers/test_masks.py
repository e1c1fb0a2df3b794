"""Defect masks -> YOLO boxes, on small real JPEG/PNG/BMP images and masks."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from loomsight.datasets.importers import MaskValues, import_masks, merge_close_boxes
from loomsight.errors import DatasetError
from tests.conftest import RunCli

Rect = tuple[int, int, int, int]  # pixel-edge xyxy: (10, 10, 14, 14) fills columns and rows 10..13
WIDTH, HEIGHT = 64, 48


def _write_image(path: Path, width: int = WIDTH, height: int = HEIGHT) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    assert cv2.imwrite(str(path), rng.integers(0, 255, (height, width, 3), np.uint8))


def _write_mask(path: Path, rects: list[Rect], values: list[int] | None = None) -> None:
    mask = np.zeros((HEIGHT, WIDTH), np.uint8)
    for (x1, y1, x2, y2), value in zip(rects, values or [255] * len(rects), strict=True):
        mask[y1:y2, x1:x2] = value
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), mask)


def _rows(path: Path) -> np.ndarray:
    text = path.read_text(encoding="utf-8")
    return np.array([line.split() for line in text.splitlines()], dtype=float).reshape(-1, 5)


def _yolo(class_id: int, box: Rect) -> list[float]:
    x1, y1, x2, y2 = box
    center_xy = ((x1 + x2) / 2 / WIDTH, (y1 + y2) / 2 / HEIGHT)
    return [class_id, *center_xy, (x2 - x1) / WIDTH, (y2 - y1) / HEIGHT]


@pytest.mark.parametrize(
    ("rects", "merge_distance_px", "min_area_px", "expected_boxes", "expected_dropped"),
    [
        pytest.param([(10, 10, 14, 14), (16, 10, 20, 14)], 5, 4, [(10, 10, 20, 14)], 0,
                     id="gap-2-closer-than-5-merges"),
        pytest.param([(10, 10, 14, 14), (22, 10, 26, 14)], 5, 4,
                     [(10, 10, 14, 14), (22, 10, 26, 14)], 0, id="gap-8-farther-stays-two"),
        pytest.param([(10, 10, 14, 14), (19, 10, 23, 14)], 5, 4, [(10, 10, 23, 14)], 0,
                     id="gap-equal-to-distance-merges"),
        pytest.param([(0, 0, 4, 4), (7, 8, 11, 12)], 5, 4, [(0, 0, 11, 12)], 0,
                     id="diagonal-gap-3-4-is-5"),
        pytest.param([(0, 0, 4, 4), (7, 8, 11, 12)], 4.9, 4, [(0, 0, 4, 4), (7, 8, 11, 12)], 0,
                     id="diagonal-gap-5-over-4.9"),
        # A-B merge; C is near only to the merged box, so a second pass takes it in.
        pytest.param([(0, 0, 4, 4), (5, 5, 9, 9), (10, 0, 13, 3)], 2, 4, [(0, 0, 13, 9)], 0,
                     id="repeats-until-stable"),
        pytest.param([(30, 30, 40, 40), (60, 2, 61, 3)], 5, 4, [(30, 30, 40, 40)], 1,
                     id="tiny-component-dropped"),
        pytest.param([(30, 30, 40, 40), (60, 2, 61, 3)], 5, 1,
                     [(30, 30, 40, 40), (60, 2, 61, 3)], 0, id="min-area-1-keeps-it"),
    ],
)  # fmt: skip
def test_import_masks_boxes_from_components(
    tmp_path: Path,
    rects: list[Rect],
    merge_distance_px: float,
    min_area_px: int,
    expected_boxes: list[Rect],
    expected_dropped: int,
) -> None:
    _write_image(tmp_path / "images" / "cloth.jpg")
    _write_mask(tmp_path / "masks" / "cloth.png", rects)

    summary = import_masks(
        tmp_path / "images",
        tmp_path / "masks",
        tmp_path / "out",
        merge_distance_px=merge_distance_px,
        min_area_px=min_area_px,
    )

    expected = [_yolo(0, box) for box in expected_boxes]
    rows = _rows(tmp_path / "out" / "labels" / "cloth.txt")
    rows = rows[np.lexsort((rows[:, 2], rows[:, 1]))]
    np.testing.assert_allclose(rows, np.array(expected).reshape(-1, 5), atol=1e-4)
    assert (summary.boxes, summary.dropped_boxes) == (len(expected_boxes), expected_dropped)


def test_import_masks_literal_yolo_values_and_defect_free_images(tmp_path: Path) -> None:
    images, masks, out = tmp_path / "images", tmp_path / "masks", tmp_path / "out"
    for name in ("a.jpg", "clean.png", "zero.jpg"):
        _write_image(images / name)
    _write_mask(masks / "a.png", [(16, 12, 48, 36)])
    _write_mask(masks / "zero.bmp", [])  # an all-zero mask: no defect
    _write_mask(masks / "orphan.png", [(0, 0, 8, 8)])  # no image: ignored
    # clean.png has no mask file at all: also defect-free

    summary = import_masks(images, masks, out)

    assert (summary.images, summary.defect_free_images, summary.boxes) == (3, 2, 1)
    np.testing.assert_allclose(
        _rows(out / "labels" / "a.txt"), [[0, 0.5, 0.5, 0.5, 0.5]], atol=1e-4
    )
    assert (out / "labels" / "clean.txt").read_text(encoding="utf-8") == ""
    assert (out / "labels" / "zero.txt").read_text(encoding="utf-8") == ""
    assert sorted(path.name for path in (out / "images").iterdir()) == [
        "a.jpg",
        "clean.png",
        "zero.jpg",
    ]
    data = yaml.safe_load((out / "data.yaml").read_text(encoding="utf-8"))
    assert data["names"] == {0: "defect"}


def test_import_masks_class_value_masks(tmp_path: Path) -> None:
    _write_image(tmp_path / "images" / "a.jpg")
    _write_mask(tmp_path / "masks" / "a.bmp", [(0, 0, 8, 8), (40, 20, 64, 48)], values=[2, 1])

    summary = import_masks(
        tmp_path / "images",
        tmp_path / "masks",
        tmp_path / "out",
        class_names=["hole", "stain"],
        mask_values=MaskValues.CLASSES,
    )

    assert summary.class_names == ("hole", "stain")
    rows = _rows(tmp_path / "out" / "labels" / "a.txt")
    expected = [_yolo(0, (40, 20, 64, 48)), _yolo(1, (0, 0, 8, 8))]
    np.testing.assert_allclose(rows, expected, atol=1e-4)


@pytest.mark.parametrize(
    ("mask_name", "mask_wh", "mask_values", "fragment"),
    [
        pytest.param("a.png", (WIDTH + 1, HEIGHT), MaskValues.BINARY, "65x48 px", id="wider-mask"),
        pytest.param("a.png", (WIDTH, HEIGHT - 8), MaskValues.BINARY, "64x40 px", id="lower-mask"),
        pytest.param("a.png", (WIDTH, HEIGHT), MaskValues.CLASSES, "mask value 255", id="values"),
    ],
)
def test_import_masks_bad_mask_names_the_files(
    tmp_path: Path,
    mask_name: str,
    mask_wh: tuple[int, int],
    mask_values: MaskValues,
    fragment: str,
) -> None:
    _write_image(tmp_path / "images" / "a.jpg")
    mask_path = tmp_path / "masks" / mask_name
    mask_path.parent.mkdir()
    assert cv2.imwrite(str(mask_path), np.full(mask_wh[::-1], 255, np.uint8))

    with pytest.raises(DatasetError) as raised:
        import_masks(
            tmp_path / "images", tmp_path / "masks", tmp_path / "out", mask_values=mask_values
        )

    assert str(mask_path) in str(raised.value)
    assert fragment in str(raised.value)
    if "px" in fragment:
        assert str(tmp_path / "images" / "a.jpg") in str(raised.value)


@pytest.mark.parametrize(
    ("boxes", "max_gap_px", "expected"),
    [
        pytest.param([[0, 0, 10, 10], [5, 5, 15, 15]], 0, [[0, 0, 15, 15]], id="overlap-merges"),
        pytest.param([[0, 0, 10, 10], [11, 0, 20, 10]], 0, [[0, 0, 10, 10], [11, 0, 20, 10]],
                     id="gap-1-over-0"),
        pytest.param(np.zeros((0, 4)), 5, np.zeros((0, 4)), id="none"),
    ],
)  # fmt: skip
def test_merge_close_boxes(boxes: list[list[float]], max_gap_px: float, expected: object) -> None:
    np.testing.assert_array_equal(merge_close_boxes(boxes, max_gap_px), expected)


def test_cli_import_masks(tmp_path: Path, run_cli: RunCli) -> None:
    _write_image(tmp_path / "src" / "images" / "a.jpg")
    _write_image(tmp_path / "src" / "images" / "b.jpg")
    _write_mask(tmp_path / "src" / "masks" / "a.png", [(10, 10, 14, 14), (16, 10, 20, 14)])

    result = run_cli(
        *("dataset", "import", "masks", "--images", "src/images", "--masks", "src/masks"),
        *("--out", "out", "--merge-distance-px", "3", "--min-area-px", "2", "--class-name", "hole"),
        check=True,
    )

    assert "imported 2 images (1 defect-free), 1 boxes, 1 classes (hole)" in result.stdout
    rows = _rows(tmp_path / "out" / "labels" / "a.txt")
    np.testing.assert_allclose(rows, [_yolo(0, (10, 10, 20, 14))], atol=1e-4)


@pytest.mark.parametrize(
    ("args", "named"),
    [
        pytest.param(["--masks", "src/masks"], "src/masks/a.png", id="wrong-size-mask"),
        pytest.param(["--masks", "src/none"], "src/none", id="missing-masks-folder"),
        pytest.param(
            ["--masks", "src/masks", "--out", "src/images/out"], "src/images", id="inside"
        ),
    ],
)
def test_cli_import_masks_errors_are_one_line(
    tmp_path: Path, run_cli: RunCli, args: list[str], named: str
) -> None:
    _write_image(tmp_path / "src" / "images" / "a.jpg", width=32)
    _write_mask(tmp_path / "src" / "masks" / "a.png", [(0, 0, 4, 4)])
    if "--out" not in args:
        args = [*args, "--out", "out"]

    result = run_cli("dataset", "import", "masks", "--images", "src/images", *args)

    assert result.returncode == 2
    assert result.stderr.startswith("error: ")
    assert named in result.stderr
    assert "Traceback" not in result.stderr
