"""Tile grid, which boxes each tile keeps, and the tiling of a dataset on disk."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from loomsight.datasets.data_yaml import read_class_names
from loomsight.datasets.labels import ImageLabels, read_yolo_labels
from loomsight.datasets.layout import read_image
from loomsight.datasets.tiling import (
    TileWindow,
    source_stem,
    tile_dataset,
    tile_grid,
    tile_labels,
    tile_starts,
)
from loomsight.errors import DatasetError
from tests.conftest import RunCli
from tests.datasets.test_check import make_dataset, yolo_line


@pytest.mark.parametrize(
    ("length_px", "tile_px", "overlap_px", "starts"),
    [
        (416, 640, 64, [0]),  # smaller than a tile: one tile, the whole side
        (256, 640, 64, [0]),  # line-scan strip height
        (640, 640, 64, [0]),  # exactly one tile
        (1280, 640, 0, [0, 640]),  # exact multiple, no overlap
        (1280, 640, 64, [0, 576, 640]),  # last tile flush with the edge
        (700, 640, 64, [0, 60]),
        (4096, 640, 64, [0, 576, 1152, 1728, 2304, 2880, 3456]),
        (4096, 1024, 0, [0, 1024, 2048, 3072]),
    ],
)
def test_tile_starts(length_px: int, tile_px: int, overlap_px: int, starts: list[int]) -> None:
    assert tile_starts(length_px, tile_px, overlap_px) == starts


@pytest.mark.parametrize(
    ("length_px", "tile_px", "overlap_px", "message"),
    [
        (100, 0, 0, "tile_px must be positive"),
        (100, 64, 64, "overlap_px must be in"),
        (100, 64, -1, "overlap_px must be in"),
        (0, 64, 8, "length_px must be positive"),
    ],
)
def test_tile_starts_rejects(length_px: int, tile_px: int, overlap_px: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        tile_starts(length_px, tile_px, overlap_px)


def test_strip_grid_keeps_the_strip_height() -> None:
    grid = tile_grid((4096, 256), 640, 64)
    assert len(grid) == 7
    assert {(tile.width_px, tile.height_px, tile.y_px) for tile in grid} == {(640, 256, 0)}
    assert grid[-1].xyxy_px == (3456, 0, 4096, 256)


@pytest.mark.parametrize(
    "resolution_wh", [(4096, 256), (3840, 2160), (640, 640), (1000, 333), (100, 50), (120, 51)]
)
@pytest.mark.parametrize(("tile_px", "overlap_px"), [(640, 64), (256, 0), (300, 150), (50, 10)])
def test_grid_covers_every_pixel_and_stays_inside(
    resolution_wh: tuple[int, int], tile_px: int, overlap_px: int
) -> None:
    width, height = resolution_wh
    covered = np.zeros((height, width), dtype=bool)
    for tile in tile_grid(resolution_wh, tile_px, overlap_px):
        x1, y1, x2, y2 = tile.xyxy_px
        assert 0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height
        assert (tile.width_px, tile.height_px) == (min(tile_px, width), min(tile_px, height))
        covered[y1:y2, x1:x2] = True
    assert covered.all()


TILE_0 = TileWindow(0, 0, 640, 640)
TILE_1 = TileWindow(640, 0, 640, 640)


@pytest.mark.parametrize(
    ("box_xyxy", "min_visible", "tile", "expected_xyxy"),
    [
        # inside one tile: moved into tile pixels, unchanged otherwise
        ((700, 100, 800, 200), 0.5, TILE_1, [(60, 100, 160, 200)]),
        ((700, 100, 800, 200), 0.5, TILE_0, []),
        # across the border, 40 % / 60 % visible: both tiles at 0.3, one at 0.5
        ((600, 100, 700, 200), 0.3, TILE_0, [(600, 100, 640, 200)]),
        ((600, 100, 700, 200), 0.3, TILE_1, [(0, 100, 60, 200)]),
        ((600, 100, 700, 200), 0.5, TILE_0, []),
        ((600, 100, 700, 200), 0.5, TILE_1, [(0, 100, 60, 200)]),
        # a 10 px remnant of a 100 px box is dropped
        ((630, 100, 730, 200), 0.5, TILE_0, []),
        ((630, 100, 730, 200), 0.5, TILE_1, [(0, 100, 90, 200)]),
        # a crease across the whole image is kept in every tile it crosses
        ((0, 300, 1280, 310), 0.5, TILE_0, [(0, 300, 640, 310)]),
        ((0, 300, 1280, 310), 0.5, TILE_1, [(0, 300, 640, 310)]),
        # a long crease ending 100 px into a tile is a remnant there
        ((0, 300, 740, 310), 0.5, TILE_1, []),
        # a box that only touches the tile edge has no area in it
        ((500, 100, 640, 200), 0.1, TILE_1, []),
    ],
)
def test_tile_labels(
    box_xyxy: tuple[int, int, int, int],
    min_visible: float,
    tile: TileWindow,
    expected_xyxy: list[tuple[int, int, int, int]],
) -> None:
    labels = ImageLabels(np.array([box_xyxy]), np.array([3]), (1280, 640))
    kept = tile_labels(labels, tile, min_visible)
    assert kept.resolution_wh == (640, 640)
    assert kept.xyxy_px.tolist() == [list(map(float, box)) for box in expected_xyxy]
    assert kept.class_id.tolist() == [3] * len(expected_xyxy)


def test_tile_labels_of_no_boxes() -> None:
    kept = tile_labels(ImageLabels.empty((1280, 640)), TILE_1)
    assert len(kept) == 0 and kept.resolution_wh == (640, 640)


@pytest.mark.parametrize(
    ("stem", "source"),
    [("a__x0_y576", "a"), ("a__x12_y0__x0_y0", "a__x12_y0"), ("a", "a"), ("a__x1", "a__x1")],
)
def test_source_stem(stem: str, source: str) -> None:
    assert source_stem(stem) == source


def test_tile_dataset_writes_named_tiles_with_clipped_labels(tmp_path: Path) -> None:
    labels = yolo_line(1, (560, 100, 700, 200), (4096, 256))  # across the border at x=576
    src = make_dataset(tmp_path / "src", {"rolls/strip.png": ((4096, 256), labels)})
    out = tmp_path / "tiles"
    result = tile_dataset(src, out, tile_px=640, overlap_px=64, min_visible=0.5)
    assert (result.images_in, result.tiles_out, result.boxes_in) == (1, 7, 1)
    tile_paths = sorted((out / "images/rolls").iterdir())
    assert [path.name for path in tile_paths] == sorted(
        f"strip__x{x}_y0.png" for x in (0, 576, 1152, 1728, 2304, 2880, 3456)
    )
    source = read_image(src / "images/rolls/strip.png")
    for path in tile_paths:
        x = int(path.stem.split("__x")[1].split("_y")[0])
        assert np.array_equal(read_image(path), source[:, x : x + 640])  # native pixels, lossless
    box_of = {
        path.stem: read_yolo_labels(path, (640, 256)).xyxy_px.round(1).tolist()
        for path in sorted((out / "labels/rolls").iterdir())
    }
    assert box_of["strip__x0_y0"] == [[560.0, 100.0, 640.0, 200.0]]
    assert box_of["strip__x576_y0"] == [[0.0, 100.0, 124.0, 200.0]]
    assert sum(len(boxes) == 0 for boxes in box_of.values()) == result.empty_tiles == 5
    assert read_class_names(out) == ["hole", "stain"]


@pytest.mark.parametrize(
    ("setup", "message"),
    [("no_label", "label file missing"), ("out_inside_src", "overlaps the source")],
)
def test_tile_dataset_refuses(tmp_path: Path, setup: str, message: str) -> None:
    label = None if setup == "no_label" else ""
    src = make_dataset(tmp_path / "src", {"a.jpg": ((100, 100), label)})
    out = src / "tiles" if setup == "out_inside_src" else tmp_path / "out"
    with pytest.raises(DatasetError, match=message):
        tile_dataset(src, out, tile_px=64, overlap_px=8)


def test_cli_tile(tmp_path: Path, run_cli: RunCli) -> None:
    src = make_dataset(tmp_path / "src", {"frame.jpg": ((1000, 500), "")})
    image = np.full((500, 1000, 3), 128, dtype=np.uint8)
    assert cv2.imwrite(str(src / "images/frame.jpg"), image)
    out = tmp_path / "out"
    result = run_cli("dataset", "tile", str(src), "--out", str(out), "--tile-px", "400", check=True)
    assert "1 images -> 6 tiles" in result.stdout
    assert (out / "images/frame__x600_y100.jpg").is_file()
    assert (out / "labels/frame__x600_y100.txt").read_text() == ""
