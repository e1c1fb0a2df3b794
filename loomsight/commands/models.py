"""`loomsight models list | show NAME | promote NAME | requantize NAME`: the registry."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from loomsight.training.registry import get_model, list_models, promote

models_app = typer.Typer(
    help="The model registry (weights/): list, show, promote, requantize.", no_args_is_help=True
)

WEIGHTS_HELP = "Registry folder."


@models_app.command("list")
def list_command(
    weights: Path = typer.Option(Path("weights"), "--weights", help=WEIGHTS_HELP),
) -> None:
    """List the registered models; the active one is marked with *."""
    table = Table(title=f"models in {weights}")
    for column in ("", "name", "version", "classes", "input", "mAP50", "created"):
        table.add_column(column)
    for model in list_models(weights):
        card = model.card
        map50 = card.metrics.get("map50")
        table.add_row(
            "*" if model.active else "",
            model.name,
            card.version,
            str(len(card.classes)),
            f"{card.input_size_hw[1]}x{card.input_size_hw[0]}",
            f"{map50:.3f}" if isinstance(map50, float) else "-",
            card.created_at.isoformat(),
        )
    Console().print(table)


@models_app.command("show")
def show_command(
    name: str = typer.Argument(..., help="Model name (a folder of the registry)."),
    weights: Path = typer.Option(Path("weights"), "--weights", help=WEIGHTS_HELP),
) -> None:
    """Print a model's card (JSON)."""
    model = get_model(weights, name)
    typer.echo(model.card.model_dump_json(indent=2))


@models_app.command("promote")
def promote_command(
    name: str = typer.Argument(..., help="Model to make active."),
    weights: Path = typer.Option(Path("weights"), "--weights", help=WEIGHTS_HELP),
) -> None:
    """Make NAME the active model: the one the camera and the demo use when none is named."""
    model = promote(weights, name)
    typer.echo(f"active model: {model.name} ({model.card.version})")


@models_app.command("requantize")
def requantize_command(
    name: str = typer.Argument(..., help="Model whose int8 copy to write again."),
    weights: Path = typer.Option(Path("weights"), "--weights", help=WEIGHTS_HELP),
    calibration: Path | None = typer.Option(
        None,
        "--calibration",
        help="Images to calibrate on (default: 32 of the split the model's checkpoint trained "
        "on, as `export --int8` takes them).",
    ),
    data: Path | None = typer.Option(
        None, "--data", help="Evaluate both files on this data.yaml; figures in the card."
    ),
    split: str = typer.Option("val", "--split", help="Which split of --data to evaluate on."),
) -> None:
    """Quantize NAME's fp32 file again into its int8 copy, with the current recipe.

    For a model quantized before a change of the recipe (weights in the 7-bit range since
    2026-11-28: full-range weights saturate on CPUs without VNNI, and the int8 file then scored
    lower there than on the machine that made it). The fp32 file and the card's version stay; the
    card's int8 entry (file, sha256, recipe) is rewritten, and its figures dropped unless --data
    measures them again.
    """
    from loomsight.commands.export import (
        CALIBRATION_IMAGES,
        evaluate_into_card,
        print_evaluations,
        spread_images,
    )
    from loomsight.training.quantize import add_int8

    model = get_model(weights, name)
    images = spread_images(
        calibration, model.checkpoint_path, "train", "--calibration", CALIBRATION_IMAGES
    )
    card = add_int8(model.folder, model.card, images)
    if card.int8 is None:  # add_int8 always describes the file it wrote
        raise typer.Exit(1)
    typer.echo(
        f"int8: {model.folder / card.int8.file} ({card.int8.size_bytes / 1e6:.1f} MB, "
        f"sha256 {card.int8.sha256[:12]}, calibrated on {len(images)} images)"
    )
    if data is not None:
        print_evaluations(*evaluate_into_card(model.folder, data, split))
