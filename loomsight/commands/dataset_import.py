"""`loomsight dataset import coco|voc|masks`: turn other label formats into a YOLO dataset."""

from __future__ import annotations

from pathlib import Path

import typer

from loomsight.datasets.importers import (
    ImportSummary,
    MaskValues,
    import_coco,
    import_masks,
    import_voc,
)

import_app = typer.Typer(
    help="Import COCO JSON, Pascal VOC XML or defect masks into a YOLO dataset folder.",
    no_args_is_help=True,
)

_OUT_HELP = "Output dataset folder (gets images/, labels/, data.yaml); apart from the source data."
_OVERWRITE_HELP = "Replace images/ and labels/ when the output folder already holds a dataset."
_IMAGES_HELP = "Folder of the source images."


@import_app.command("coco")
def coco_command(
    annotations: Path = typer.Argument(..., help="COCO instances JSON file.", show_default=False),
    images: Path = typer.Option(
        ..., "--images", help="Folder that the JSON's file_name entries are relative to."
    ),
    out: Path = typer.Option(..., "--out", "-o", help=_OUT_HELP),
    overwrite: bool = typer.Option(False, "--overwrite", help=_OVERWRITE_HELP),
) -> None:
    """Import a COCO instances JSON; category ids become classes 0..N-1 in ascending id order.

    Every listed image is imported; one without annotations gets an empty label file.
    """
    _report(import_coco(annotations, images, out, overwrite=overwrite))


@import_app.command("voc")
def voc_command(
    xml_dir: Path = typer.Argument(..., help="Folder of VOC .xml files.", show_default=False),
    images: Path = typer.Option(..., "--images", help=_IMAGES_HELP),
    out: Path = typer.Option(..., "--out", "-o", help=_OUT_HELP),
    classes: str | None = typer.Option(
        None,
        "--classes",
        help="Comma-separated class names in class-id order; any other object name is an error. "
        "Default: every name found, sorted.",
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help=_OVERWRITE_HELP),
) -> None:
    """Import Pascal VOC XML files (1-based pixel boxes); images found by their filename element.

    An image whose <filename> is not in the images folder is looked up by the XML file's stem.
    """
    class_names = None if classes is None else _split_names(classes, "--classes")
    _report(import_voc(xml_dir, images, out, class_names=class_names, overwrite=overwrite))


@import_app.command("masks")
def masks_command(
    images: Path = typer.Option(..., "--images", help=_IMAGES_HELP),
    masks: Path = typer.Option(
        ..., "--masks", help="Folder of masks, one per image with the same stem, any image format."
    ),
    out: Path = typer.Option(..., "--out", "-o", help=_OUT_HELP),
    merge_distance_px: float = typer.Option(
        5.0,
        "--merge-distance-px",
        min=0,
        help="Merge boxes of one class whose gap is at most this many pixels (until stable).",
    ),
    min_area_px: int = typer.Option(
        4, "--min-area-px", min=0, help="Drop mask components with fewer pixels than this."
    ),
    class_name: str = typer.Option(
        "defect",
        "--class-name",
        help="Class name; with --mask-values classes, comma-separated names for values 1..N.",
    ),
    mask_values: MaskValues = typer.Option(
        MaskValues.BINARY,
        "--mask-values",
        help="binary: any nonzero pixel is a defect; classes: pixel value k is class k-1.",
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help=_OVERWRITE_HELP),
) -> None:
    """Import images with defect masks; boxes are the masks' connected components.

    An image without a mask file, or with an all-zero mask, is defect-free (empty label file).
    """
    summary = import_masks(
        images,
        masks,
        out,
        class_names=_split_names(class_name, "--class-name"),
        mask_values=mask_values,
        merge_distance_px=merge_distance_px,
        min_area_px=min_area_px,
        overwrite=overwrite,
    )
    _report(summary)


def _split_names(value: str, option: str) -> list[str]:
    names = [name.strip() for name in value.split(",")]
    if not all(names) or len(set(names)) != len(names):
        raise typer.BadParameter(
            f"expected unique, non-empty comma-separated names, got {value!r}", param_hint=option
        )
    return names


def _report(summary: ImportSummary) -> None:
    typer.echo(
        f"imported {summary.images} images ({summary.defect_free_images} defect-free), "
        f"{summary.boxes} boxes, {len(summary.class_names)} classes "
        f"({', '.join(summary.class_names)}) into {summary.out_dir}"
    )
