"""Our detector against ultralytics' own predict on the same ONNX file: same boxes and scores.

ultralytics (8.4) predicts a fixed-size ONNX model with a square letterbox to the exported imgsz
(`LetterBox(auto=False)`) and a model of dynamic height and width, one frame at a time, with a
letterbox padded only to the stride (`auto=True`), as our detector does; RGB 0..1 input,
`non_max_suppression` (best class per anchor, conf > threshold, class-aware NMS, max_det), and
`scale_boxes` back to the frame. We must give the same boxes within 1 px, same classes and scores
within 1e-3, on frames of many sizes and aspect ratios, grey and colour. The one exception: a box
whose overlap with a better box of its class is at the IoU threshold may be kept by one NMS and
not the other (OpenCV's against torchvision's); such ties may be at most 1% of the boxes.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from loomsight.inference.decode import decode_raw
from loomsight.inference.detections import Detections
from loomsight.inference.detector import DetectorOptions, OnnxDetector
from loomsight.inference.letterbox import as_bgr
from tests.inference.conftest import IMGSZ, ExportedModels, fabric_images

CONF, IOU, MAX_DET = 0.1, 0.7, 300
BOX_TOLERANCE_PX, SCORE_TOLERANCE = 1.0, 1e-3
NMS_TIE_MARGIN = 0.1  # of IoU


def iou_with(box: np.ndarray[Any, Any], boxes: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    top_left = np.maximum(boxes[:, :2], box[:2])
    bottom_right = np.minimum(boxes[:, 2:], box[2:])
    inter = np.clip(bottom_right - top_left, 0, None).prod(axis=1)
    area = (boxes[:, 2:] - boxes[:, :2]).prod(axis=1)
    return np.asarray(inter / (area + (box[2:] - box[:2]).prod() - inter))


def near_nms_tie(detections: Detections, index: int) -> bool:
    """Whether NMS nearly suppressed box INDEX: a better box of its class overlaps it about as
    much as the IoU threshold (measured on boxes clipped to the frame, hence the margin)."""
    better = (detections.class_id == detections.class_id[index]) & (
        detections.confidence > detections.confidence[index]
    )
    overlaps = iou_with(detections.xyxy_px[index], detections.xyxy_px[better])
    return bool(len(overlaps) and abs(overlaps.max() - IOU) <= NMS_TIE_MARGIN)


def compare(ours: Detections, theirs: Detections) -> tuple[int, float, float, int]:
    """Match each of our boxes to one of theirs (same class, nearest box within the tolerances):
    the number matched, the largest box and score differences, and the boxes left unmatched on
    either side. Fails on an unmatched box that was not a near tie in NMS (the two NMS
    implementations may decide a tie at the IoU threshold differently, nothing else)."""
    unused = np.ones(len(theirs), bool)
    box_diff = score_diff = 0.0
    matched = 0
    for index, (box, score, class_id) in enumerate(
        zip(ours.xyxy_px, ours.confidence, ours.class_id, strict=True)
    ):
        box_gap = np.abs(theirs.xyxy_px - box).max(axis=1)
        score_gap = np.abs(theirs.confidence - score)
        distance = box_gap + score_gap
        distance[~unused | (theirs.class_id != class_id)] = np.inf
        distance[(box_gap > BOX_TOLERANCE_PX) | (score_gap > SCORE_TOLERANCE)] = np.inf
        if not len(distance) or not np.isfinite(distance.min()):
            assert near_nms_tie(ours, index), f"ours only, not an NMS tie: {box} {score:.4f}"
            continue
        match = int(distance.argmin())
        unused[match] = False
        matched += 1
        box_diff = max(box_diff, float(box_gap[match]))
        score_diff = max(score_diff, float(score_gap[match]))
    for index in np.flatnonzero(unused):
        assert near_nms_tie(theirs, int(index)), f"ultralytics only: {theirs.xyxy_px[index]}"
    return matched, box_diff, score_diff, len(ours) + len(theirs) - 2 * matched


def ultralytics_predict(
    ultralytics: ModuleType, onnx_path: Path, frames: list[np.ndarray[Any, Any]]
) -> list[Detections]:
    model = ultralytics.YOLO(str(onnx_path), task="detect")
    results = [  # one by one: ultralytics pads a batch of mixed sizes to the full square
        result
        for frame in frames
        for result in model.predict(
            as_bgr(frame), imgsz=IMGSZ, conf=CONF, iou=IOU, max_det=MAX_DET, verbose=False
        )
    ]
    return [
        Detections(r.boxes.xyxy.numpy(), r.boxes.conf.numpy(), r.boxes.cls.numpy().astype(int))
        for r in results
    ]


@pytest.mark.parametrize("model", ["static", "dynamic", "nms"])
def test_same_detections_as_ultralytics_predict(
    exported: ExportedModels,
    ultralytics_offline: ModuleType,
    model: str,
    record_property: Any,
) -> None:
    onnx_path = getattr(exported, model)
    frames = fabric_images(20)
    assert {frame.ndim for frame in frames} == {2, 3}  # grey and colour cameras
    options = DetectorOptions(  # ultralytics does not join line pieces (test_line_join.py)
        conf_threshold=CONF, iou_threshold=IOU, max_det=MAX_DET, tiling="off", line_classes=()
    )
    ours = OnnxDetector(onnx_path, options).detect_batch(frames)
    theirs = ultralytics_predict(ultralytics_offline, onnx_path, frames)
    compared = [compare(a, b) for a, b in zip(ours, theirs, strict=True)]
    boxes = sum(count for count, _, _, _ in compared)
    box_diff = max(diff for _, diff, _, _ in compared)
    score_diff = max(diff for _, _, diff, _ in compared)
    ties = sum(unmatched for _, _, _, unmatched in compared)
    record_property(
        "parity", f"{model}: {boxes} boxes, max {box_diff} px, {score_diff} score, {ties} ties"
    )
    assert boxes > 20 * 10
    assert ties <= boxes / 100  # NMS ties at the threshold are rare
    assert box_diff <= BOX_TOLERANCE_PX and score_diff <= SCORE_TOLERANCE


@pytest.mark.parametrize("seed", range(5))
def test_decode_matches_ultralytics_non_max_suppression(
    ultralytics_offline: ModuleType, seed: int
) -> None:
    import torch
    from ultralytics.utils.nms import non_max_suppression

    rng = np.random.default_rng(seed)
    anchors, class_count = 2000, 8
    output = np.empty((2, 4 + class_count, anchors), np.float32)
    output[:, :2] = rng.uniform(0, 640, (2, 2, anchors))  # centres
    output[:, 2:4] = rng.uniform(4, 200, (2, 2, anchors))  # sizes
    output[:, 4:] = rng.uniform(0, 1, (2, class_count, anchors)) ** 4  # mostly low scores
    ours = decode_raw(output, 0.25, 0.6, max_det=100)
    theirs = non_max_suppression(torch.from_numpy(output), 0.25, 0.6, max_det=100)
    for found, expected in zip(ours, theirs, strict=True):
        expected = expected.numpy()
        assert len(found) > 50
        np.testing.assert_allclose(found.xyxy_px, expected[:, :4], atol=1e-4)
        np.testing.assert_allclose(found.confidence, expected[:, 4])
        np.testing.assert_array_equal(found.class_id, expected[:, 5])
