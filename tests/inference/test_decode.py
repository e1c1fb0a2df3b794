"""Decoding raw and NMS-inside outputs: thresholds, class-aware NMS, max_det, bad input."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from loomsight.inference.decode import (
    OutputFormat,
    class_thresholds,
    decode,
    decode_nms,
    decode_raw,
    nms_batched,
    thresholds_by_name,
)
from loomsight.inference.detections import Detections
from tests.inference.conftest import raw_output

A = (50.0, 50.0, 40.0, 40.0)  # cx, cy, w, h: box 30..70
A_SHIFTED = (52.0, 50.0, 40.0, 40.0)  # IoU with A about 0.9
A_HALF = (70.0, 50.0, 40.0, 40.0)  # IoU with A 1/3
FAR = (140.0, 140.0, 20.0, 20.0)


@pytest.mark.parametrize(
    ("rows", "conf", "max_det", "kept"),
    [
        ([(*A, 0.9, 0), (*A_SHIFTED, 0.8, 0)], 0.25, 300, [0]),  # same class, overlap: best kept
        ([(*A, 0.8, 0), (*A_SHIFTED, 0.9, 0)], 0.25, 300, [1]),
        ([(*A, 0.9, 0), (*A_SHIFTED, 0.8, 1)], 0.25, 300, [0, 1]),  # other class: NMS per class
        ([(*A, 0.9, 0), (*A_HALF, 0.8, 0)], 0.25, 300, [0, 1]),  # IoU 1/3 <= 0.7
        ([(*A, 0.9, 0), (*FAR, 0.2, 1)], 0.25, 300, [0]),  # below the threshold
        ([(*A, 0.25, 0), (*FAR, 0.2500001, 1)], 0.25, 300, [1]),  # strictly above it
        ([(*A, 0.5, 0), (*FAR, 0.5, 1)], [0.6, 0.4], 300, [1]),  # per-class thresholds
        ([(*A, 0.7, 0), (*FAR, 0.9, 1), (*A_HALF, 0.8, 0)], 0.25, 2, [1, 2]),  # best max_det
        ([], 0.25, 300, []),
    ],
)
def test_decode_raw(
    rows: list[tuple[float, ...]], conf: float | list[float], max_det: int, kept: list[int]
) -> None:
    output = raw_output(rows)
    thresholds = np.asarray(conf, np.float32) if isinstance(conf, list) else conf
    [found] = decode_raw(output, thresholds, iou_threshold=0.7, max_det=max_det)
    assert [int(k) for k in found.confidence.argsort()[::-1]] == list(range(len(found)))
    expected = sorted(kept, key=lambda k: -rows[k][4])
    np.testing.assert_allclose(found.confidence, [rows[k][4] for k in expected])
    np.testing.assert_array_equal(found.class_id, [rows[k][5] for k in expected])
    for box, k in zip(found.xyxy_px, expected, strict=True):
        cx, cy, w, h = rows[k][:4]
        np.testing.assert_allclose(box, [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])


def test_decode_raw_takes_the_best_class_of_each_anchor() -> None:
    output = raw_output([(*A, 0.6, 0)], class_count=3)
    output[0, 4 + 2, 0] = 0.7
    [found] = decode_raw(output, 0.25, 0.7, 300)
    assert found.class_id.tolist() == [2] and found.confidence.tolist() == [pytest.approx(0.7)]


def test_decode_raw_judges_an_anchor_by_its_best_class_only() -> None:
    # class 0 scores best, 0.5, under its threshold 0.6; class 1's 0.45 is over its own 0.4, but
    # an anchor counts as its best class only (as ultralytics decodes it): nothing is found
    output = raw_output([(*A, 0.5, 0)])
    output[0, 4 + 1, 0] = 0.45
    [found] = decode_raw(output, np.array([0.6, 0.4], np.float32), 0.7, 300)
    assert len(found) == 0


def test_decode_raw_keeps_what_a_per_anchor_reading_keeps() -> None:
    rng = np.random.default_rng(7)
    class_count, anchors = 5, 2000
    output = rng.random((2, 4 + class_count, anchors), dtype=np.float32)
    output[:, :4] = output[:, :4] * 300 + 10  # cx, cy, w, h in pixels
    output[:, 4:] **= 8  # mostly low scores, as on clean cloth
    thresholds = np.array([0.3, 0.5, 0.1, 0.9, 0.6], np.float32)
    # IoU threshold 1: NMS suppresses nothing, so every candidate comes back, best first
    for image_output, found in zip(
        output, decode_raw(output, thresholds, 1.0, anchors), strict=True
    ):
        expected = [
            (float(scores.max()), int(scores.argmax()))
            for scores in image_output[4:].T
            if scores.max() > thresholds[scores.argmax()]
        ]
        assert len(expected) > 10
        assert sorted(
            zip(found.confidence.tolist(), found.class_id.tolist(), strict=True)
        ) == sorted(expected)


def test_decode_raw_per_image_of_a_batch() -> None:
    output = np.concatenate([raw_output([(*A, 0.9, 0)]), raw_output([(*FAR, 0.1, 1)])])
    first, second = decode(output, OutputFormat.RAW, 0.05, 0.7, 300)
    assert len(first) == 1 and len(second) == 1 and second.class_id.tolist() == [1]


def test_decode_nms_drops_padding_and_applies_thresholds() -> None:
    output = np.zeros((1, 300, 6), np.float32)
    output[0, :3] = [
        [10, 10, 50, 50, 0.9, 1],
        [60, 60, 90, 90, 0.4, 0],
        [0, 0, 20, 20, 0.3, 1],
    ]
    [found] = decode_nms(output, 0.25, 300)
    assert found.class_id.tolist() == [1, 0, 1]
    [per_class] = decode_nms(output, np.array([0.5, 0.25], np.float32), 300)
    assert per_class.confidence.tolist() == pytest.approx([0.9, 0.3])
    [capped] = decode(output, OutputFormat.NMS, 0.0, 0.7, max_det=2)
    assert len(capped) == 2


def test_nms_iou_per_class() -> None:
    """Two boxes overlapping at IoU 0.6 in each of two classes: at 0.7 both stay, at 0.5 one."""
    pair = [(0, 0, 100, 100), (0, 25, 100, 125)]  # IoU 75 / 125 = 0.6
    boxes = np.array(pair * 2, np.float32)
    found = Detections(boxes, np.array([0.9, 0.8, 0.7, 0.6], np.float32), np.array([0, 0, 1, 1]))
    kept = nms_batched(found, np.array([0.7, 0.5], np.float32), max_det=300)
    assert kept.confidence.tolist() == pytest.approx([0.9, 0.8, 0.7])  # best first
    assert kept.class_id.tolist() == [0, 0, 1]
    assert len(nms_batched(found, np.array([0.5, 0.5], np.float32), max_det=300)) == 2
    assert len(nms_batched(found, np.array([0.7, 0.7], np.float32), max_det=2)) == 2
    with pytest.raises(ValueError, match="class id 1 has no IoU threshold"):
        nms_batched(found, np.array([0.7], np.float32), max_det=300)
    with pytest.raises(ValueError, match="iou_threshold must be in"):
        nms_batched(found, np.array([0.7, 1.5], np.float32), max_det=300)


@pytest.mark.parametrize(
    ("call", "fragment"),
    [
        (lambda: decode_raw(np.zeros((1, 12)), 0.25, 0.7, 300), "[B, 4 + classes, N]"),
        (lambda: decode_raw(np.zeros((1, 4, 10), np.float32), 0.25, 0.7, 300), "got (1, 4, 10)"),
        (lambda: decode_nms(np.zeros((1, 300, 7), np.float32), 0.25, 300), "[B, K, 6]"),
        (lambda: decode_raw(raw_output([]), 1.5, 0.7, 300), "in [0, 1]"),
        (lambda: decode_raw(raw_output([]), np.ones(3, np.float32), 0.7, 300), "or 2 (one per"),
        (lambda: decode(raw_output([]), OutputFormat.RAW, 0.25, 0.7, 0), "max_det"),
        (lambda: decode(raw_output([(*A, 0.9, 0)]), OutputFormat.RAW, 0.2, 1.5, 9), "iou_thr"),
        (lambda: decode_nms(np.full((1, 2, 6), 5, np.float32), np.ones(2), 300), "class ids 5"),
    ],
)
def test_decode_refuses_bad_input(call: Callable[[], object], fragment: str) -> None:
    with pytest.raises(ValueError) as caught:
        call()
    assert fragment in str(caught.value)


def test_thresholds_by_name() -> None:
    names = ["hole", "stain", "knot"]
    assert thresholds_by_name(names, 0.3).tolist() == pytest.approx([0.3] * 3)
    by_name = thresholds_by_name(names, {"stain": 0.6}, base=0.2)
    assert by_name.tolist() == pytest.approx([0.2, 0.6, 0.2])
    with pytest.raises(ValueError, match=r"unknown classes \['slab'\].*'hole', 'stain', 'knot'"):
        thresholds_by_name(names, {"slab": 0.5})
    assert class_thresholds(0.5, 2).dtype == np.float32


@pytest.mark.parametrize(
    ("arrays", "fragment"),
    [
        ((np.zeros((2, 3)), np.zeros(2), np.zeros(2)), "shape (N, 4)"),
        ((np.zeros((2, 4)), np.zeros(3), np.zeros(2)), "of shape (2,) for 2 boxes"),
        ((np.array([[5, 0, 1, 1]]), np.ones(1), np.zeros(1)), "x2 >= x1"),
        ((np.array([[0, 0, np.nan, 1]]), np.ones(1), np.zeros(1)), "finite"),
        ((np.zeros((1, 4)), np.ones(1), -np.ones(1)), "class ids must be >= 0"),
    ],
)
def test_detections_are_validated(arrays: tuple[np.ndarray, ...], fragment: str) -> None:
    with pytest.raises(ValueError) as caught:
        Detections(*arrays)
    assert fragment in str(caught.value)


def test_detections_helpers() -> None:
    found = Detections(np.array([[0, 0, 10, 20], [5, 5, 6, 6]]), np.array([0.2, 0.9]), [1, 0])
    assert found.xyxy_px.dtype == np.float32 and found.class_id.dtype == np.int64
    assert found.sorted_by_confidence().confidence.tolist() == pytest.approx([0.9, 0.2])
    assert found.shifted(100, 10).xyxy_px[0].tolist() == [100, 10, 110, 30]
    assert found.size_wh_px.tolist() == [[10, 20], [1, 1]]
    np.testing.assert_allclose(found.box_mm(0.5, (1000.0, 0.0))[0], [1000, 0, 1005, 10])
    assert len(Detections.merge([found, Detections.empty(), found])) == 4
    assert len(Detections.empty()) == 0 and len(Detections.merge([])) == 0
