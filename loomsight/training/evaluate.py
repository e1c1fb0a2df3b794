"""Evaluate an exported ONNX model through loomsight.inference, the code the camera runs.

mAP uses ultralytics' own matching (`DetectionValidator.match_predictions`) and `ap_per_class`,
so the numbers mean what ultralytics' val means. Precision and recall are taken at the model's
operating threshold (its card's `conf_threshold`), as are the two plant figures: the share of
defective images where any defect was found, and the share of defect-free images (empty label
file) with any false alarm.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from loomsight.datasets.data_yaml import class_names_of, label_path, split_images, split_labels
from loomsight.datasets.labels import ImageLabels
from loomsight.datasets.layout import read_image
from loomsight.errors import DatasetError
from loomsight.inference.box_scale import BoxScale
from loomsight.inference.decode import nms_keep
from loomsight.inference.detections import Detections
from loomsight.inference.flip_views import FlipView
from loomsight.inference.tiling import TilingMode
from loomsight.training.offline import load_ultralytics

if TYPE_CHECKING:
    from loomsight.inference.detector import DetectorOptions

logger = logging.getLogger(__name__)

MAP_CONF = 0.001  # mAP is taken over the whole precision-recall curve
AGNOSTIC_NAME = "defect"
SIZE_PAIR_IOU = 0.3  # a label and the reported box on it, for the box size ratio


@dataclass(frozen=True)
class ClassScore:
    name: str
    images: int  # images holding at least one box of the class
    boxes: int
    precision: float
    recall: float
    map50: float
    map50_95: float
    # median label size over the size of the reported box of the class that overlaps the label
    # most (IoU at least SIZE_PAIR_IOU), along the box's shorter side and its longer side: under
    # 1, the model draws the class larger than labelled (`loomsight export --class-box-scale`)
    box_size_ratio: tuple[float, float] | None = None
    box_size_pairs: int = 0  # label and box pairs the ratio is the median of


@dataclass(frozen=True)
class Evaluation:
    model: str
    data: str
    split: str
    images: int
    defect_free_images: int
    conf_threshold: float  # the operating threshold, of every class but those below
    map50: float
    map50_95: float
    precision: float
    recall: float
    image_detection_rate: float
    image_false_alarm_rate: float
    per_class: list[ClassScore] = field(default_factory=list)
    line_classes: list[str] = field(default_factory=list)  # lines the detector joined and traced
    conf_threshold_by_class: dict[str, float] = field(default_factory=dict)  # model classes
    flip_views: list[str] = field(default_factory=list)  # mirrored views fused with the image
    # boxes scaled by class (shorter side, longer side), as the card or the options say
    box_scale_by_class: dict[str, BoxScale] = field(default_factory=dict)
    # each image resampled by (across, along) before detection (DetectorOptions.image_scale)
    image_scale: list[float] = field(default_factory=lambda: [1.0, 1.0])
    # the images behind the two plant figures, to look at: defective images where nothing was
    # reported, and defect-free images with a report
    missed_images: list[str] = field(default_factory=list)
    false_alarm_images: list[str] = field(default_factory=list)

    def operating_label(self) -> str:
        """The operating thresholds, as "conf 0.25" or "conf 0.25, knot 0.15"."""
        apart = ", ".join(f"{name} {value}" for name, value in self.conf_threshold_by_class.items())
        views = f", flip views {'+'.join(self.flip_views)}" if self.flip_views else ""
        across, along = self.image_scale
        scaled = "" if (across, along) == (1.0, 1.0) else f", images scaled {across:g}x{along:g}"
        return f"conf {self.conf_threshold}" + (f", {apart}" if apart else "") + views + scaled

    def as_json(self) -> dict[str, Any]:
        out = {key: value for key, value in self.__dict__.items() if key != "per_class"}
        out["per_class"] = {
            score.name: {k: v for k, v in score.__dict__.items() if k != "name"}
            for score in self.per_class
        }
        return out


class _Accumulator:
    """Per-detection correctness at IoU 0.50:0.95 and per-image plant counts."""

    def __init__(self, iouv: Any, match: Callable[..., Any], box_iou: Callable[..., Any]) -> None:
        self.iouv, self.match, self.box_iou = iouv, match, box_iou
        self.tp: list[npt.NDArray[np.bool_]] = []
        self.conf: list[npt.NDArray[np.float32]] = []
        self.pred_cls: list[npt.NDArray[np.int64]] = []
        self.target_cls: list[npt.NDArray[np.int64]] = []
        self.reported: list[npt.NDArray[np.bool_]] = []
        # per label class: (label size / box size) along the box's shorter and longer side
        self.size_ratios: dict[int, list[tuple[float, float]]] = {}
        self.defective = self.clean = 0
        self.missed: list[str] = []  # defective images where nothing was reported
        self.alarmed: list[str] = []  # defect-free images with a report

    def add(
        self,
        labels: ImageLabels,
        detections: Detections,
        reported: npt.NDArray[np.bool_],
        image: str,
    ) -> None:
        """One IMAGE: its LABELS, the DETECTIONS at the mAP threshold, and which of them the
        camera would report (at the operating threshold of their class)."""
        import torch

        order = np.argsort(-detections.confidence, kind="stable")
        detections, reported = detections.filter(order), reported[order]
        correct = np.zeros((len(detections), len(self.iouv)), dtype=bool)
        if len(labels) and len(detections):
            iou = self.box_iou(
                torch.from_numpy(labels.xyxy_px).float(),
                torch.from_numpy(detections.xyxy_px).float(),
            )
            matcher = SimpleNamespace(iouv=self.iouv)
            correct = (
                self.match(
                    matcher,
                    torch.from_numpy(detections.class_id),
                    torch.from_numpy(labels.class_id),
                    iou,
                )
                .cpu()
                .numpy()
            )
            self._add_size_ratios(labels, detections, reported, iou.cpu().numpy())
        self.tp.append(correct)
        self.conf.append(detections.confidence)
        self.pred_cls.append(detections.class_id)
        self.target_cls.append(labels.class_id)
        self.reported.append(reported)
        any_found = bool(reported.any())
        if len(labels):
            self.defective += 1
            if not any_found:
                self.missed.append(image)
        else:
            self.clean += 1
            if any_found:
                self.alarmed.append(image)

    def _add_size_ratios(
        self,
        labels: ImageLabels,
        detections: Detections,
        reported: npt.NDArray[np.bool_],
        iou: npt.NDArray[np.float32],
    ) -> None:
        """For each label, the reported box of its class that overlaps it most (IoU at least
        SIZE_PAIR_IOU): label size over box size along the box's shorter and longer side."""
        label_wh = labels.xyxy_px[:, 2:] - labels.xyxy_px[:, :2]
        box_wh = detections.size_wh_px
        for j, class_id in enumerate(labels.class_id.tolist()):
            overlap = np.where(reported & (detections.class_id == class_id), iou[j], 0.0)
            best = int(np.argmax(overlap)) if len(overlap) else -1
            if best < 0 or overlap[best] < SIZE_PAIR_IOU:
                continue
            ratio_wh = label_wh[j] / np.maximum(box_wh[best], 1e-6)
            wide = box_wh[best, 0] > box_wh[best, 1]  # the box's longer side is its width
            across, along = (ratio_wh[1], ratio_wh[0]) if wide else (ratio_wh[0], ratio_wh[1])
            self.size_ratios.setdefault(class_id, []).append((float(across), float(along)))


