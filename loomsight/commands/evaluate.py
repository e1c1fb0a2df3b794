"""`loomsight evaluate`: score an exported ONNX model as the camera runs it."""

from __future__ import annotations

import json
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import cast

import typer
from rich.console import Console
from rich.table import Table

from loomsight.errors import ModelFileError

SHOWN_IMAGES = 5  # missed and falsely alarmed images named on the terminal; --json has them all


def resolve_onnx(model: str, weights: Path) -> Path:
    """An .onnx path as given, or the ONNX file of a registry name."""
    from loomsight.training.registry import get_model

    if model.endswith(".onnx"):
        path = Path(model)
        if not path.is_file():
            raise ModelFileError(f"{path}: no such ONNX file")
        return path
    return get_model(weights, model).onnx_path


def evaluate_command(
    model: str = typer.Option(..., "--model", help="A registry name or an .onnx file."),
    data: Path = typer.Option(..., "--data", help="data.yaml of the labelled images."),
    split: str = typer.Option("val", "--split", help="Which split: train, val or test."),
    json_out: Path | None = typer.Option(None, "--json", help="Write the figures as JSON here."),
    agnostic: bool = typer.Option(
        False, "--agnostic", help="Score every class as one 'defect' class (other taxonomies)."
    ),
    tile: str = typer.Option(
        "auto",
        "--tile",
        help="Tiling of images larger than the model input: auto, on or off. A tiled image is "
        "also run whole for defects larger than a tile (the camera's overview).",
    ),
    weights: Path = typer.Option(Path("weights"), "--weights", help="Model registry folder."),
    threads: int = typer.Option(2, "--threads", min=1, help="ONNX Runtime threads."),
    flip_views: str | None = typer.Option(
        None,
        "--flip-views",
        help="Mirrored views run and fused with each image: 'none', or some of h, v, hv "
        "(e.g. h,v); default: the model card's.",
    ),
    no_box_scale: bool = typer.Option(
        False,
        "--no-box-scale",
        help="Boxes as the model draws them, without the card's box scales by class (to measure "
        "the size ratio a scale would correct).",
    ),
    image_scale: str = typer.Option(
        "1",
        "--image-scale",
        help="Resample each image by this factor before detection (as the camera does with "
        "detector.model_mm_per_px), or by two, across,along (e.g. 2,1): 2 for photos whose cloth "
        "looks half the size the model learnt. Boxes are scored in the image's own pixels.",
    ),
    shift: str = typer.Option(
        "none",
        "--shift",
        help="Score a shifted copy of the split, as another mill's camera might see it: none, "
        "darker, brighter, flat, warm, defocus, motion, noise, jpeg, grey, zoom-in or zoom-out "
        "(loomsight/training/image_shifts.py; the copy goes to a temporary folder).",
    ),
) -> None:
    """Evaluate MODEL on a split through loomsight.inference (the camera's code, not torch).

    Reports mAP50 and mAP50-95 (ultralytics' matching), precision and recall per class at the
    model's operating threshold, the share of defective images where a defect was found and the
    share of defect-free images (empty label file) with a false alarm. Per class, the median
    label size over the size of the reported box on it, across the box and along it: under 1,
    the model draws that class larger than labelled (`loomsight export --class-box-scale`).
    With --shift, the split is scored after one change of light, lens, sensor or scale.
    """
    from loomsight.inference.box_scale import describe_box_scales
    from loomsight.inference.detector import DetectorOptions
    from loomsight.inference.flip_views import parse_flip_views
    from loomsight.inference.image_scale import parse_image_scale
    from loomsight.inference.tiling import TilingMode
    from loomsight.training.evaluate import evaluate_onnx
    from loomsight.training.image_shifts import shift_named, write_shifted_split

    if tile not in ("auto", "on", "off"):
        raise typer.BadParameter(f"expected auto, on or off, got {tile!r}", param_hint="--tile")
    try:
        image_shift = shift_named(shift)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--shift") from None
    try:
        views = None if flip_views is None else parse_flip_views(flip_views)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--flip-views") from None
    try:
        scale_xy = parse_image_scale(image_scale)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--image-scale") from None
    onnx_path = resolve_onnx(model, weights)
    with tempfile.TemporaryDirectory(prefix="loomsight-shift-") as folder:
        scored = data
        if image_shift.name != "none":
            scored = write_shifted_split(data, split, image_shift, Path(folder))
        result = evaluate_onnx(
            onnx_path,
            scored,
            split,
            agnostic,
            cast(TilingMode, tile),
            threads,
            flip_views=views,
            box_scale={} if no_box_scale else None,
            options=DetectorOptions(image_scale=scale_xy),
        )
    if image_shift.name != "none":
        result = replace(result, data=f"{data} (shifted: {image_shift.name})")
    table = Table(title=f"{result.model} on {result.data} ({split}, {result.operating_label()})")
    columns = ("class", "images", "boxes", "precision", "recall", "mAP50", "mAP50-95")
    for column in (*columns, "label/box"):  # median size ratio across the box, along it
        table.add_column(column, justify="left" if column == "class" else "right")
    for score in result.per_class:
        ratio = score.box_size_ratio
        table.add_row(
            score.name,
            str(score.images),
            str(score.boxes),
            f"{score.precision:.3f}",
            f"{score.recall:.3f}",
            f"{score.map50:.3f}",
            f"{score.map50_95:.3f}",
            f"{ratio[0]:.2f}, {ratio[1]:.2f}" if ratio else "",
        )
    table.add_row(
        "all",
        str(result.images),
        "",
        f"{result.precision:.3f}",
        f"{result.recall:.3f}",
        f"{result.map50:.3f}",
        f"{result.map50_95:.3f}",
        style="bold",
    )
    console = Console()
    console.print(table)
    console.print(
        f"defect found in {result.image_detection_rate:.1%} of defective images; "
        f"false alarm on {result.image_false_alarm_rate:.1%} of {result.defect_free_images} "
        "defect-free images"
    )
    for images, what, key in (
        (result.missed_images, "nothing found on", "missed_images"),
        (result.false_alarm_images, "a false alarm on", "false_alarm_images"),
    ):
        if images:
            shown = ", ".join(Path(image).name for image in images[:SHOWN_IMAGES])
            more = f", ... (all in --json: {key})" if len(images) > SHOWN_IMAGES else ""
            console.print(f"{what} {len(images)} images: {shown}{more}")
    if result.line_classes:
        console.print(
            f"yarn lines joined from their pieces and traced in the image, as the camera does: "
            f"{', '.join(result.line_classes)}"
        )
    console.print(
        "label/box: the median label size over the size of the reported box on it, across the "
        "box and along it (under 1: drawn larger than labelled; export --class-box-scale)"
    )
    if result.box_scale_by_class:
        scales = describe_box_scales(result.box_scale_by_class)
        console.print(f"boxes scaled about their centre (across, along): {scales}")
    if json_out is not None:
        json_out.write_text(json.dumps(result.as_json(), indent=2) + "\n", encoding="utf-8")
