"""Turn the detector's output tensor into boxes per image (in model-input pixels).

Two output formats of ultralytics' ONNX export:

- `RAW` `[B, 4 + nc, N]`: per anchor cx, cy, w, h in input pixels, then nc class scores already
  through a sigmoid (no objectness). Decoded as ultralytics' `non_max_suppression` does by
  default: best class per anchor, score > its class's threshold, at most `max_nms` candidates by
  score, class-aware NMS (`cv2.dnn.NMSBoxesBatched`), the first `max_det` kept.
- `NMS` `[B, K, 6]` (export with `nms=True`, or end-to-end models): x1, y1, x2, y2, score,
  class, padded with zero rows; only the thresholds and `max_det` are applied.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from enum import StrEnum

import cv2
import numpy as np
import numpy.typing as npt

from loomsight.inference.detections import Detections

logger = logging.getLogger(__name__)

Float32Array = npt.NDArray[np.float32]

MAX_NMS = 30_000
"""Most candidates per image that go into NMS (ultralytics' `max_nms`)."""


class OutputFormat(StrEnum):
    RAW = "raw"  # [B, 4 + nc, N]
    NMS = "nms"  # [B, K, 6]


def class_thresholds(conf_threshold: float | Float32Array, class_count: int) -> Float32Array:
    """One threshold per class: a float for all, or an array of `class_count` values in [0, 1]."""
    thresholds = np.asarray(conf_threshold, dtype=np.float32)
    if thresholds.ndim == 0:
        thresholds = np.full(class_count, thresholds, dtype=np.float32)
    if thresholds.shape != (class_count,):
        raise ValueError(
            f"expected one confidence threshold or {class_count} (one per class), "
            f"got {thresholds.shape[0]}"
        )
    if not bool(np.all((thresholds >= 0) & (thresholds <= 1))):
        raise ValueError(f"confidence thresholds must be in [0, 1], got {thresholds.tolist()}")
    return thresholds


def thresholds_by_name(
    names: Sequence[str],
    conf_threshold: float | Mapping[str, float],
    base: float = 0.25,
    option: str = "conf_threshold",
) -> Float32Array:
    """One threshold per class of NAMES: one for all, or by name (the others keep BASE); OPTION
    names the setting in errors."""
    if not isinstance(conf_threshold, Mapping):
        return class_thresholds(conf_threshold, len(names))
    unknown = sorted(set(conf_threshold) - set(names))
    if unknown:
        raise ValueError(
            f"{option} names unknown classes {unknown}; the model's classes are {list(names)}"
        )
    return class_thresholds(
        np.array([conf_threshold.get(name, base) for name in names], dtype=np.float32), len(names)
    )


def nms_keep(
    detections: Detections, iou_threshold: float | Float32Array, max_det: int
) -> npt.NDArray[np.int64]:
    """Class-aware NMS with `cv2.dnn.NMSBoxesBatched`: the indexes of the kept boxes, best score
    first. IOU_THRESHOLD: one for all classes, or one per class id (classes of one value share a
    run)."""
    thresholds = np.asarray(iou_threshold, dtype=np.float32)
    if not bool(np.all((thresholds >= 0) & (thresholds <= 1))):
        raise ValueError(f"iou_threshold must be in [0, 1], got {thresholds.tolist()}")
    if len(detections) == 0:
        return np.zeros(0, np.int64)
    if thresholds.ndim == 0:
        return _nms_run(detections, float(thresholds))[:max_det]
    if int(detections.class_id.max()) >= len(thresholds):
        raise ValueError(
            f"class id {int(detections.class_id.max())} has no IoU threshold "
            f"({len(thresholds)} given)"
        )
    box_iou = thresholds[detections.class_id]
    runs = [np.flatnonzero(box_iou == value) for value in np.unique(box_iou)]
    kept = np.concatenate(
        [run[_nms_run(detections.filter(run), float(box_iou[run[0]]))] for run in runs]
    )
    best_first = np.argsort(-detections.confidence[kept], kind="stable")
    return kept[best_first][:max_det]


def nms_batched(
    detections: Detections, iou_threshold: float | Float32Array, max_det: int
) -> Detections:
    """The boxes `nms_keep` keeps, best score first."""
    return detections.filter(nms_keep(detections, iou_threshold, max_det))


def _nms_run(detections: Detections, iou_threshold: float) -> npt.NDArray[np.int64]:
    xyxy = detections.xyxy_px.astype(np.float64)
    xywh = np.concatenate([xyxy[:, :2], xyxy[:, 2:] - xyxy[:, :2]], axis=1)
    keep = cv2.dnn.NMSBoxesBatched(
        xywh.tolist(),
        detections.confidence.tolist(),
        detections.class_id.tolist(),
        -1.0,  # thresholds were applied before; keep every candidate
        iou_threshold,
        1.0,
        MAX_NMS,
    )
    return np.asarray(keep, dtype=np.int64).reshape(-1)


def decode_raw(
    output: Float32Array,
    conf_threshold: float | Float32Array,
    iou_threshold: float | Float32Array,
    max_det: int,
) -> list[Detections]:
    """`[B, 4 + nc, N]` -> one `Detections` per image (input pixels), as ultralytics decodes it."""
    if output.ndim != 3 or output.shape[1] < 5:
        raise ValueError(f"expected a raw output of shape [B, 4 + classes, N], got {output.shape}")
    thresholds = class_thresholds(conf_threshold, output.shape[1] - 4)
    lowest = thresholds.min()
    results = []
    for image_output in output:
        scores = image_output[4:]
        # The best score of every anchor first, the class only for those over the lowest
        # threshold: a max over the classes costs a tenth of an argmax, and most anchors of
        # clean cloth score under every threshold.
        best = scores.max(axis=0)
        over = np.flatnonzero(best > lowest)
        class_id = scores[:, over].argmax(axis=0)
        confidence = best[over]
        keep = confidence > thresholds[class_id]
        anchors = over[keep]
        xywh = image_output[:4, anchors].T
        half_wh = xywh[:, 2:] / 2
        xyxy = np.concatenate([xywh[:, :2] - half_wh, xywh[:, :2] + half_wh], axis=1)
        candidates = Detections(xyxy, confidence[keep], class_id[keep])
        results.append(nms_batched(candidates, iou_threshold, max_det))
    return results


def decode_nms(
    output: Float32Array, conf_threshold: float | Float32Array, max_det: int
) -> list[Detections]:
    """`[B, K, 6]` (NMS inside the model) -> one `Detections` per image (input pixels)."""
    if output.ndim != 3 or output.shape[2] != 6:
        raise ValueError(f"expected an NMS output of shape [B, K, 6], got {output.shape}")
    thresholds = np.asarray(conf_threshold, dtype=np.float32)
    class_thresholds(thresholds, thresholds.size)  # checks the range
    results = []
    for rows in output:
        class_id = rows[:, 5].round().astype(np.int64)
        if (
            thresholds.ndim
            and len(class_id)
            and not 0 <= class_id.min() <= class_id.max() < len(thresholds)
        ):
            raise ValueError(
                f"model output has class ids {class_id.min()}..{class_id.max()}, "
                f"expected 0..{len(thresholds) - 1}"
            )
        box_threshold = thresholds[class_id] if thresholds.ndim else thresholds
        keep = np.flatnonzero(rows[:, 4] > box_threshold)[:max_det]
        results.append(Detections(rows[keep, :4], rows[keep, 4], class_id[keep]))
    return results


def decode(
    output: Float32Array,
    output_format: OutputFormat,
    conf_threshold: float | Float32Array,
    iou_threshold: float | Float32Array,
    max_det: int,
) -> list[Detections]:
    """Decode OUTPUT of the given format: one `Detections` per image, in input pixels."""
    if max_det < 1:
        raise ValueError(f"max_det must be at least 1, got {max_det}")
    if output_format is OutputFormat.NMS:
        return decode_nms(output, conf_threshold, max_det)
    return decode_raw(output, conf_threshold, iou_threshold, max_det)