def evaluate(
    detect: Callable[[npt.NDArray[np.uint8]], Detections],
    data_yaml: Path,
    operating_conf: float,
    split: str = "val",
    agnostic: bool = False,
    iou_threshold: float = 0.7,
    model_label: str = "",
    on_progress: Callable[[int, int], None] | None = None,
    model_names: Sequence[str] | None = None,
    operating_conf_by_class: npt.NDArray[np.float32] | None = None,
) -> Evaluation:
    """Score `detect` (a detector's detect at conf MAP_CONF, tiling as the camera) over SPLIT.
    Precision, recall and the plant figures are taken at the threshold at which the camera
    reports a box: OPERATING_CONF, or one per class id of `detect` (OPERATING_CONF_BY_CLASS)."""
    ultralytics = load_ultralytics()
    import torch
    from ultralytics.engine.validator import BaseValidator
    from ultralytics.utils.metrics import ap_per_class, box_iou

    names = [AGNOSTIC_NAME] if agnostic else class_names_of(data_yaml)
    to_data_id = _class_map(model_names, names) if model_names and not agnostic else None
    images = split_images(data_yaml, split)
    if not images:
        raise DatasetError(f"{data_yaml}: the {split} split holds no images")
    logger.debug("evaluating with ultralytics %s", ultralytics.__version__)
    accumulator = _Accumulator(
        torch.linspace(0.5, 0.95, 10), BaseValidator.match_predictions, box_iou
    )
    for done, image_path in enumerate(images, start=1):
        image = read_image(image_path)
        size_wh = (int(image.shape[1]), int(image.shape[0]))
        labels = split_labels(image_path, size_wh)
        detections = detect(image)
        reported = detections.confidence >= (
            operating_conf
            if operating_conf_by_class is None
            else operating_conf_by_class[detections.class_id]
        )
        if to_data_id is not None:
            detections = Detections(
                detections.xyxy_px, detections.confidence, to_data_id[detections.class_id]
            )
        if agnostic:  # one class: boxes of different classes on one defect become one
            labels = ImageLabels(labels.xyxy_px, np.zeros(len(labels), np.int64), size_wh)
            detections = Detections(
                detections.xyxy_px, detections.confidence, np.zeros(len(detections), np.int64)
            )
            kept = nms_keep(detections, iou_threshold, max_det=len(detections))
            detections, reported = detections.filter(kept), reported[kept]
        elif len(labels) and int(labels.class_id.max()) >= len(names):
            raise DatasetError(
                f"{label_path(image_path)}: class id {int(labels.class_id.max())} beyond the "
                f"{len(names)} classes of {data_yaml}"
            )
        accumulator.add(labels, detections, reported, str(image_path))
        if on_progress is not None:
            on_progress(done, len(images))
    return _score(
        accumulator, names, ap_per_class, operating_conf, model_label, data_yaml, split, len(images)
    )


