"""`loomsight synth`: generate a synthetic labelled fabric or yarn-board dataset."""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from typing import TypeVar

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

from loomsight.datasets.image_size import parse_size_wh
from loomsight.datasets.layout import check_output_dir, clear_output_dir
from loomsight.errors import DatasetError

E = TypeVar("E", bound=StrEnum)


def synth_command(
    out: Path = typer.Option(..., "--out", "-o", help="Output dataset folder (YOLO layout)."),
    count: int = typer.Option(200, "--count", "-n", help="Number of images."),
    seed: int = typer.Option(0, "--seed", help="Random seed; the same seed gives the same files."),
    size: str = typer.Option("640x640", "--size", help="Image size WIDTHxHEIGHT in pixels."),
    mm_per_px: float | None = typer.Option(
        None,
        "--mm-per-px",
        help="Scale of the cloth in mm per pixel (default: 0.1 fabric, 0.05 yarn-board).",
    ),
    kind: str = typer.Option("fabric", "--kind", help="What to render: fabric or yarn-board."),
    classes: str | None = typer.Option(
        None,
        "--classes",
        help="Comma-separated defect classes (default: all of the kind: fabric: hole, stain, "
        "broken_end, broken_pick, slub, knot, contamination, crease; yarn-board: slub, nep, "
        "thick_place, thin_place, foreign_fibre).",
    ),
    weaves: str = typer.Option(
        "plain,twill,satin,knit", "--weaves", help="Comma-separated weave kinds for fabric."
    ),
    defect_free: float = typer.Option(
        0.2, "--defect-free", help="Share of images without any defect (0..1)."
    ),
    max_defects: int = typer.Option(3, "--max-defects", help="Most defects in one image."),
    color: str = typer.Option("mixed", "--color", help="Camera: mixed, gray or color."),
    workers: int = typer.Option(
        0, "--workers", help="Worker processes (default: 0 = one per CPU core)."
    ),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Replace the images and labels of an earlier run in OUT."
    ),
) -> None:
    """Generate a synthetic YOLO dataset of fabric (or yarn boards) with labelled defects.

    Writes OUT/images/*.jpg, OUT/labels/*.txt, OUT/data.yaml and OUT/synth.json (the planted
    defects). Deterministic: the same options and seed give the same files.
    """
    from loomsight.datasets.synth.dataset import (
        SynthKind,
        SynthOptions,
        generate_dataset,
        parse_classes,
    )
    from loomsight.datasets.synth.weave import WeaveKind

    synth_kind = _choice(SynthKind, kind, "--kind")
    weave_kinds = tuple(_choice(WeaveKind, name.strip(), "--weaves") for name in weaves.split(","))
    grayscale = {"mixed": None, "gray": True, "color": False}.get(color, "bad")
    if grayscale == "bad":
        raise DatasetError(f"--color: expected mixed, gray or color, got {color!r}")
    if mm_per_px is None:
        mm_per_px = 0.1 if synth_kind is SynthKind.FABRIC else 0.05
    check_output_dir(out, [], overwrite)
    options = SynthOptions(
        count=count,
        seed=seed,
        size_wh=_parse_size(size),
        mm_per_px=mm_per_px,
        kind=synth_kind,
        classes=parse_classes(classes, synth_kind),
        weaves=weave_kinds,
        defect_free_share=defect_free,
        max_defects=max_defects,
        grayscale=grayscale if isinstance(grayscale, bool) else None,
    )
    clear_output_dir(out)
    n_workers = workers if workers > 0 else (os.cpu_count() or 1)
    # One BLAS thread per worker process: the workers already fill the cores.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        transient=True,
    ) as progress:
        task = progress.add_task(f"rendering {synth_kind.value}", total=count)
        summary = generate_dataset(
            options,
            out,
            workers=min(n_workers, count),
            on_progress=lambda n: progress.advance(task, n),
        )
    boxes = ", ".join(f"{name} {n}" for name, n in summary.boxes_per_class.items())
    typer.echo(
        f"wrote {summary.images} {synth_kind.value} images "
        f"({summary.defect_free_images} defect-free) "
        f"of {options.size_wh[0]}x{options.size_wh[1]} px at {mm_per_px} mm/px to {out}\n"
        f"boxes: {boxes}"
    )


def _choice(enum: type[E], value: str, option: str) -> E:
    try:
        return enum(value)
    except ValueError:
        allowed = ", ".join(str(member) for member in enum)
        raise DatasetError(f"{option}: expected one of {allowed}, got {value!r}") from None


def _parse_size(text: str) -> tuple[int, int]:
    try:
        return parse_size_wh(text)
    except ValueError as error:
        raise DatasetError(f"--size: {error}") from None
