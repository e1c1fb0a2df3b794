"""`loomsight export CHECKPOINT --name NAME`: ONNX and model card into the registry, checked."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import typer

from loomsight.errors import ModelFileError, TrainingError

if TYPE_CHECKING:
    from rich.progress import TaskID

    from loomsight.training.evaluate import Evaluation

T = TypeVar("T")
SAMPLES = 8
CALIBRATION_IMAGES = 32  # as measured in ../shared/ENVIRONMENT.md: enough for MinMax ranges


def _training_data(checkpoint: Path, hint: str) -> Path:
    """The data.yaml the checkpoint trained on; TrainingError naming HINT if it cannot be found."""
    import torch

    try:
        ckpt = torch.load(checkpoint, map_location="cpu", weights_only=False)
        data = Path(str((ckpt.get("train_args") or {}).get("data", "")))
    except Exception:  # reported as a missing data.yaml below; load errors come later
        data = Path()
    if not data.is_file():
        raise TrainingError(f"{checkpoint}: cannot find its training data; pass {hint}")
    return data


def spread_images(
    folder: Path | None, checkpoint: Path, split: str, option: str, count: int
) -> list[Path]:
    """Up to COUNT images spread over FOLDER (the OPTION given), else over SPLIT of the data the
    checkpoint trained on."""
    from loomsight.datasets.data_yaml import split_images
    from loomsight.datasets.layout import IMAGE_SUFFIXES

    if folder is not None:
        if not folder.is_dir():
            raise TrainingError(f"{folder}: {option} must be a folder of images")
        found = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    else:
        found = split_images(_training_data(checkpoint, f"{option} DIR"), split)
    if not found:
        where = folder if folder is not None else f"the {split} split"
        raise TrainingError(f"no images found in {where}; pass {option} DIR")
    step = max(1, len(found) // count)
    return found[::step][:count]


def _by_class(
    option: str, pairs: list[str], parse: Callable[[str], T], example: str
) -> dict[str, T]:
    """OPTION's CLASS=VALUE pairs as values by class name, each VALUE read by PARSE;
    TrainingError for a malformed one."""
    by_class: dict[str, T] = {}
    for pair in pairs:
        name, _, text = pair.partition("=")
        try:
            value = parse(text)
        except ValueError as error:
            detail = f" ({error})" if parse is not float else ""
            raise TrainingError(
                f"{option} {pair!r}: expected CLASS=VALUE, e.g. {example}{detail}"
            ) from None
        if not name.strip():
            raise TrainingError(f"{option} {pair!r}: expected CLASS=VALUE, e.g. {example}")
        by_class[name.strip()] = value
    return by_class


def _sample_images(samples: Path | None, checkpoint: Path) -> list[Path]:
    """Images for the parity check: from --samples, else the val split the checkpoint trained on."""
    return spread_images(samples, checkpoint, "val", "--samples", SAMPLES)


def export_command(
    checkpoint: Path = typer.Argument(
        ..., help="A .pt checkpoint (e.g. runs/NAME/weights/best.pt)."
    ),
    name: str = typer.Option(..., "--name", help="Registry name: weights/NAME/."),
    weights: Path = typer.Option(Path("weights"), "--weights", help="Model registry folder."),
    imgsz: int | None = typer.Option(None, "--imgsz", help="Input size (default: as trained)."),
    samples: Path | None = typer.Option(
        None, "--samples", help="Images for the parity check (default: the training val split)."
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a model of that name."),
    promote: bool = typer.Option(False, "--promote", help="Make the exported model active."),
    int8: bool = typer.Option(
        False, "--int8", help="Also write model.int8.onnx, statically quantized (faster on CPU)."
    ),
    calibration: Path | None = typer.Option(
        None,
        "--calibration",
        help=f"Images to calibrate int8 on (default: {CALIBRATION_IMAGES} of the training split).",
    ),
    data: Path | None = typer.Option(
        None, "--data", help="Evaluate the exported file(s) on this data.yaml; figures in the card."
    ),
    split: str = typer.Option("val", "--split", help="Which split of --data to evaluate on."),
    notes: str = typer.Option(
        "", "--notes", help="Free text for the card: recipe, how classes combine, known limits."
    ),
    class_conf: list[str] = typer.Option(
        [],
        "--class-conf",
        help="CLASS=SCORE: the operating threshold of one class, apart from the 0.25 of the "
        "others (e.g. knot=0.15: a class the model scores low); repeatable.",
    ),
    class_iou: list[str] = typer.Option(
        [],
        "--class-iou",
        help="CLASS=IOU: the NMS IoU threshold of one class, apart from the 0.7 of the others "
        "(e.g. knot=0.5: small defects whose duplicate boxes overlap less); repeatable.",
    ),
    class_box_scale: list[str] = typer.Option(
        [],
        "--class-box-scale",
        help="CLASS=ACROSS[,ALONG]: boxes of one class scaled about their centre, the factor "
        "for the shorter side and for the longer one (e.g. knot=0.85: a class the model draws "
        "larger than labelled, as `loomsight evaluate` measures it); repeatable.",
    ),
    fit_box_scale: Path | None = typer.Option(
        None,
        "--fit-box-scale",
        help="A data.yaml: fit the box scales on its val split, as `loomsight evaluate` measures "
        "the label/box size ratio of each class (rounded to 0.05, for classes off by more than "
        "7.5%; yarn lines left out); --class-box-scale values stay.",
    ),
    base_card: Path | None = typer.Option(
        None,
        "--base-card",
        help="The model.json of the model CHECKPOINT was fine-tuned or refined from: its "
        "version and training record (time, hardware, epochs) are kept in the new card's "
        "training.base.",
    ),
    flip_views: str = typer.Option(
        "none",
        "--flip-views",
        help="Mirrored views the detector also runs on each image and fuses with it: 'none', "
        "or some of h, v, hv (e.g. h,v: better boxes and fewer false alarms for one model run "
        "per view); written into the card, a camera can turn them off.",
    ),
) -> None:
    """Export CHECKPOINT to ONNX into weights/NAME with its model card.

    A parity check compares the ONNX model (through loomsight.inference, as the camera runs it)
    with the checkpoint on sample images, and fails the export if boxes or scores differ.
    With --int8, a statically quantized copy is written beside it; with --data, both files are
    evaluated as `loomsight evaluate` runs them and their figures go into the card.
    """
    from loomsight.inference.box_scale import describe_box_scales, parse_box_scale
    from loomsight.inference.flip_views import parse_flip_views
    from loomsight.training.export import ExportOptions, export_model
    from loomsight.training.registry import promote as promote_model

    # bad values fail before any work
    conf_by_class = _by_class("--class-conf", class_conf, float, "knot=0.15")
    iou_by_class = _by_class("--class-iou", class_iou, float, "knot=0.5")
    box_scale_by_class = _by_class(
        "--class-box-scale", class_box_scale, parse_box_scale, "knot=0.85 or slub=0.85,1"
    )
    try:
        views = parse_flip_views(flip_views)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--flip-views") from None
    if not checkpoint.is_file():  # before its samples are looked for beside its training data
        raise ModelFileError(f"{checkpoint}: checkpoint does not exist")
    card = export_model(
        ExportOptions(
            checkpoint=checkpoint,
            name=name,
            weights_dir=weights,
            sample_images=_sample_images(samples, checkpoint),
            imgsz=imgsz,
            overwrite=overwrite,
            notes=notes,
            conf_threshold_by_class=conf_by_class,
            iou_threshold_by_class=iou_by_class,
            flip_views=views,
            box_scale_by_class=box_scale_by_class,
            fit_box_scale_data=fit_box_scale,
            base_card=base_card,
            int8=int8,
            calibration_images=(
                spread_images(calibration, checkpoint, "train", "--calibration", CALIBRATION_IMAGES)
                if int8
                else ()
            ),
        )
    )
    parity = card.parity
    typer.echo(
        f"exported {card.version}: {weights / name / card.onnx.file} "
        f"({card.onnx.size_bytes / 1e6:.1f} MB, "
        f"input {card.input_size_hw[1]}x{card.input_size_hw[0]}, "
        f"{len(card.classes)} classes)"
    )
    if parity is not None:
        typer.echo(
            f"parity with the checkpoint on {parity.images} images: {parity.boxes_compared} boxes, "
            f"max box difference {parity.max_box_diff_px:.3f} px, max score difference "
            f"{parity.max_score_diff:.4f}"
        )
        if parity.boxes_compared == 0:
            typer.echo(
                "warning: the checkpoint found no defect on the parity images, so no box was "
                "compared; pass --samples with images of defects to check the export",
                err=True,
            )
    if card.box_scale_by_class:
        typer.echo(f"box scales (across, along): {describe_box_scales(card.box_scale_by_class)}")
    if card.int8 is not None:
        typer.echo(
            f"int8: {weights / name / card.int8.file} ({card.int8.size_bytes / 1e6:.1f} MB, "
            f"calibrated on {card.training['quantization']['calibration_images']} images)"
        )
    if data is not None:
        print_evaluations(*evaluate_into_card(weights / name, data, split))
    if promote:
        promote_model(weights, name)
        typer.echo(f"active model: {name}")


def evaluate_into_card(
    folder: Path, data: Path, split: str
) -> tuple[Evaluation, Evaluation | None]:
    from rich.progress import Progress

    from loomsight.training.quantize import add_evaluations

    with Progress(transient=True) as progress:
        tasks: dict[str, TaskID] = {}

        def advance(label: str, done: int, total: int) -> None:
            if label not in tasks:
                tasks[label] = progress.add_task(f"evaluating {label} on {split}", total=total)
            progress.update(tasks[label], completed=done)

        return add_evaluations(folder, data, split, on_progress=advance)[1:]


def print_evaluations(fp32: Evaluation, int8: Evaluation | None) -> None:
    from rich.console import Console
    from rich.table import Table

    scores = {"fp32": fp32, **({"int8": int8} if int8 is not None else {})}
    table = Table(
        title=f"{fp32.data} ({fp32.split}, {fp32.images} images, {fp32.operating_label()})"
    )
    for column in ("file", "mAP50", "mAP50-95", "precision", "recall", "found", "false alarms"):
        table.add_column(column, justify="left" if column == "file" else "right")
    for label, score in scores.items():
        table.add_row(
            label,
            *(
                f"{value:.3f}"
                for value in (score.map50, score.map50_95, score.precision, score.recall)
            ),
            f"{score.image_detection_rate:.1%}",
            f"{score.image_false_alarm_rate:.1%}",
        )
    Console().print(table)
