"""Export a checkpoint to ONNX into the registry, with its card, after a parity check.

Choices (measured in ../shared/ENVIRONMENT.md and benchmarks/):
- NMS outside the model: `nms=True` fixes conf 0.25 and IoU 0.7 at export time, which rules out
  per-class thresholds and the low-threshold runs mAP needs; our decode matched ultralytics exactly.
- Dynamic batch (and spatial) axes: the camera batches the tiles of a wide frame in one run.
- opset 18, simplified with onnxslim; the input size is the one the checkpoint trained at.
- The box decoder's softmax over an inner axis written out (training/softmax_axis.py): 6 to 15
  times faster in ONNX Runtime, the same numbers.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from loomsight import __version__
from loomsight.datasets.layout import read_image
from loomsight.errors import ModelFileError, TrainingError
from loomsight.inference.box_scale import MAX_FACTOR, BoxScale, is_box_scale
from loomsight.inference.flip_views import FlipView
from loomsight.inference.model_card import (
    ModelCard,
    OnnxFile,
    ParityCheck,
    read_card_file,
    write_card,
)
from loomsight.training import augment
from loomsight.training.evaluate import evaluate_onnx
from loomsight.training.offline import load_ultralytics
from loomsight.training.provenance import training_record
from loomsight.training.quantize import add_int8
from loomsight.training.registry import CHECKPOINT_FILE, ONNX_FILE, check_name
from loomsight.training.softmax_axis import write_out_inner_softmax

logger = logging.getLogger(__name__)

OPSET = 18
PARITY_TOLERANCE_PX = 2.0
PARITY_TOLERANCE_SCORE = 0.02
PARITY_CONF = 0.05  # low, so that even a young model has boxes to compare


@dataclass(frozen=True)
class ExportOptions:
    checkpoint: Path
    name: str
    weights_dir: Path
    sample_images: Sequence[Path]  # for the parity check
    imgsz: int | None = None  # default: the checkpoint's training size
    conf_threshold: float = 0.25
    conf_threshold_by_class: Mapping[str, float] = field(default_factory=dict)  # operating
    iou_threshold_by_class: Mapping[str, float] = field(default_factory=dict)  # NMS
    flip_views: tuple[FlipView, ...] = ()  # mirrored views the detector also runs and fuses
    # boxes of these classes scaled about their centre (shorter side, longer side)
    box_scale_by_class: Mapping[str, BoxScale] = field(default_factory=dict)
    # a data.yaml whose val split the box scales are fitted on (training/box_fit.py); the
    # classes box_scale_by_class names keep its values
    fit_box_scale_data: Path | None = None
    metrics: dict[str, Any] | None = None
    training: dict[str, Any] | None = None
    notes: str = ""
    overwrite: bool = False
    int8: bool = False  # also write model.int8.onnx (loomsight.training.quantize)
    calibration_images: Sequence[Path] = ()  # for int8: images like the training ones
    # the card of the model the checkpoint was fine-tuned or refined from: its version and
    # training record are kept in this card's training["base"] (how long the whole model
    # trained, and on what, over several stages)
    base_card: Path | None = None


def _check_classes(option: str, by_class: Mapping[str, object], names: list[str]) -> None:
    unknown = sorted(set(by_class) - set(names))
    if unknown:
        raise TrainingError(f"{option} names classes the model lacks: {unknown}; it has {names}")


def _check_by_class(option: str, by_class: Mapping[str, float], names: list[str]) -> None:
    _check_classes(option, by_class, names)
    outside = {name: value for name, value in by_class.items() if not 0 <= value <= 1}
    if outside:
        raise TrainingError(f"{option} values must be in [0, 1], got {outside}")


def load_checkpoint(ultralytics: Any, path: Path) -> Any:
    if not path.is_file():
        raise ModelFileError(f"{path}: checkpoint does not exist")
    try:
        return ultralytics.YOLO(str(path), task="detect")
    except Exception as error:  # ultralytics raises whatever torch.load raised
        raise ModelFileError(
            f"{path}: not a loadable YOLO checkpoint ({type(error).__name__}: {error})"
        ) from None


def export_model(options: ExportOptions) -> ModelCard:
    """Write weights/NAME/{model.onnx, model.pt, model.json}; TrainingError if parity fails."""
    folder = options.weights_dir / check_name(options.name)
    if folder.exists() and not options.overwrite:
        raise TrainingError(
            f"{folder}: a model of that name exists; choose another name or --overwrite"
        )
    base = read_card_file(options.base_card) if options.base_card is not None else None
    ultralytics = load_ultralytics()
    import onnx

    model = load_checkpoint(ultralytics, options.checkpoint)
    names = [str(name) for name in model.names.values()]
    _check_by_class("--class-conf", options.conf_threshold_by_class, names)
    _check_by_class("--class-iou", options.iou_threshold_by_class, names)
    _check_classes("--class-box-scale", options.box_scale_by_class, names)
    outside = {k: v for k, v in options.box_scale_by_class.items() if not is_box_scale(v)}
    if outside:
        raise TrainingError(
            f"--class-box-scale factors must be in (0, {MAX_FACTOR:g}], got {outside}"
        )
    train_args = dict(getattr(model.model, "args", {}) or {})
    imgsz = int(options.imgsz or train_args.get("imgsz") or 640)
    staging = options.weights_dir / f".{options.name}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    # ultralytics writes its ONNX file beside the checkpoint it loaded: pointed into staging, it
    # never overwrites the model.onnx beside a registry checkpoint exported under another name.
    model.model.pt_path = str(staging / CHECKPOINT_FILE)
    exported = Path(
        model.export(
            format="onnx",
            imgsz=imgsz,
            opset=OPSET,
            simplify=True,
            dynamic=True,
            nms=False,
            batch=1,
            device="cpu",
        )
    )
    onnx_path = staging / ONNX_FILE
    created = datetime.now(UTC).replace(microsecond=0)
    version = f"{options.name}@{created.strftime('%Y%m%dT%H%M%SZ')}"
    graph = onnx.load(str(exported))
    write_out_inner_softmax(graph)  # the box decoder's softmax, 6x faster written out
    _set_metadata(
        graph,
        {"loomsight_version": __version__, "model_version": version, "model_name": options.name},
    )
    onnx.save(graph, str(onnx_path))
    shutil.copyfile(options.checkpoint, staging / CHECKPOINT_FILE)

    parity, nms_in_model = check_parity(model, onnx_path, options.sample_images, imgsz)
    names = [str(model.names[i]) for i in range(len(model.names))]
    card = ModelCard(
        name=options.name,
        version=version,
        classes=names,
        input_size_hw=(imgsz, imgsz),
        stride=int(max(model.model.stride)),
        opset=OPSET,
        nms_in_model=nms_in_model,  # YOLO26 heads are end to end: NMS-free, 300 boxes out
        conf_threshold=options.conf_threshold,
        conf_threshold_by_class=dict(options.conf_threshold_by_class),
        iou_threshold_by_class=dict(options.iou_threshold_by_class),
        flip_views=options.flip_views,
        box_scale_by_class=dict(options.box_scale_by_class),
        created_at=created,
        onnx=OnnxFile.describe(onnx_path),
        parity=parity,
        base_model=str(train_args.get("model")) if train_args.get("model") else None,
        training={
            "args": _jsonable(train_args),
            **training_record(options.checkpoint, train_args),
            **_averaged_from(model),
            **(options.training or {}),
            **({"base": {"version": base.version, **base.training}} if base else {}),
        },
        augmentations=augment.describe(),
        metrics=options.metrics or {},
        versions=_versions(ultralytics, onnx),
        notes=options.notes,
    )
    write_card(staging, card)
    if options.fit_box_scale_data is not None:
        fit_data, given = options.fit_box_scale_data, options.box_scale_by_class
        card = _fit_box_scales(staging, card, fit_data, given)
    card = add_int8(staging, card, options.calibration_images) if options.int8 else card
    if folder.exists():
        shutil.rmtree(folder)
    staging.replace(folder)
    logger.info("exported %s to %s", options.checkpoint, folder)
    return card


def _fit_box_scales(
    folder: Path, card: ModelCard, data_yaml: Path, given: Mapping[str, BoxScale]
) -> ModelCard:
    """The card with box scales fitted on DATA_YAML's val split (the model's boxes as drawn, its
    other settings as the card has them); GIVEN scales stay. The ratios go into training."""
    from loomsight.training.box_fit import MIN_OFF, MIN_PAIRS, ROUND_TO, fit_box_scales

    logger.info("fitting box scales on the val split of %s", data_yaml)
    evaluation = evaluate_onnx(folder / card.onnx.file, data_yaml, "val", box_scale={})
    line_classes = evaluation.line_classes  # traced in the image, not scaled
    fitted = fit_box_scales(evaluation, line_classes)
    record = {
        "data": str(data_yaml),
        "split": "val",
        "rule": f"median label/box size ratio to the nearest {ROUND_TO}, for classes off 1 by "
        f"more than {MIN_OFF} over at least {MIN_PAIRS} pairs; yarn lines left out",
        "ratios": {
            score.name: {"across_along": score.box_size_ratio, "pairs": score.box_size_pairs}
            for score in evaluation.per_class
            if score.box_size_ratio is not None
        },
        "fitted": fitted,
    }
    card = card.model_copy(
        update={
            "box_scale_by_class": {**fitted, **given},
            "training": {**card.training, "box_scale_fit": record},
        }
    )
    write_card(folder, card)
    return card


def check_parity(
    model: Any, onnx_path: Path, images: Sequence[Path], imgsz: int
) -> tuple[ParityCheck, bool]:
    """Same boxes from the checkpoint (ultralytics' predict) and our ONNX detector; and whether
    the ONNX output is already NMS-ed (BxKx6). Both letterbox a frame to the stride only (the
    export has dynamic height and width), as the camera runs it."""
    from loomsight.inference.decode import OutputFormat
    from loomsight.inference.detector import DetectorOptions, OnnxDetector

    if not images:
        raise TrainingError("parity check: no sample images given")
    # Line pieces are not joined, views fused nor boxes scaled: ultralytics' predict does none.
    options = DetectorOptions(
        conf_threshold=PARITY_CONF,
        iou_threshold=0.7,
        tiling="off",
        line_classes=(),
        flip_views=(),
        box_scale={},
    )
    detector = OnnxDetector(onnx_path, options)
    worst_px, worst_score, compared = 0.0, 0.0, 0
    for path in images:
        image = read_image(path)
        reference = model.predict(
            image if image.ndim == 3 else np.dstack([image] * 3),
            imgsz=imgsz,
            conf=PARITY_CONF,
            iou=0.7,
            verbose=False,
            device="cpu",
        )[0]
        ref_xyxy = reference.boxes.xyxy.cpu().numpy()
        ref_conf = reference.boxes.conf.cpu().numpy()
        ref_cls = reference.boxes.cls.cpu().numpy().astype(int)
        ours = detector.detect(image)
        diff_px, diff_score, count = _match(
            ref_xyxy, ref_conf, ref_cls, ours.xyxy_px, ours.confidence, ours.class_id
        )
        worst_px, worst_score, compared = (
            max(worst_px, diff_px),
            max(worst_score, diff_score),
            compared + count,
        )
    parity = ParityCheck(
        images=len(images),
        boxes_compared=compared,
        max_box_diff_px=round(worst_px, 4),
        max_score_diff=round(worst_score, 5),
        tolerance_px=PARITY_TOLERANCE_PX,
        tolerance_score=PARITY_TOLERANCE_SCORE,
    )
    if worst_px > PARITY_TOLERANCE_PX or worst_score > PARITY_TOLERANCE_SCORE:
        raise TrainingError(f"parity check failed: ONNX and checkpoint differ ({parity})")
    return parity, detector.output_format is OutputFormat.NMS


def _match(
    ref_xyxy: npt.NDArray[Any],
    ref_conf: npt.NDArray[Any],
    ref_cls: npt.NDArray[Any],
    xyxy: npt.NDArray[Any],
    conf: npt.NDArray[Any],
    cls: npt.NDArray[Any],
) -> tuple[float, float, int]:
    """Worst box and score difference over boxes matched one to one (same class, nearest box).

    A box near the threshold may be kept by one and not the other: it counts as a difference of its
    score above the threshold, never as a silent pass."""
    worst_px, worst_score, used = 0.0, 0.0, set()
    for box, score, class_id in zip(ref_xyxy, ref_conf, ref_cls, strict=True):
        candidates = [i for i in range(len(xyxy)) if cls[i] == class_id and i not in used]
        if not candidates:
            worst_score = max(worst_score, float(score) - PARITY_CONF)
            continue
        best = min(candidates, key=lambda i: float(np.abs(xyxy[i] - box).max()))
        used.add(best)
        worst_px = max(worst_px, float(np.abs(xyxy[best] - box).max()))
        worst_score = max(worst_score, abs(float(conf[best]) - float(score)))
    for i in set(range(len(xyxy))) - used:
        worst_score = max(worst_score, float(conf[i]) - PARITY_CONF)
    return worst_px, worst_score, len(used)


def _averaged_from(model: Any) -> dict[str, Any]:
    """What `loomsight average` mixed (two checkpoints, a weight) if the checkpoint is a mix."""
    averaged = (getattr(model, "ckpt", None) or {}).get("averaged_from")
    return {"averaged_from": averaged} if averaged else {}


def _set_metadata(graph: Any, values: dict[str, str]) -> None:
    existing = {prop.key: prop for prop in graph.metadata_props}
    for key, value in values.items():
        if key in existing:
            existing[key].value = value
        else:
            prop = graph.metadata_props.add()
            prop.key, prop.value = key, value


def _versions(ultralytics: Any, onnx: Any) -> dict[str, str]:
    import onnxruntime
    import torch

    return {
        "loomsight": __version__,
        "ultralytics": ultralytics.__version__,
        "onnx": onnx.__version__,
        "onnxruntime": onnxruntime.__version__,
        "torch": torch.__version__,
    }


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)
