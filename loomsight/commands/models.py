"""`loomsight models list | show NAME | promote NAME`: the model registry in weights/."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from loomsight.training.registry import get_model, list_models, promote

models_app = typer.Typer(
    help="The model registry (weights/): list, show, promote.", no_args_is_help=True
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
