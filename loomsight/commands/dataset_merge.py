"""`loomsight dataset merge`: combine YOLO datasets into one, remapping class ids by name."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from loomsight.commands.dataset_check import progress_bar
from loomsight.datasets.merge import merge_datasets, parse_names_of, parse_renames


def merge_command(
    sources: list[Path] = typer.Argument(
        ...,
        metavar="SRC",
        help="Dataset folders to merge, in order (first-seen class names get the low ids); "
        "only read, never written.",
    ),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder, apart from every SRC."),
    names_of: list[str] = typer.Option(
        [],
        "--names-of",
        help="Class names of one source as SRC=NAME[,NAME...] (SRC: its path as given or its "
        "folder name), e.g. --names-of photos=defect; needed for a source without data.yaml, "
        "overrides its data.yaml otherwise. Repeat per source.",
    ),
    rename: list[str] = typer.Option(
        [],
        "--rename",
        help="OLD=NEW: call class OLD of any source NEW before the union (NEW may be an "
        "existing name, which folds the two classes together). Repeatable.",
    ),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Replace the dataset an earlier run wrote in OUT."
    ),
) -> None:
    """Merge the datasets SRC... into OUT, remapping class ids by class name.

    Merged names: the union of the sources' names in first-seen order; labels get the merged ids.

    Each image keeps its folder below images/ and gets its source's folder name as a prefix:
    photos/images/train/a.jpg -> OUT/images/train/photos__a.jpg (copied byte for byte).

    Writes OUT/data.yaml (train/val/test for the split folders, else images) and OUT/merge.json.
    """
    renames = parse_renames(rename)
    names = parse_names_of(names_of)
    with progress_bar("copying") as on_progress:
        result = merge_datasets(sources, out, names, renames, overwrite, on_progress)
    table = Table(title=f"Merged into {out}")
    for column in ("source", "images", "boxes", "ids (source -> merged)"):
        table.add_column(column, justify="right" if column in ("images", "boxes") else "left")
    for source in result.sources:
        splits = ", ".join(f"{split} {count}" for split, count in source.images.items())
        ids = "\n".join(
            f"{index} {name} -> {target} {result.names[target]}"
            for (index, target), name in zip(source.id_map.items(), source.names, strict=True)
        )
        images = f"{sum(source.images.values())} ({splits})"
        table.add_row(source.tag, images, str(source.boxes), ids)
    console = Console()
    console.print(table)
    total = sum(sum(source.images.values()) for source in result.sources)
    console.print(
        f"merged {len(result.sources)} datasets, {total} images, {len(result.names)} classes "
        f"({', '.join(result.names)}); wrote {result.data_yaml} and {result.merge_json}"
    )
