"""Frame tiling: when to tile, the tile grid, joining boxes cut by tile borders, and the runs."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pytest

from loomsight.datasets.synth.dataset import SynthOptions, make_image
from loomsight.datasets.tiling import TileWindow
from loomsight.inference.detections import Detections
from loomsight.inference.detector import DetectorOptions, OnnxDetector
from loomsight.inference.letterbox import Letterbox
from loomsight.inference.tiling import (
    JOIN_CONF,
    TilingMode,
    frame_tiles,
    merge_tiles,
    needs_tiling,
)
from tests.inference.conftest import ExportedModels, write_tiny_onnx

INPUT_HW = (160, 160)


@pytest.mark.parametrize(
    ("resolution_wh", "mode", "tiled"),
    [
        ((4096, 256), "auto", True),  # line-scan strip
        ((3840, 2160), "auto", True),  # 4K frame
        ((240, 240), "auto", False),  # exactly 1.5 times: not more
        ((241, 100), "auto", True),
        ((100, 241), "auto", True),
        ((4096, 256), "off", False),
        ((100, 100), "on", True),
    ],
)
def test_needs_tiling(resolution_wh: tuple[int, int], mode: TilingMode, tiled: bool) -> None:
    assert needs_tiling(resolution_wh, INPUT_HW, mode, 1.5) is tiled


def test_frame_tiles_cover_the_frame_at_native_resolution() -> None:
    tiles = frame_tiles((4096, 256), (640, 640))
    assert {(t.width_px, t.height_px) for t in tiles} == {(640, 256)}  # never padded
    assert tiles[0].x_px == 0 and tiles[-1].x_px + 640 == 4096
    assert all(b.x_px - a.x_px <= 640 - 128 for a, b in itertools.pairwise(tiles))
    assert frame_tiles((1000, 200), INPUT_HW, overlap_px=0)[1].x_px == 160
    assert frame_tiles((100, 90), INPUT_HW) == [TileWindow(0, 0, 100, 90)]
    with pytest.raises(ValueError, match="overlap_px"):
        frame_tiles((1000, 200), INPUT_HW, overlap_px=160)


# A 400x160 frame, tiles of 160 overlapping by 32: x 0..160, 128..288, 240..400.
WINDOWS = frame_tiles((400, 160), INPUT_HW, overlap_px=32)
TALL_WINDOWS = frame_tiles((160, 400), INPUT_HW, overlap_px=32)
Box = tuple[float, float, float, float, float, int]  # frame x1, y1, x2, y2, score, class


@pytest.mark.parametrize(
    ("windows", "per_tile", "expected"),
    [
        pytest.param(  # whole in the overlap of two tiles: one box, the best score
            WINDOWS,
            [[(130, 40, 150, 60, 0.8, 0)], [(130, 40, 150, 60, 0.9, 0)], []],
            [(130, 40, 150, 60, 0.9, 0)],
            id="double",
        ),
        pytest.param(  # cut by the right border of tile 0, whole in tile 1: joined
            WINDOWS,
            [[(140, 40, 160, 60, 0.9, 0)], [(140, 41, 200, 60, 0.6, 0)], []],
            [(140, 40, 200, 60, 0.9, 0)],
            id="cut-once",
        ),
        pytest.param(  # ends 5 px short of the border it is cut by (within TOUCH_PX, 8): joined
            WINDOWS,
            [[(140, 40, 155, 60, 0.9, 0)], [(140, 41, 200, 60, 0.6, 0)], []],
            [(140, 40, 200, 60, 0.9, 0)],
            id="cut-short-of-border",
        ),
        pytest.param(  # one part scored under JOIN_CONF (0.1): not joined, both to NMS (IoU 0.33)
            WINDOWS,
            [[(140, 40, 160, 60, 0.9, 0)], [(140, 41, 200, 60, 0.05, 0)], []],
            [(140, 40, 160, 60, 0.9, 0), (140, 41, 200, 60, 0.05, 0)],
            id="weak-part",
        ),
        pytest.param(  # a weak box reaching far past the border does not grow the strong one
            WINDOWS,
            [[(140, 40, 160, 60, 0.9, 0)], [(130, 35, 288, 62, 0.02, 0)], []],
            [(140, 40, 160, 60, 0.9, 0), (130, 35, 288, 62, 0.02, 0)],
            id="weak-tile-sized-box",
        ),
        pytest.param(  # a long defect across all three tiles: one box
            WINDOWS,
            [
                [(20, 40, 160, 60, 0.5, 3)],
                [(128, 40, 288, 62, 0.7, 3)],
                [(240, 39, 380, 60, 0.6, 3)],
            ],
            [(20, 39, 380, 62, 0.7, 3)],
            id="cut-twice",
        ),
        pytest.param(  # overlapping across the border, but side by side: not joined
            WINDOWS,
            [[(140, 20, 160, 60, 0.9, 0)], [(150, 50, 200, 100, 0.6, 0)], []],
            [(140, 20, 160, 60, 0.9, 0), (150, 50, 200, 100, 0.6, 0)],
            id="side-by-side",
        ),
        pytest.param(  # the same place, another class: both kept
            WINDOWS,
            [[(140, 40, 160, 60, 0.9, 0)], [(140, 40, 200, 60, 0.6, 1)], []],
            [(140, 40, 160, 60, 0.9, 0), (140, 40, 200, 60, 0.6, 1)],
            id="other-class",
        ),
        pytest.param(  # on the frame edge, not a tile border: kept as it is
            WINDOWS,
            [[(0, 0, 30, 20, 0.5, 0)], [], [(380, 140, 400, 160, 0.4, 0)]],
            [(0, 0, 30, 20, 0.5, 0), (380, 140, 400, 160, 0.4, 0)],
            id="frame-edge",
        ),
        pytest.param(  # two boxes of one tile are never joined; they do not overlap enough
            WINDOWS,
            [[(100, 40, 160, 60, 0.5, 0), (120, 40, 160, 60, 0.4, 0)], [], []],
            [(100, 40, 160, 60, 0.5, 0), (120, 40, 160, 60, 0.4, 0)],
            id="same-tile",
        ),
        pytest.param(  # ends on the border in both views: not cut, one box
            WINDOWS,
            [[(140, 40, 160, 60, 0.5, 0)], [(140, 40, 160, 60, 0.6, 0)], []],
            [(140, 40, 160, 60, 0.6, 0)],
            id="ends-on-border",
        ),
        pytest.param(  # cut by the bottom border of tile 0 in a tall frame
            TALL_WINDOWS,
            [[(40, 100, 60, 160, 0.9, 2)], [(40, 128, 60, 230, 0.8, 2)], []],
            [(40, 100, 60, 230, 0.9, 2)],
            id="cut-vertical",
        ),
    ],
)
def test_merge_tiles(
    windows: list[TileWindow], per_tile: list[list[Box]], expected: list[Box]
) -> None:
    def in_tile(boxes: list[Box], window: TileWindow) -> Detections:
        if not boxes:
            return Detections.empty()
        rows = np.array(boxes, dtype=np.float64)
        offset = np.array([window.x_px, window.y_px] * 2)
        return Detections(rows[:, :4] - offset, rows[:, 4], rows[:, 5].astype(np.int64))

    tiles = [in_tile(boxes, window) for boxes, window in zip(per_tile, windows, strict=True)]
    resolution_wh = (windows[-1].xyxy_px[2], windows[-1].xyxy_px[3])
    merged = merge_tiles(tiles, windows, resolution_wh, 0.7, 300)
    got = [
        (*box.tolist(), float(score), int(c))
        for box, score, c in zip(merged.xyxy_px, merged.confidence, merged.class_id, strict=True)
    ]
    assert got == [pytest.approx(row) for row in expected]


def test_joining_can_be_turned_off() -> None:
    cut = [Detections(np.array([[140.0, 40, 160, 60]]), np.array([0.9]), np.array([0]))]
    rest = Detections(np.array([[12.0, 41, 72, 60]]), np.array([0.6]), np.array([0]))  # tile 1
    per_tile = [*cut, rest, Detections.empty()]
    joined = merge_tiles(per_tile, WINDOWS, (400, 160), 0.7, 300)
    apart = merge_tiles(per_tile, WINDOWS, (400, 160), 0.7, 300, join_conf=None)
    assert joined.xyxy_px.tolist() == [[140, 40, 200, 60]]
    assert sorted(apart.xyxy_px.tolist()) == [[140, 40, 160, 60], [140, 41, 200, 60]]
    options = DetectorOptions(tile_join_conf=None)
    assert options.tile_join_conf is None and DetectorOptions().tile_join_conf == JOIN_CONF > 0
    # A part scored under JOIN_CONF is joined only with the floor at 0 (the rule before 2026-11-29).
    weak = [*cut, Detections(rest.xyxy_px, np.array([0.05]), rest.class_id), Detections.empty()]
    assert len(merge_tiles(weak, WINDOWS, (400, 160), 0.7, 300)) == 2
    every = merge_tiles(weak, WINDOWS, (400, 160), 0.7, 300, join_conf=0.0, touch_px=2.0)
    assert every.xyxy_px.tolist() == [[140, 40, 200, 60]]


def test_merge_tiles_checks_its_arguments() -> None:
    with pytest.raises(ValueError, match="for 3 tiles, got 1"):
        merge_tiles([Detections.empty()], WINDOWS, (400, 160), 0.7, 300)


# A fake detector: one box of 20x20 px at the centre of its 160x160 input, score 0.9, class 0.
CENTRE_BOX = np.array([[[80.0], [80.0], [20.0], [20.0], [0.9]]], np.float32)
METADATA = {"names": "{0: 'hole'}", "imgsz": "[160, 160]"}


@pytest.fixture
def centre_box_models(tmp_path: Path) -> dict[str, Path]:
    return {
        batch: write_tiny_onnx(
            tmp_path / batch / "model.onnx",
            [batch_dim, 3, 160, 160],
            "constant",
            CENTRE_BOX,
            METADATA,
        )
        for batch, batch_dim in (("dynamic", "batch"), ("fixed", 1), ("fixed4", 4))
    }


@pytest.mark.parametrize(
    ("batch", "max_batch", "runs"),
    [("dynamic", 16, 1), ("dynamic", 5, 4), ("fixed", 16, 16), ("fixed4", 16, 4)],
)
def test_tiles_are_batched_and_mapped_to_the_frame(
    centre_box_models: dict[str, Path], batch: str, max_batch: int, runs: int
) -> None:
    options = DetectorOptions(max_batch=max_batch)
    detector = OnnxDetector(centre_box_models[batch], options, threads=1)
    frame = np.zeros((200, 1000), np.uint8)
    windows = frame_tiles((1000, 200), INPUT_HW)
    assert len(windows) == 16 and runs == math.ceil(16 / (detector.batch_size or max_batch))
    before = detector.session_runs
    found = detector.detect(frame)
    assert detector.session_runs - before == runs
    centres = sorted((w.x_px + 80, w.y_px + 80) for w in windows)
    got = sorted(((x1 + x2) / 2, (y1 + y2) / 2) for x1, y1, x2, y2 in found.xyxy_px.tolist())
    assert got == centres
    assert (found.size_wh_px == 20).all() and (found.class_id == 0).all()


@pytest.mark.parametrize(
    ("tiling", "resolution_wh"),
    [("off", (1000, 200)), ("on", (100, 90)), ("auto", (200, 120))],
)
def test_a_whole_frame_is_letterboxed_and_mapped_back(
    centre_box_models: dict[str, Path], tiling: TilingMode, resolution_wh: tuple[int, int]
) -> None:
    detector = OnnxDetector(centre_box_models["dynamic"], DetectorOptions(tiling=tiling))
    frame = np.zeros((resolution_wh[1], resolution_wh[0], 3), np.uint8)
    placement = Letterbox.fit(frame.shape[:2], INPUT_HW)
    expected = placement.to_source_xyxy(np.array([[70, 70, 90, 90]], np.float32))
    found = detector.detect(frame)
    np.testing.assert_allclose(found.xyxy_px, expected, atol=1e-3)


def test_a_fixed_batch_is_padded(centre_box_models: dict[str, Path]) -> None:
    detector = OnnxDetector(centre_box_models["fixed4"], DetectorOptions(tiling="off"))
    frames = [np.zeros((160, 160), np.uint8)] * 5  # a run of 4, then 1 padded with 3 zeros
    before = detector.session_runs
    found = detector.detect_batch(frames)
    assert detector.session_runs - before == 2
    assert [f.xyxy_px.tolist() for f in found] == [[[70, 70, 90, 90]]] * 5


def test_a_line_scan_strip_is_tiled(exported: ExportedModels) -> None:
    strip = make_image(SynthOptions(count=1, seed=5, size_wh=(1024, 256)), 0).image
    options = DetectorOptions(conf_threshold=0.13, max_batch=32)
    static = OnnxDetector(exported.static, options)
    dynamic = OnnxDetector(exported.dynamic, options, threads=1)  # one session: one batch
    runs = (static.session_runs, dynamic.session_runs)
    one_per_tile, batched = static.detect(strip), dynamic.detect(strip)
    assert (static.session_runs - runs[0], dynamic.session_runs - runs[1]) == (16, 1)
    assert len(one_per_tile) > 0
    assert (one_per_tile.xyxy_px >= 0).all() and (one_per_tile.xyxy_px[:, 2] <= 1024).all()
    assert (one_per_tile.xyxy_px[:, 3] <= 256).all()
    np.testing.assert_allclose(batched.xyxy_px, one_per_tile.xyxy_px, atol=1e-2)
    np.testing.assert_allclose(batched.confidence, one_per_tile.confidence, atol=1e-4)
    whole = OnnxDetector(exported.static, options.model_copy(update={"tiling": "off"}))
    assert len(whole.detect(strip)) != len(one_per_tile)  # tiling did change what is seen
