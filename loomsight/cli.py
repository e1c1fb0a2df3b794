"""The `loomsight` command: one Typer app whose verbs live in `loomsight.commands`.

Logging is configured here and nowhere else. Errors that callers expect (`LoomsightError`) are
printed as one clear line with exit code 2, never as a traceback.
"""

from __future__ import annotations

import logging
import sys

import typer
from rich.console import Console
from rich.logging import RichHandler

from loomsight import __version__
from loomsight.commands import (
    average,
    calibrate,
    dataset_check,
    dataset_import,
    dataset_merge,
    dataset_pull,
    dataset_split,
    dataset_tile,
    demo,
    evaluate,
    export,
    inspection,
    models,
    serve,
    synth,
    train,
)
from loomsight.errors import LoomsightError

app = typer.Typer(
    name="loomsight",
    help="Automated fabric and yarn defect inspection.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
dataset_app = typer.Typer(
    help="Work with YOLO-format datasets: import, tile, split, check, stats.",
    no_args_is_help=True,
)
app.add_typer(dataset_app, name="dataset")
dataset_app.command("tile")(dataset_tile.tile_command)
dataset_app.command("split")(dataset_split.split_command)
dataset_app.command("check")(dataset_check.check_command)
dataset_app.command("stats")(dataset_check.stats_command)
dataset_app.command("merge")(dataset_merge.merge_command)
dataset_app.command("pull")(dataset_pull.pull_command)
dataset_app.add_typer(dataset_import.import_app, name="import")

app.command("synth")(synth.synth_command)
app.command("train")(train.train_command)
app.command("export")(export.export_command)
app.command("average")(average.average_command)
app.command("evaluate")(evaluate.evaluate_command)
app.add_typer(models.models_app, name="models")
app.command("inspect")(inspection.inspect_command)
app.command("serve")(serve.serve_command)
app.command("demo")(demo.demo_command)
app.command("calibrate")(calibrate.calibrate_command)
app.add_typer(serve.api_app, name="api")


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"loomsight {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log debug messages."),
    version: bool = typer.Option(
        False, "--version", callback=_show_version, is_eager=True, help="Print the version."
    ),
) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(message)s",
        handlers=[RichHandler(console=Console(stderr=True), show_path=False)],
    )


def main() -> None:
    """Entry point: run the app; report expected errors as one line on stderr, exit code 2."""
    try:
        app(prog_name="loomsight")
    except LoomsightError as error:
        typer.echo(f"error: {error}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
