"""`loomsight export CHECKPOINT --name NAME`: ONNX and model card into the registry, checked."""

from __future__ import annotations

from pathlib import Path

import typer

from loomsight.errors import TrainingError

SAMPLES = 8


def _sample_images(samples: Path | None, checkpoint: Path) -> list[Path]:
    """Images for the parity check: from --samples, else the val split the checkpoint trained on."""
    from loomsight.datasets.data_yaml import split_images
    from loomsight.datasets.layout import IMAGE_SUFFIXES

    if samples is not None:
        if not samples.is_dir():
            raise TrainingError(f"{samples}: --samples must be a folder of images")
        found = sorted(p for p in samples.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    else:
        import torch

        try:
            ckpt = torch.load(checkpoint, map_location="cpu", weights_only=False)
            data = Path(str((ckpt.get("train_args") or {}).get("data", "")))
        except Exception:  # reported as a missing data.yaml below; load errors come later
            data = Path()
        if not data.is_file():
            raise TrainingError(f"{checkpoint}: cannot find its training data; pass --samples DIR")
        found = split_images(data, "val")
    if not found:
        raise TrainingError("no images found for the parity check; pass --samples DIR")
    step = max(1, len(found) // SAMPLES)
    return found[::step][:SAMPLES]


def export_command(
    checkpoint: Path = typer.Argument(
        ..., help="A .pt checkpoint (e.g. runs/NAME/weights/best.pt)."
    ),
    name: str = typer.Option(..., "--name", help="Registry name: weights/NAME/."),
    weights: Path = typer.Option(Path("weights"), "--weights", help="Model registry folder."),
    imgsz: int | None = typer.Option(None, "--imgsz", help="Input size [default: as trained]."),
    samples: Path | None = typer.Option(
        None, "--samples", help="Images for the parity check [default: the training val split]."
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a model of that name."),
    promote: bool = typer.Option(False, "--promote", help="Make the exported model active."),
) -> None:
    """Export CHECKPOINT to ONNX into weights/NAME with its model card.

    A parity check compares the ONNX model (through loomsight.inference, as the camera runs it)
    with the checkpoint on sample images, and fails the export if boxes or scores differ.
    """
    from loomsight.training.export import ExportOptions, export_model
    from loomsight.training.registry import promote as promote_model

    card = export_model(
        ExportOptions(
            checkpoint=checkpoint,
            name=name,
            weights_dir=weights,
            sample_images=_sample_images(samples, checkpoint),
            imgsz=imgsz,
            overwrite=overwrite,
        )
    )
    parity = card.parity
    typer.echo(
        f"exported {card.version}: {weights / name / card.onnx.file} "
        f"({card.onnx.size_bytes / 1e6:.1f} MB, "
        f"input {card.input_size_hw[1]}x{card.input_size_hw[0]}, "
        f"{len(card.classes)} classes)"
    )
    if parity is not None:
        typer.echo(
            f"parity with the checkpoint on {parity.images} images: {parity.boxes_compared} boxes, "
            f"max box difference {parity.max_box_diff_px:.3f} px, max score difference "
            f"{parity.max_score_diff:.4f}"
        )
    if promote:
        promote_model(weights, name)
        typer.echo(f"active model: {name}")
