"""The overview of a tiled frame: when it runs, and how its boxes meet the tiles' boxes."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from loomsight.inference.detections import Detections
from loomsight.inference.detector import DetectorOptions, OnnxDetector
from loomsight.inference.letterbox import as_bgr
from loomsight.inference.overview import UNCONFIRMED_FACTOR, add_overview, takes_overview
from loomsight.inference.tiling import frame_tiles, merge_tiles
from tests.inference.conftest import write_tiny_onnx
from tests.inference.test_tiling import INPUT_HW, METADATA

Box = tuple[float, float, float, float, float, int]  # x1, y1, x2, y2, confidence, class id
TILE_PX = 160.0


def _detections(rows: list[Box]) -> Detections:
    if not rows:
        return Detections.empty()
    array = np.array(rows, dtype=np.float64)
    return Detections(array[:, :4], array[:, 4], array[:, 5].astype(np.int64))


def _rows(found: Detections) -> list[Box]:
    return sorted(
        (*(round(v, 3) for v in box.tolist()), round(float(score), 3), int(c))
        for box, score, c in zip(found.xyxy_px, found.confidence, found.class_id, strict=True)
    )


@pytest.mark.parametrize(
    ("resolution_wh", "taken"),
    [
        ((320, 320), True),  # shrinks to 0.5
        ((800, 400), True),  # 0.2: the least
        ((801, 160), False),  # a strip: its defects would be a few pixels
        ((4096, 256), False),
    ],
)
def test_takes_overview_when_the_frame_shrinks_little(
    resolution_wh: tuple[int, int], taken: bool
) -> None:
    assert takes_overview(resolution_wh, INPUT_HW) is taken
    assert takes_overview(resolution_wh, INPUT_HW, min_scale=1.0) is False


def test_a_large_overview_box_replaces_the_tile_boxes_of_its_class_inside_it() -> None:
    tiled = _detections(
        [
            (10, 10, 60, 40, 0.3, 0),  # a part of the crease: goes
            (150, 12, 200, 38, 0.2, 0),  # another part: goes
            (100, 20, 110, 30, 0.6, 1),  # a knot on the crease, another class: stays
            (250, 10, 290, 40, 0.5, 0),  # mostly outside the overview box: stays
        ]
    )
    overview = _detections(
        [
            (5, 8, 270, 42, 0.7, 0),  # the whole crease
            (300, 300, 320, 320, 0.9, 0),  # small: the tiles see it better
            (0, 100, 200, 150, 0.05, 0),  # large but weak
        ]
    )
    merged = add_overview(tiled, overview, TILE_PX)
    assert _rows(merged) == [
        (5, 8, 270, 42, 0.7, 0),
        (100, 20, 110, 30, 0.6, 1),
        (250, 10, 290, 40, 0.5, 0),
    ]


def test_an_overview_box_no_tile_box_confirms_keeps_part_of_its_score() -> None:
    tiled = _detections([(10, 10, 30, 30, 0.01, 0), (20, 200, 40, 220, 0.9, 1)])  # too weak
    overview = _detections([(0, 0, 200, 50, 0.8, 0), (0, 190, 200, 230, 0.8, 0)])  # other class
    merged = add_overview(tiled, overview, TILE_PX)
    assert _rows(merged) == [
        (0, 0, 200, 50, round(0.8 * UNCONFIRMED_FACTOR, 3), 0),
        (0, 190, 200, 230, round(0.8 * UNCONFIRMED_FACTOR, 3), 0),
        (20, 200, 40, 220, 0.9, 1),
    ]
    assert add_overview(tiled, Detections.empty(), TILE_PX) is tiled
    assert len(add_overview(Detections.empty(), overview, TILE_PX)) == 2


def test_merge_tiles_takes_the_overview_before_nms() -> None:
    windows = frame_tiles((320, 160), INPUT_HW)  # 3 tiles of 160
    per_tile = [_detections([(100, 40, 160, 60, 0.05, 0)]), Detections.empty(), Detections.empty()]
    overview = _detections([(90, 38, 230, 62, 0.6, 0)])
    without = merge_tiles(per_tile, windows, (320, 160), 0.7, 300)
    with_overview = merge_tiles(per_tile, windows, (320, 160), 0.7, 300, overview=overview)
    assert _rows(without) == [(100, 40, 160, 60, 0.05, 0)]
    assert _rows(with_overview) == [(90, 38, 230, 62, 0.6, 0)]


def test_the_detector_runs_the_overview_after_the_tiles(tmp_path: Path) -> None:
    # A fake detector (batch of 1): one box of 120x120 px at the centre of its 160x160 input.
    big_box = np.array([[[80.0], [80.0], [120.0], [120.0], [0.9]]], np.float32)
    path = write_tiny_onnx(tmp_path / "model.onnx", [1, 3, 160, 160], "constant", big_box, METADATA)
    frame = np.zeros((320, 320), np.uint8)  # 9 tiles; whole, it shrinks to 0.5
    tiles_only = OnnxDetector(path, DetectorOptions(overview_min_scale=1.0), threads=1)
    detector = OnnxDetector(path, DetectorOptions(), threads=1)
    runs = (tiles_only.session_runs, detector.session_runs)
    without, found = tiles_only.detect(frame), detector.detect(frame)
    assert (tiles_only.session_runs - runs[0], detector.session_runs - runs[1]) == (9, 10)
    centre_tile = [148.0, 148.0, 268.0, 268.0]  # the tile at (128, 128)
    whole = [40.0, 40.0, 280.0, 280.0]  # the overview's box: 240 px, confirmed by the tiles'
    assert centre_tile in without.xyxy_px.tolist() and whole not in without.xyxy_px.tolist()
    assert whole in found.xyxy_px.tolist() and centre_tile not in found.xyxy_px.tolist()
    assert found.confidence.max() == pytest.approx(0.9)


def test_yarn_lines_are_left_to_the_tiles(tmp_path: Path) -> None:
    # The same fake detector, its one class a yarn line: the overview's box does not replace the
    # tiles' (in the shrunk frame broken picks were drawn short and weak, and one was lost).
    big_box = np.array([[[80.0], [80.0], [120.0], [120.0], [0.9]]], np.float32)
    metadata = {**METADATA, "names": "{0: 'broken_pick'}"}
    path = write_tiny_onnx(tmp_path / "model.onnx", [1, 3, 160, 160], "constant", big_box, metadata)
    frame = np.zeros((320, 320), np.uint8)
    options = DetectorOptions(line_trace=False, line_classes=())
    as_any_class = OnnxDetector(path, options, threads=1).detect(frame)
    found = OnnxDetector(path, DetectorOptions(line_trace=False), threads=1).detect(frame)
    whole = [40.0, 40.0, 280.0, 280.0]
    assert whole in as_any_class.xyxy_px.tolist()  # not a line class: the overview's box kept
    assert len(found) > 0 and whole not in found.xyxy_px.tolist()


def test_the_overview_is_shrunk_by_area_and_the_tiles_are_not_resampled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Bilinear shrinking turned a fine twill into blotches in the overview, which the default
    # model took for creases on 9 of 10 clean frames of one moving-web fabric (none by area).
    path = write_tiny_onnx(
        tmp_path / "model.onnx",
        [1, 3, 160, 160],
        "constant",
        np.zeros((1, 5, 1), np.float32),
        METADATA,
    )
    detector = OnnxDetector(path, DetectorOptions(flip_views=()), threads=1)
    inputs: list[np.ndarray] = []
    run = OnnxDetector._run  # on the class: a closure on the instance would keep it alive

    def spy(self: OnnxDetector, images: list[np.ndarray]) -> list[Detections]:
        inputs.extend(images)
        return run(self, images)

    monkeypatch.setattr(OnnxDetector, "_run", spy)
    frame = np.zeros((400, 400), np.uint8)  # 1-px stripes; whole, it shrinks to 0.4
    frame[:, ::2] = 255
    detector.detect(frame)
    tiles, overview = inputs[:-1], inputs[-1]
    assert len(tiles) == len(frame_tiles((400, 400), INPUT_HW)) > 1
    assert all(tile.std() > 120 for tile in tiles)  # native resolution: the stripes as they are
    np.testing.assert_array_equal(
        overview, cv2.resize(as_bgr(frame), (160, 160), interpolation=cv2.INTER_AREA)
    )
