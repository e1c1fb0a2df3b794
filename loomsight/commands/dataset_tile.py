"""`loomsight dataset tile`: cut large images into overlapping tiles at native resolution."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from loomsight.commands.dataset_check import NAMES_HELP, class_names, progress_bar
from loomsight.datasets.tiling import tile_dataset


def tile_command(
    src: Path = typer.Argument(
        ..., metavar="SRC", help="Dataset folder to tile (images/, labels/, data.yaml)."
    ),
    out: Path = typer.Option(..., "--out", "-o", help="Output dataset folder, apart from SRC."),
    tile_px: int = typer.Option(640, "--tile-px", min=1, help="Tile side in pixels."),
    overlap_px: int = typer.Option(
        64, "--overlap-px", min=0, help="Overlap of neighbouring tiles in pixels (< tile)."
    ),
    min_visible: float = typer.Option(
        0.5,
        "--min-visible",
        min=0.0,
        max=1.0,
        help="Keep a clipped box if it keeps this share of its area, or on each axis this share "
        "of its length or of the tile's length (so long creases stay in every tile).",
    ),
    names: str | None = typer.Option(None, "--names", help=NAMES_HELP),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Replace the dataset an earlier run wrote in OUT."
    ),
) -> None:
    """Tile every image of SRC (no resizing, last tile flush with the edge) into OUT.

    Tiles are named NAME__x{X}_y{Y} after their source and pixel offset; boxes are clipped to each
    tile; tiles without boxes are kept with empty label files (defect-free).
    """
    class_list = class_names(src, names)
    with progress_bar("tiling images") as on_progress:
        result = tile_dataset(
            src, out, tile_px, overlap_px, min_visible, class_list, on_progress, overwrite
        )
    Console().print(
        f"{result.images_in} images -> {result.tiles_out} tiles in {out} "
        f"({result.empty_tiles} without boxes); boxes: {result.boxes_in} in, "
        f"{result.boxes_out} out"
    )
    if class_list is None:
        Console(stderr=True).print(
            "[yellow]no data.yaml in SRC and no --names: OUT has no data.yaml[/yellow]"
        )
