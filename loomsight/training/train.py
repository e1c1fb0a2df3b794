"""Fine-tune a YOLO detector with ultralytics, offline, reproducibly, with our own run summary."""

from __future__ import annotations

import json
import logging
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from loomsight.datasets.check import check_label_text
from loomsight.datasets.data_yaml import class_names_of, label_path, split_images
from loomsight.errors import DatasetError, TrainingError
from loomsight.inference.cpu_info import cpu_info
from loomsight.training import augment
from loomsight.training.offline import load_ultralytics
from loomsight.training.provenance import SUMMARY_FILE, data_fingerprint

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainOptions:
    data_yaml: Path
    model: str  # an architecture yaml (yolo26n.yaml) or a .pt checkpoint path
    run_dir: Path  # runs/<name>: ultralytics results and our summary
    epochs: int = 50
    imgsz: int = 416
    batch: int = 16
    device: str = "cpu"
    workers: int = 0
    seed: int = 0
    patience: int = 50
    cache: bool = False
    resume: bool = False
    time_h: float | None = None  # stop after this many hours (overrides epochs)
    extra: dict[str, Any] = field(default_factory=dict)  # further ultralytics train arguments


@dataclass(frozen=True)
class TrainResult:
    run_dir: Path
    best_checkpoint: Path
    last_checkpoint: Path
    epochs_done: int
    duration_s: float
    metrics: dict[str, float]


# Arguments `--set` may not change: those `loomsight train` has a flag for, those naming the run
# folder, and those keeping training offline (amp, plots) with our cloth augmentations in.
OWN_ARGUMENTS = frozenset(
    {
        *("data", "model", "epochs", "imgsz", "batch", "device", "workers", "seed"),
        *("cache", "time", "resume", "project", "name", "exist_ok", "pretrained"),
        *("amp", "plots", "augmentations"),
    }
)


def extra_arguments(items: Sequence[str]) -> dict[str, Any]:
    """Further ultralytics training arguments from KEY=VALUE strings; values are read as YAML
    (0.0005 a number, true a bool, AdamW a string). TrainingError for a malformed item or an
    argument the command owns."""
    arguments: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise TrainingError(f"--set {item!r}: expected KEY=VALUE, e.g. lr0=0.0005")
        if key in OWN_ARGUMENTS:
            raise TrainingError(f"--set {key}: set by loomsight itself or by its own flag")
        try:
            arguments[key] = yaml.safe_load(text) if text.strip() else None
        except yaml.YAMLError:
            raise TrainingError(f"--set {item!r}: the value is not readable") from None
    return arguments


def check_data_yaml(path: Path) -> list[str]:
    """Class names of a training data.yaml; DatasetError if a split is missing or empty, or a label
    file is malformed or names a class the yaml does not have."""
    names = class_names_of(path)
    for split in ("train", "val"):
        images = split_images(path, split)
        if not images:
            raise DatasetError(f"{path}: the {split} split holds no images")
        for image in images:
            label = label_path(image)
            if label.is_file():
                problems = check_label_text(label.read_text(encoding="utf-8"), label, len(names))
                if problems:
                    first = problems[0]
                    raise DatasetError(f"{first.path}: {first.kind.value}: {first.detail}")
    return names


def train(
    options: TrainOptions, on_epoch: Callable[[int, int, dict[str, float]], None] | None = None
) -> TrainResult:
    """Train; `on_epoch(epoch, epochs, metrics)` after each epoch. Ctrl-C stops after a checkpoint
    is written: run again with resume=True to go on."""
    check_data_yaml(options.data_yaml)
    ultralytics = load_ultralytics()
    if options.model.endswith(".pt") and not Path(options.model).is_file():
        raise TrainingError(f"{options.model}: checkpoint does not exist")
    _check_extra_arguments(options.extra)
    started = time.monotonic()
    if options.resume:
        last = options.run_dir / "weights" / "last.pt"
        if not last.is_file():
            raise TrainingError(f"{last}: nothing to resume (no last.pt in the run folder)")
        model = ultralytics.YOLO(str(last))
    else:
        model = _load_model(ultralytics, options.model)
    if on_epoch is not None:
        trained: list[int] = []  # epoch indices ultralytics finished training

        def note_trained(trainer: Any) -> None:
            trained.append(int(trainer.epoch))

        def report(trainer: Any) -> None:
            # ultralytics calls this again after the final validation of best.pt, with the epoch
            # index one past the last; after a time-limited run its epoch total is re-estimated
            # and may be larger, so only epochs seen training are reported.
            if trained and int(trainer.epoch) == trained[-1]:
                metrics = {k: float(v) for k, v in (trainer.metrics or {}).items()}
                on_epoch(trained[-1] + 1, max(int(trainer.epochs), trained[-1] + 1), metrics)

        model.add_callback("on_train_epoch_end", note_trained)
        model.add_callback("on_fit_epoch_end", report)
    arguments = _train_arguments(options)
    try:
        model.train(trainer=_cloth_trainer(), **arguments)
    except FileNotFoundError as error:
        raise DatasetError(f"{options.data_yaml}: {error}") from None
    trainer = model.trainer
    weights = Path(trainer.save_dir) / "weights"
    result = TrainResult(
        run_dir=Path(trainer.save_dir),
        best_checkpoint=weights / "best.pt",
        last_checkpoint=weights / "last.pt",
        epochs_done=int(trainer.epoch) + 1,
        duration_s=time.monotonic() - started,
        metrics={k: float(v) for k, v in (trainer.metrics or {}).items()},
    )
    _write_summary(options, result, arguments)
    return result


