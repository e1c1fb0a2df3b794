"""`loomsight average FIRST SECOND --weight W --out OUT`: mix two checkpoints' weights."""

from __future__ import annotations

from pathlib import Path

import typer


def average_command(
    first: Path = typer.Argument(
        ..., help="A .pt checkpoint, e.g. the model a fine-tune began from."
    ),
    second: Path = typer.Argument(
        ..., help="A .pt checkpoint of the same architecture and classes."
    ),
    weight: float = typer.Option(
        ..., "--weight", min=0.0, max=1.0, help="Share of SECOND in the mix (0: FIRST, 1: SECOND)."
    ),
    out: Path = typer.Option(..., "--out", help="Where to write the averaged checkpoint (.pt)."),
) -> None:
    """Write OUT = (1 - W) x FIRST + W x SECOND, weight by weight (a "model soup").

    Mixing a short fine-tune with the model it began from keeps most of what that model knew and
    some of what the fine-tune learnt. OUT keeps SECOND's training arguments; export it with
    `loomsight export OUT --name NAME` like any checkpoint.
    """
    from loomsight.training.average import average_checkpoints

    result = average_checkpoints(first, second, weight, out)
    typer.echo(
        f"wrote {result.checkpoint}: {1 - weight:.2f} x {first} + {weight:.2f} x {second} "
        f"({result.tensors_mixed} tensors mixed, {result.tensors_kept} counters kept)"
    )