def evaluate_onnx(
    path: Path,
    data_yaml: Path,
    split: str = "val",
    agnostic: bool = False,
    tiling: TilingMode = "auto",
    threads: int = 2,
    on_progress: Callable[[int, int], None] | None = None,
    flip_views: tuple[FlipView, ...] | None = None,
    box_scale: dict[str, BoxScale] | None = None,
    options: DetectorOptions | None = None,
) -> Evaluation:
    """Evaluate one ONNX file as `loomsight evaluate` does: at the operating thresholds of its card
    (0.25 without one), with its flip views (or FLIP_VIEWS) and box scales (or BOX_SCALE), tiling
    large images, joining and tracing yarn lines as the camera does, classes matched by name.
    OPTIONS: the detector's other options (default the camera's); the arguments above replace
    their conf_threshold, tiling, flip_views and box_scale."""
    from loomsight.inference.decode import thresholds_by_name
    from loomsight.inference.detector import DEFAULT_CONF, DetectorOptions, OnnxDetector
    from loomsight.inference.image_scale import as_scale_xy

    options = DetectorOptions(
        **{
            **dict(options or DetectorOptions()),
            "conf_threshold": MAP_CONF,
            "tiling": tiling,
            "flip_views": flip_views,
            "box_scale": box_scale,
        }
    )
    detector = OnnxDetector(path, options, threads)
    card = detector.card
    operating = card.conf_threshold if card else DEFAULT_CONF
    by_class = card.conf_threshold_by_class if card else {}
    result = evaluate(
        detector.detect,
        data_yaml,
        operating,
        split,
        agnostic,
        detector.iou_threshold,
        model_label=detector.model_version,
        on_progress=on_progress,
        model_names=detector.names,
        operating_conf_by_class=thresholds_by_name(detector.names, by_class, operating),
    )
    line_classes = [detector.names[k] for k in sorted(detector.line_class_ids)]
    return replace(
        result,
        line_classes=line_classes,
        conf_threshold_by_class=by_class,
        flip_views=list(detector.flip_views),
        box_scale_by_class=dict(detector.box_scale),
        image_scale=list(as_scale_xy(options.image_scale)),
    )


