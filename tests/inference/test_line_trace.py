"""Tracing a yarn-line defect in the frame: drawn lines on a woven texture, rendered broken
picks and ends from the synthetic generator, and through a detector."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from loomsight.datasets.synth.fabric_image import make_fabric_image
from loomsight.inference.detections import Detections
from loomsight.inference.detector import DetectorOptions, OnnxDetector
from loomsight.inference.line_trace import trace_lines
from tests.inference.conftest import raw_output, write_tiny_onnx

PICK, END, KNOT = 0, 1, 2
LINES = {PICK, END}


def cloth(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A grey woven-looking texture: a check of 6-px yarns with noise, around 140."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    weave = 12 * np.sign(np.sin(np.pi * x / 6) * np.sin(np.pi * y / 6))
    return np.clip(140 + weave + rng.normal(0, 6, (height, width)), 0, 255).astype(np.uint8)


def one_box(box: tuple[float, float, float, float], class_id: int = PICK) -> Detections:
    return Detections(
        np.array([box], np.float32), np.array([0.5], np.float32), np.array([class_id])
    )


def iou(a: np.ndarray, b: np.ndarray) -> float:
    inter_w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    inter_h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = inter_w * inter_h
    return float(inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter))


def test_a_missing_pick_is_traced_to_its_ends_and_narrowed_to_its_rows() -> None:
    frame = cloth(240, 640)
    frame[100:105, 60:520] -= 40  # the line: rows 100..104, x 60..519, darker than the cloth
    found = trace_lines(frame, one_box((200, 92, 440, 114)), LINES)
    x1, y1, x2, y2 = found.xyxy_px[0]
    assert abs(x1 - 60) <= 8 and abs(x2 - 520) <= 8  # along: to the line's ends
    assert 92 <= y1 <= 100 and 105 <= y2 <= 114  # across: holds the line, inside the box
    assert (y2 - y1) <= 12  # and narrower than the detector's 22 px
    assert found.confidence.tolist() == [0.5] and found.class_id.tolist() == [PICK]


def test_a_lighter_missing_end_is_traced_along_the_roll_to_the_frame_edges() -> None:
    frame = cloth(640, 240)
    frame[:, 120:124] += 40  # a light line along y, across the whole frame
    found = trace_lines(frame, one_box((114, 250, 132, 400), END), LINES)
    x1, y1, x2, y2 = found.xyxy_px[0]
    assert (y1, y2) == (0, 640)
    assert 114 <= x1 <= 120 and 124 <= x2 <= 132


@pytest.mark.parametrize(
    ("box", "class_id"),
    [
        pytest.param((200, 92, 440, 114), PICK, id="no-line-in-the-cloth"),
        pytest.param((200, 92, 440, 114), KNOT, id="not-a-line-class"),
        pytest.param((90, 80, 130, 120), PICK, id="not-elongated"),
    ],
)
def test_boxes_that_are_not_lines_in_the_frame_stay_as_they_are(
    box: tuple[float, float, float, float], class_id: int
) -> None:
    frame = cloth(240, 640)
    if class_id != PICK or box[2] - box[0] < 100:
        frame[100:105, :] -= 40  # a line is there, but the box is not a line box
    found = trace_lines(frame, one_box(box, class_id), LINES)
    assert found.xyxy_px[0].tolist() == list(box)


def test_trace_lines_edge_cases() -> None:
    frame = cloth(240, 640)
    frame[100:105, :] -= 40
    beyond = trace_lines(frame, one_box((-20, 92, 300, 114)), LINES).xyxy_px[0].tolist()
    assert beyond[0] == -20 and beyond[2] == 640 and 92 <= beyond[1] <= 100 <= 105 <= beyond[3]
    assert len(trace_lines(frame, Detections.empty(), LINES)) == 0
    assert trace_lines(frame, one_box((200, 92, 440, 114)), set()).xyxy_px[0, 0] == 200
    colour = np.repeat(frame[..., None], 3, axis=2)  # BGR frames are traced in grey
    assert trace_lines(colour, one_box((200, 92, 440, 114)), LINES).xyxy_px[0, 2] == 640
    with pytest.raises(ValueError, match="HxW grey or HxWx3 BGR"):
        trace_lines(frame[..., None], one_box((200, 92, 440, 114)), LINES)


@pytest.mark.parametrize("class_name", ["broken_pick", "broken_end"])
def test_rendered_yarn_lines_are_traced_from_a_short_thick_piece(class_name: str) -> None:
    """On the generator's woven and knitted cloth, a piece as the detector gives it (240 px of
    the line's middle, twice its thickness) is traced to most of the labelled box."""
    before, after = [], []
    for seed in range(12):
        rng = np.random.default_rng(seed)
        synth = make_fabric_image(
            rng, (640, 640), 0.07, classes=(class_name,), defect_free_share=0, max_defects=1
        )
        if len(synth.labels) != 1:
            continue
        truth = synth.labels.xyxy_px[0].astype(np.float64)
        along = 0 if class_name == "broken_pick" else 1
        centre, thick = (truth[along] + truth[along + 2]) / 2, truth[3 - along] - truth[1 - along]
        piece = truth.copy()
        piece[along], piece[along + 2] = centre - 120, centre + 120
        piece[1 - along] -= thick / 2
        piece[3 - along] += thick / 2
        piece = piece.astype(np.float32).astype(np.float64)  # as a detector holds it
        found = trace_lines(synth.image, one_box(tuple(piece), PICK if along == 0 else END), LINES)
        traced = found.xyxy_px[0].astype(np.float64)
        assert traced[along] <= piece[along] and traced[along + 2] >= piece[along + 2]  # grows
        assert traced[1 - along] >= piece[1 - along] and traced[3 - along] <= piece[3 - along]
        before.append(iou(piece, truth))
        after.append(iou(traced, truth))
    assert len(after) >= 8 and min(after) > 0.2
    assert float(np.median(after)) >= 0.7 > float(np.median(before))
    assert sum(a > b for a, b in zip(after, before, strict=True)) >= 0.75 * len(after)


def test_the_detector_traces_the_lines_it_reports(tmp_path: Path) -> None:
    """A fake detector gives the middle of a dark weft line as a thick piece; the detector
    traces it unless told not to."""
    piece = raw_output([(80, 80, 80, 16, 0.6, 0)], class_count=3)  # x 40..120, y 72..88
    names = {"names": "{0: 'broken_pick', 1: 'broken_end', 2: 'knot'}", "imgsz": "[160, 160]"}
    model = write_tiny_onnx(tmp_path / "model.onnx", [1, 3, 160, 160], "constant", piece, names)
    frame = cloth(160, 160)
    frame[78:82, :] -= 40
    traced = OnnxDetector(model).detect(frame).xyxy_px[0].tolist()
    assert traced[0] == 0 and traced[2] == 160 and 72 <= traced[1] <= 78 and 82 <= traced[3] <= 88
    as_found = OnnxDetector(model, DetectorOptions(line_trace=False)).detect(frame)
    assert as_found.xyxy_px[0].tolist() == [40, 72, 120, 88]
