"""Joining the pieces of one yarn-line defect: the rules as a table, then through a detector."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from loomsight.inference.box_groups import linked_groups
from loomsight.inference.detections import Detections
from loomsight.inference.detector import DetectorOptions, OnnxDetector
from loomsight.inference.line_join import join_line_pieces
from tests.inference.conftest import raw_output, write_tiny_onnx

PICK, END, KNOT = 0, 1, 2  # ids of the tests' three classes; the first two are lines
LINES = {PICK, END}

Box = tuple[float, float, float, float, float, int]  # x1, y1, x2, y2, score, class


def detections(boxes: list[Box]) -> Detections:
    rows = np.array(boxes, np.float32).reshape(-1, 6)
    return Detections(rows[:, :4], rows[:, 4], rows[:, 5].astype(np.int64))


def as_rows(found: Detections) -> list[Box]:
    rows = zip(
        found.xyxy_px.tolist(), found.confidence.tolist(), found.class_id.tolist(), strict=True
    )
    return [
        (round(x1, 1), round(y1, 1), round(x2, 1), round(y2, 1), round(score, 2), k)
        for (x1, y1, x2, y2), score, k in rows
    ]


@pytest.mark.parametrize(
    ("boxes", "expected"),
    [
        pytest.param(  # overlapping weft pieces: one box along x, across it the best piece's
            [(0, 100, 240, 112, 0.4, PICK), (150, 98, 390, 114, 0.6, PICK)],
            [(0, 98, 390, 114, 0.6, PICK)],
            id="overlapping",
        ),
        pytest.param(  # warp pieces along y, the gap of 90 px bridged
            [(50, 0, 60, 200, 0.3, END), (48, 290, 62, 400, 0.5, END)],
            [(48, 0, 62, 400, 0.5, END)],
            id="vertical-gap",
        ),
        pytest.param(  # three in a row join transitively though the ends do not touch
            [
                (0, 10, 200, 20, 0.3, PICK),
                (190, 10, 400, 20, 0.2, PICK),
                (390, 11, 600, 19, 0.7, PICK),
            ],
            [(0, 11, 600, 19, 0.7, PICK)],
            id="chain",
        ),
    ],
)
def test_join_line_pieces(boxes: list[Box], expected: list[Box]) -> None:
    joined = join_line_pieces(detections(boxes), LINES, min_confidence=0.05, max_gap_px=96)
    assert sorted(as_rows(joined)) == sorted(expected)
    assert list(joined.confidence) == sorted(joined.confidence, reverse=True)


@pytest.mark.parametrize(
    "boxes",
    [
        pytest.param(  # a gap wider than 96 px: two defects
            [(0, 10, 200, 20, 0.6, PICK), (300, 10, 500, 20, 0.3, PICK)],
            id="gap-too-wide",
        ),
        pytest.param(  # neighbouring picks, one above the other: apart
            [(0, 10, 240, 20, 0.6, PICK), (0, 21, 240, 31, 0.5, PICK)],
            id="parallel",
        ),
        pytest.param(  # overlap across of less than half the thinner piece: apart
            [(0, 10, 240, 20, 0.6, PICK), (200, 16, 440, 26, 0.5, PICK)],
            id="offset-across",
        ),
        pytest.param(  # a pick and an end crossing, or a pick beside a knot: other classes
            [
                (0, 10, 240, 20, 0.6, PICK),
                (100, 0, 110, 300, 0.5, END),
                (230, 8, 260, 22, 0.4, KNOT),
            ],
            id="other-classes",
        ),
        pytest.param(  # knots in a row are not a line class
            [(0, 10, 60, 20, 0.6, KNOT), (50, 10, 110, 20, 0.5, KNOT)],
            id="not-a-line-class",
        ),
        pytest.param(  # boxes of a line class that are not elongated (2:1) stay apart
            [(0, 10, 40, 30, 0.6, PICK), (30, 10, 70, 30, 0.5, PICK)],
            id="not-elongated",
        ),
        pytest.param(  # a piece scored under the join threshold (0.05) takes no part
            [(0, 10, 240, 20, 0.6, PICK), (200, 10, 440, 20, 0.04, PICK)],
            id="too-weak",
        ),
        pytest.param(  # a horizontal and a vertical piece of one class: apart
            [(0, 10, 240, 20, 0.6, PICK), (230, 0, 240, 240, 0.5, PICK)],
            id="crossing",
        ),
    ],
)
def test_boxes_that_are_not_pieces_of_one_line_stay_apart(boxes: list[Box]) -> None:
    kept = join_line_pieces(detections(boxes), LINES, min_confidence=0.05, max_gap_px=96)
    assert sorted(as_rows(kept)) == sorted(boxes)


def test_join_line_pieces_edge_cases() -> None:
    pieces = detections([(0, 10, 240, 20, 0.6, PICK), (200, 10, 440, 20, 0.5, PICK)])
    assert len(join_line_pieces(pieces, set(), 0.05)) == 2  # no line classes: nothing joined
    assert len(join_line_pieces(Detections.empty(), LINES, 0.05)) == 0
    touching = detections([(0, 10, 240, 20, 0.6, PICK), (240, 10, 480, 20, 0.5, PICK)])
    assert len(join_line_pieces(touching, LINES, 0.05, max_gap_px=0)) == 1
    with pytest.raises(ValueError, match="max_gap_px must be >= 0"):
        join_line_pieces(pieces, LINES, 0.05, max_gap_px=-1)


@pytest.mark.parametrize(
    ("count", "pairs", "groups"),
    [
        (4, [], [0, 1, 2, 3]),
        (4, [(2, 3)], [0, 1, 2, 2]),
        (5, [(4, 0), (1, 3), (3, 4)], [0, 0, 1, 0, 0]),
        (3, [(0, 0)], [0, 1, 2]),
        (0, [], []),
    ],
)
def test_linked_groups(count: int, pairs: list[tuple[int, int]], groups: list[int]) -> None:
    assert linked_groups(count, pairs).tolist() == groups


def test_linked_groups_refuses_a_pair_outside_the_items() -> None:
    with pytest.raises(ValueError, match=r"pair \(0, 3\) names an item outside 0..2"):
        linked_groups(3, [(0, 3)])


# A fake detector on a 160x160 input, classes broken_pick, broken_end, knot. Three pieces of one
# weft line: a strong one, a weak one (above the join threshold, under the report threshold) and
# one too weak to join (under 0.05); and a knot.
PIECES = raw_output(
    [
        (50, 80, 80, 6, 0.6, 0),  # x 10..90
        (115, 80, 70, 6, 0.1, 0),  # x 80..150
        (150, 80, 20, 6, 0.03, 0),  # x 140..160: too weak to lengthen the line
        (120, 120, 12, 12, 0.5, 2),
    ],
    class_count=3,
)
NAMES = {"names": "{0: 'broken_pick', 1: 'broken_end', 2: 'knot'}", "imgsz": "[160, 160]"}


@pytest.fixture
def pieces_model(tmp_path: Path) -> Path:
    return write_tiny_onnx(tmp_path / "model.onnx", [1, 3, 160, 160], "constant", PIECES, NAMES)


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        pytest.param(  # the camera: weak pieces lengthen the line, only the line and knot shown
            {},
            [(10, 77, 150, 83, 0.6, 0), (114, 114, 126, 126, 0.5, 2)],
            id="camera",
        ),
        pytest.param(  # evaluation keeps low scores: the same boxes, the too-weak piece beside
            {"conf_threshold": 0.01},
            [(10, 77, 150, 83, 0.6, 0), (114, 114, 126, 126, 0.5, 2), (140, 77, 160, 83, 0.03, 0)],
            id="evaluation",
        ),
        pytest.param(  # joining off: the strong piece alone, as ultralytics would give it
            {"line_classes": ()},
            [(10, 77, 90, 83, 0.6, 0), (114, 114, 126, 126, 0.5, 2)],
            id="off",
        ),
        pytest.param(  # a join threshold above the weak piece leaves it out
            {"line_join_conf": 0.2},
            [(10, 77, 90, 83, 0.6, 0), (114, 114, 126, 126, 0.5, 2)],
            id="join-threshold",
        ),
    ],
)
def test_the_detector_joins_line_pieces(
    pieces_model: Path, options: dict[str, object], expected: list[Box]
) -> None:
    detector = OnnxDetector(pieces_model, DetectorOptions.model_validate(options))
    found = detector.detect(np.full((160, 160, 3), 128, np.uint8))
    assert sorted(as_rows(found)) == sorted(expected)


def test_a_line_across_a_wide_frame_is_one_defect(tmp_path: Path) -> None:
    """Each 160-px tile of a 1000-px frame sees a piece of one weft line, 20 px short of its
    borders (so the tile join does not apply): joined, the frame holds one line, end to end."""
    piece = raw_output([(80, 80, 120, 6, 0.6, 0)], class_count=3)  # x 20..140 in every tile
    model = write_tiny_onnx(
        tmp_path / "model.onnx", ["batch", 3, 160, 160], "constant", piece, NAMES
    )
    frame = np.full((160, 1000, 3), 128, np.uint8)
    pieces = OnnxDetector(model, DetectorOptions(line_classes=())).detect(frame)
    assert len(pieces) == 8  # one per tile
    line = OnnxDetector(model).detect(frame)
    assert as_rows(line) == [(20, 77, 980, 83, 0.6, 0)]
