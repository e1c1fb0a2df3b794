"""`loomsight synth`: generate a synthetic labelled fabric or yarn-board dataset."""

from __future__ import annotations

import typer


def synth_command(
    out: str = typer.Option(..., "--out", "-o", help="Output dataset folder."),
) -> None:
    """Generate a synthetic YOLO dataset of fabric (or yarn boards) with labelled defects."""
    raise typer.Exit(1)
