"""Shifted copies of a labelled split: pixels change as named, labels follow the cloth."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from loomsight.datasets.data_yaml import class_names_of, label_path, split_images
from loomsight.datasets.labels import ImageLabels, read_yolo_labels, write_yolo_labels
from loomsight.datasets.layout import read_image, write_data_yaml, write_image
from loomsight.training.image_shifts import (
    SHIFT_NAMES,
    SHIFTS,
    shift_named,
    write_shifted_split,
    zoom_in,
    zoom_out,
)
from tests.conftest import RunCli


def _cloth(seed: int, size_hw: tuple[int, int] = (120, 160)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(60, 200, (*size_hw, 3), dtype=np.uint8)


def _labels(*boxes: tuple[float, float, float, float], size_wh: tuple[int, int] = (160, 120)):
    return ImageLabels(np.array(boxes, float).reshape(-1, 4), np.arange(len(boxes)) % 2, size_wh)


@pytest.mark.parametrize("shift", [s for s in SHIFTS if s.zoom == 1], ids=lambda s: s.name)
def test_pixel_shifts_keep_size_and_labels(shift) -> None:
    image, labels = _cloth(1), _labels((10, 10, 40, 30), (100, 50, 150, 110))
    ((out_image, out_labels),) = list(shift.apply([(image, labels)], seed=3))
    assert out_image.shape == image.shape and out_image.dtype == np.uint8
    assert np.array_equal(out_labels.xyxy_px, labels.xyxy_px)
    assert np.array_equal(out_labels.class_id, labels.class_id)
    assert np.array_equal(out_image, image) == (shift.name == "none")


def test_pixel_shifts_go_the_way_named() -> None:
    image = _cloth(2)
    mean = {
        name: float(next(shift_named(name).apply([(image, _labels())]))[0].mean())
        for name in SHIFT_NAMES
        if shift_named(name).zoom == 1
    }
    assert mean["darker"] < 0.6 * mean["none"] and mean["brighter"] > 1.3 * mean["none"]
    flat = next(shift_named("flat").apply([(image, _labels())]))[0]
    assert flat.std() < 0.6 * image.std()
    grey = next(shift_named("grey").apply([(image, _labels())]))[0]
    assert np.array_equal(grey[..., 0], grey[..., 2])
    warm = next(shift_named("warm").apply([(image, _labels())]))[0]
    assert warm[..., 2].mean() > image[..., 2].mean()  # redder
    assert warm[..., 0].mean() < image[..., 0].mean()  # less blue
    for name in ("defocus", "motion"):
        blurred = next(shift_named(name).apply([(image, _labels())]))[0]
        assert (
            np.abs(np.diff(blurred.astype(int), axis=0)).mean()
            < 0.6 * np.abs(np.diff(image.astype(int), axis=0)).mean()
        )


def test_noise_is_the_same_for_the_same_seed_only() -> None:
    items = [(_cloth(4), _labels())]
    noise = shift_named("noise")
    first, again, other = (next(noise.apply(items, seed))[0] for seed in (1, 1, 2))
    assert np.array_equal(first, again) and not np.array_equal(first, other)
    assert 5 < np.abs(first.astype(int) - items[0][0].astype(int)).mean() < 12


def test_zoom_in_enlarges_the_centre_and_drops_boxes_cut_away() -> None:
    image = np.zeros((120, 160, 3), np.uint8)
    image[50:70, 70:90] = 255  # a bright square in the middle
    labels = _labels((70, 50, 90, 70), (0, 0, 20, 20))  # the square, and a corner box
    out_image, out_labels = zoom_in(image, labels, 2.0)
    assert out_image.shape == image.shape
    # the centre 80x60 (x 40..120, y 30..90) enlarged 2x: the square spans x 60..100, y 40..80
    assert out_labels.xyxy_px.tolist() == [[60.0, 40.0, 100.0, 80.0]]
    assert out_labels.class_id.tolist() == [0]
    assert out_image[60, 80].tolist() == [255, 255, 255] and out_image[5, 5].tolist() == [0, 0, 0]


def test_zoom_out_by_half_puts_four_images_in_one() -> None:
    items = [(_cloth(k), _labels((0, 0, 160, 120), size_wh=(160, 120))) for k in range(5)]
    grids = list(zoom_out(items, 0.5))
    assert len(grids) == 2
    image, labels = grids[0]
    assert image.shape == (120, 160, 3)
    assert sorted(labels.xyxy_px.tolist()) == [
        [0, 0, 80, 60],
        [0, 60, 80, 120],
        [80, 0, 160, 60],
        [80, 60, 160, 120],
    ]
    last_image, last_labels = grids[1]
    assert len(last_labels) == 1 and (last_image[60:, 80:] == 114).all()  # empty cells: grey


def test_zoom_out_labels_lie_on_the_defects() -> None:
    items = []
    for k in range(4):
        image = np.zeros((120, 160, 3), np.uint8)
        x1, y1 = 10 + 20 * k, 20 + 10 * k
        image[y1 : y1 + 30, x1 : x1 + 40] = 255
        items.append((image, _labels((x1, y1, x1 + 40, y1 + 30))))
    grid, labels = next(zoom_out(items, 0.5))
    assert len(labels) == 4
    for x1, y1, x2, y2 in labels.xyxy_px.round().astype(int):
        inside = grid[y1 + 1 : y2 - 1, x1 + 1 : x2 - 1]
        assert inside.size and inside.min() > 200  # the box holds the bright patch only
        assert grid[y1 - 3 : y2 + 3, x1 - 3 : x2 + 3].min() < 50  # which ends at the box


def test_zoom_out_crops_what_does_not_fit() -> None:
    items = [(_cloth(k), _labels((10, 10, 30, 30), (130, 10, 150, 30))) for k in range(4)]
    image, labels = next(zoom_out(items, 0.75))  # cells of 120x90 in a 160x120 image
    assert image.shape == (120, 160, 3)
    # first image: both boxes (x 7.5..22.5, 97.5..112.5); the second cell starts at x 120, its
    # first box at 127.5..142.5 survives, its second (217.5..) is cut; the lower row starts at
    # y 90, its boxes (y 97.5..112.5) inside
    assert len(labels) == 6
    assert labels.xyxy_px[:, 2].max() <= 160 and labels.xyxy_px[:, 3].max() <= 120


def _tiny_split(root: Path) -> Path:
    for k in range(6):
        image = root / "images" / "test" / f"img{k}.jpg"
        write_image(image, _cloth(k))
        boxes = [] if k == 5 else [(20 + k, 30, 60 + k, 70)]
        write_yolo_labels(label_path(image), _labels(*boxes))
    return write_data_yaml(root, ["hole", "stain"], {"test": "images/test"})


@pytest.mark.parametrize(("name", "count"), [("darker", 6), ("zoom-in", 6), ("zoom-out", 2)])
def test_write_shifted_split_writes_a_dataset_evaluate_reads(
    tmp_path: Path, name: str, count: int
) -> None:
    data_yaml = write_shifted_split(
        _tiny_split(tmp_path / "src"), "test", shift_named(name), tmp_path / "out"
    )
    assert class_names_of(data_yaml) == ["hole", "stain"]
    images = split_images(data_yaml, "test")
    assert len(images) == count
    boxes = sum(len(read_yolo_labels(label_path(p), (160, 120))) for p in images)
    assert boxes == 5  # every box survives these three shifts
    assert read_image(images[0]).shape == (120, 160, 3)


def test_unknown_shift_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match="expected one of none, darker"):
        shift_named("sepia")


def test_evaluate_refuses_an_unknown_shift(run_cli: RunCli) -> None:
    result = run_cli("evaluate", "--model", "m.onnx", "--data", "d.yaml", "--shift", "sepia")
    assert result.returncode == 2
    assert "unknown shift 'sepia'" in result.stderr and "zoom-out" in result.stderr


def test_evaluate_refuses_an_image_scale_of_zero(run_cli: RunCli) -> None:
    result = run_cli("evaluate", "--model", "m.onnx", "--data", "d.yaml", "--image-scale", "2,0")
    assert result.returncode == 2
    assert "--image-scale" in result.stderr and "positive" in result.stderr