def _check_extra_arguments(extra: dict[str, Any]) -> None:
    """TrainingError naming any argument ultralytics' trainer does not know (a typo would
    otherwise stop it with its own traceback)."""
    from ultralytics.utils import DEFAULT_CFG_DICT

    unknown = sorted(set(extra) - set(DEFAULT_CFG_DICT) - OWN_ARGUMENTS)
    if unknown:
        raise TrainingError(f"not ultralytics training arguments: {', '.join(unknown)}")


def _load_model(ultralytics: Any, model: str) -> Any:
    try:
        return ultralytics.YOLO(model)
    except FileNotFoundError:
        raise TrainingError(f"{model}: no such architecture or checkpoint") from None
    except Exception as error:  # ultralytics raises bare errors on corrupt checkpoints
        raise TrainingError(f"{model}: cannot load as a YOLO model ({error})") from None


def _cloth_trainer() -> type:
    """ultralytics' detection trainer with our quarter turns in its training data."""
    from ultralytics.models.yolo.detect import DetectionTrainer

    class ClothTrainer(DetectionTrainer):
        def build_dataset(
            self, img_path: str, mode: str = "train", batch: int | None = None
        ) -> Any:
            dataset = super().build_dataset(img_path, mode, batch)
            if mode == "train":
                names = self.data["names"]
                augment.add_quarter_turns(dataset, [names[key] for key in sorted(names)])
            return dataset

    return ClothTrainer


def _train_arguments(options: TrainOptions) -> dict[str, Any]:
    arguments: dict[str, Any] = {
        "data": str(options.data_yaml),
        "epochs": options.epochs,
        "imgsz": options.imgsz,
        "batch": options.batch,
        "device": options.device,
        "workers": options.workers,
        "seed": options.seed,
        "deterministic": True,
        "patience": options.patience,
        "cache": options.cache,
        "project": str(options.run_dir.parent.resolve()),
        "name": options.run_dir.name,
        "exist_ok": True,
        # From a checkpoint of ours: start from its weights (ultralytics drops them when False).
        # From an architecture yaml: random weights; nothing is ever downloaded either way.
        "pretrained": options.model.endswith(".pt"),
        "amp": False,  # the AMP check downloads weights
        "plots": False,
        "verbose": False,
        "augmentations": augment.photometric_transforms(),
        **augment.GEOMETRIC,
    }
    if options.time_h is not None:
        arguments["time"] = options.time_h
    if options.resume:
        arguments["resume"] = True
    arguments.update(options.extra)
    return arguments


def _write_summary(options: TrainOptions, result: TrainResult, arguments: dict[str, Any]) -> None:
    printable = {k: v for k, v in arguments.items() if k != "augmentations"}
    summary = {
        "options": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(options).items()},
        "arguments": printable,
        "augmentations": augment.describe(),
        "epochs_done": result.epochs_done,
        "duration_s": round(result.duration_s, 1),
        "metrics": result.metrics,
        "data_fingerprint": data_fingerprint(options.data_yaml),
        "hardware": {
            "machine": platform.machine(),
            "processor": platform.processor(),
            "cpu": cpu_info().describe(),
            "device": options.device,
            "accelerator": _accelerator_name(options.device),
        },
        "best_checkpoint": str(result.best_checkpoint),
    }
    (result.run_dir / SUMMARY_FILE).write_text(json.dumps(summary, indent=2, default=str) + "\n")


def _accelerator_name(device: str) -> str | None:
    """The GPU's name when training ran on one (torch is present wherever training runs)."""
    if device.strip().lower() in ("cpu", "mps"):
        return None
    import torch

    if not torch.cuda.is_available():
        return None
    index = int(device.split(",")[0]) if device.split(",")[0].strip().isdigit() else 0
    return str(torch.cuda.get_device_name(index))