def _class_map(model_names: Sequence[str], data_names: list[str]) -> npt.NDArray[np.int64]:
    """Model class id -> data class id, by name; a class the data lacks gets an id past the data's
    classes, so its boxes count as false positives."""
    extra = iter(range(len(data_names), len(data_names) + len(model_names)))
    return np.array(
        [data_names.index(name) if name in data_names else next(extra) for name in model_names],
        dtype=np.int64,
    )


def _score(
    acc: _Accumulator,
    names: list[str],
    ap_per_class: Callable[..., Any],
    operating_conf: float,
    model_label: str,
    data_yaml: Path,
    split: str,
    image_count: int,
) -> Evaluation:
    tp = np.concatenate(acc.tp) if acc.tp else np.zeros((0, 10), bool)
    conf = np.concatenate(acc.conf) if acc.conf else np.zeros(0, np.float32)
    pred_cls = np.concatenate(acc.pred_cls) if acc.pred_cls else np.zeros(0, np.int64)
    target_cls = np.concatenate(acc.target_cls) if acc.target_cls else np.zeros(0, np.int64)
    ap_by_class: dict[int, npt.NDArray[np.float64]] = {}
    if len(target_cls) and len(tp):
        results = ap_per_class(tp, conf, pred_cls, target_cls, names=dict(enumerate(names)))
        ap, classes = results[5], results[6]
        ap_by_class = {int(c): ap[i] for i, c in enumerate(classes)}
    kept = np.concatenate(acc.reported) if acc.reported else np.zeros(0, bool)
    per_class = []
    for class_id, name in enumerate(names):
        targets = int((target_cls == class_id).sum())
        predicted = kept & (pred_cls == class_id)
        hits = int(tp[predicted, 0].sum()) if len(tp) else 0
        ap = ap_by_class.get(class_id, np.zeros(10))
        ratios = np.array(acc.size_ratios.get(class_id, []), dtype=np.float64).reshape(-1, 2)
        across, along = np.median(ratios, axis=0) if len(ratios) else (np.nan, np.nan)
        per_class.append(
            ClassScore(
                name=name,
                images=sum(int((t == class_id).any()) for t in acc.target_cls),
                boxes=targets,
                precision=hits / max(int(predicted.sum()), 1),
                recall=hits / targets if targets else 0.0,
                map50=float(ap[0]),
                map50_95=float(ap.mean()),
                box_size_ratio=(round(float(across), 3), round(float(along), 3))
                if len(ratios)
                else None,
                box_size_pairs=len(ratios),
            )
        )
    scored = [score for score in per_class if score.boxes]
    return Evaluation(
        model=model_label,
        data=str(data_yaml),
        split=split,
        images=image_count,
        defect_free_images=acc.clean,
        conf_threshold=operating_conf,
        map50=_mean([s.map50 for s in scored]),
        map50_95=_mean([s.map50_95 for s in scored]),
        precision=_mean([s.precision for s in scored]),
        recall=_mean([s.recall for s in scored]),
        image_detection_rate=(
            (acc.defective - len(acc.missed)) / acc.defective if acc.defective else 0.0
        ),
        image_false_alarm_rate=len(acc.alarmed) / acc.clean if acc.clean else 0.0,
        per_class=per_class,
        missed_images=acc.missed,
        false_alarm_images=acc.alarmed,
    )


def _mean(values: list[float]) -> float:
    return float(np.mean(values)) if values else 0.0
