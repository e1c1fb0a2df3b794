"""`loomsight train`: fine-tune a YOLO defect detector, offline, with progress; resumable."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import typer
from rich.console import Console

from loomsight.errors import TrainingError
from loomsight.training.registry import get_model


def resolve_model(model: str | None, weights: Path) -> str:
    """An architecture yaml or checkpoint path as given; a registry name -> its checkpoint;
    nothing -> the active model's checkpoint (fine-tuning from the project's own model)."""
    if model is not None and (model.endswith((".yaml", ".yml")) or Path(model).suffix == ".pt"):
        return model
    registered = get_model(weights, model)
    if not registered.checkpoint_path.is_file():
        raise TrainingError(f"{registered.checkpoint_path}: the registered model has no checkpoint")
    return str(registered.checkpoint_path)


def train_command(
    data: Path = typer.Option(..., "--data", help="data.yaml with train and val splits."),
    model: str | None = typer.Option(
        None,
        "--model",
        help="yolo26n.yaml / yolo11n.yaml / yolov8n.yaml (from scratch), a .pt checkpoint, or a "
        "registry name (default: the active model in --weights).",
    ),
    name: str | None = typer.Option(None, "--name", help="Run name (default: a timestamp)."),
    runs: Path = typer.Option(Path("runs"), "--runs", help="Folder of training runs."),
    weights: Path = typer.Option(Path("weights"), "--weights", help="Model registry folder."),
    epochs: int = typer.Option(50, "--epochs", min=1, help="Epochs to train."),
    imgsz: int = typer.Option(416, "--imgsz", min=32, help="Training input size in pixels."),
    batch: int = typer.Option(16, "--batch", min=1, help="Images per batch."),
    device: str = typer.Option("cpu", "--device", help="cpu, or a CUDA device index such as 0."),
    workers: int = typer.Option(0, "--workers", min=0, help="Data loader worker processes."),
    seed: int = typer.Option(0, "--seed", help="Random seed (training is deterministic)."),
    time_h: float | None = typer.Option(None, "--time-h", help="Stop after this many hours."),
    cache: bool = typer.Option(
        False, "--cache", help="Hold decoded training images in memory (faster epochs, more RAM)."
    ),
    resume: bool = typer.Option(False, "--resume", help="Go on with the interrupted run --name."),
    settings: list[str] = typer.Option(
        [],
        "--set",
        help="A further ultralytics training argument as KEY=VALUE, repeatable: "
        "--set optimizer=AdamW --set lr0=0.0005 (recorded in runs/NAME/loomsight_summary.json).",
    ),
) -> None:
    """Train a detector on DATA; writes runs/NAME (ultralytics results + loomsight_summary.json).

    Ctrl-C stops it; `--resume --name NAME` goes on from the last epoch. Export the result with
    `loomsight export runs/NAME/weights/best.pt --name MODEL`.
    """
    from loomsight.training.train import TrainOptions, extra_arguments, train

    if resume and name is None:
        raise TrainingError("--resume needs the --name of the run to go on with")
    run_name = name or datetime.now().strftime("train-%Y%m%d-%H%M%S")
    options = TrainOptions(
        data_yaml=data,
        model="" if resume else resolve_model(model, weights),
        run_dir=runs / run_name,
        epochs=epochs,
        imgsz=imgsz,
        batch=batch,
        device=device,
        workers=workers,
        seed=seed,
        cache=cache,
        resume=resume,
        time_h=time_h,
        extra=extra_arguments(settings),
    )
    console = Console(stderr=True)

    def on_epoch(epoch: int, total: int, metrics: dict[str, float]) -> None:
        map50 = metrics.get("metrics/mAP50(B)", float("nan"))
        console.print(f"epoch {epoch}/{total}: val mAP50 {map50:.3f}")

    result = train(options, on_epoch)
    typer.echo(
        f"trained {result.epochs_done} epochs in {result.duration_s / 60:.1f} min; "
        f"best checkpoint {result.best_checkpoint}; "
        f"summary {result.run_dir / 'loomsight_summary.json'}"
    )
