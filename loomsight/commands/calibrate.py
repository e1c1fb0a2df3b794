"""`loomsight calibrate`: a detector for a new fabric article from its defect-free cloth."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn
from rich.table import Table

from loomsight.errors import ConfigError

if TYPE_CHECKING:
    from loomsight.article.calibrate import CalibrationResult
    from loomsight.article.collect import CollectedFrames
    from loomsight.camera.settings import AgentSettings

TOKEN_ENV = "LOOMSIGHT_API_TOKEN"


def _default_work_dir(machine: str, article: str) -> Path:
    slug = re.sub(r"[^A-Za-z0-9]+", "-", article).strip("-").lower() or "article"
    return Path("calibrations") / machine / f"{slug}-{datetime.now(UTC):%Y%m%dT%H%M%SZ}"


def calibrate_command(
    machine: str = typer.Option(..., "--machine", help="The machine the article runs on."),
    article: str = typer.Option(
        ..., "--article", help="The fabric article, e.g. 'twill 3/1 navy'."
    ),
    config: Path | None = typer.Option(
        None,
        "--config",
        help="The machine's agent settings (YAML, as `loomsight inspect --config`): its camera "
        "source and calibration (mm/px, line speed) are used to collect the cloth.",
    ),
    folder: Path | None = typer.Option(
        None, "--folder", help="Or: a folder of defect-free images of the article (name order)."
    ),
    length_m: float = typer.Option(
        30.0, "--length-m", min=0.01, help="Cloth to collect from the camera, metres."
    ),
    mm_per_px: float | None = typer.Option(
        None,
        "--mm-per-px",
        min=0.001,
        help="Scale for the implanted defects' sizes [default: the agent settings' calibration; "
        "for --folder, sizes follow the measured weave].",
    ),
    weights_dir: Path = typer.Option(Path("weights"), "--weights-dir", help="Model registry."),
    base_model: str | None = typer.Option(
        None, "--base-model", help="Registry model to fine-tune [default: the active one]."
    ),
    work_dir: Path | None = typer.Option(
        None,
        "--work-dir",
        help="Where the article dataset and the training run go "
        "[default: calibrations/MACHINE/ARTICLE-TIME].",
    ),
    epochs: int = typer.Option(10, "--epochs", min=1, help="Fine-tuning epochs."),
    train_images: int = typer.Option(240, "--train-images", min=4, help="Training tiles, most."),
    test_images: int = typer.Option(80, "--test-images", min=2, help="Held-apart tiles, most."),
    tile_px: int = typer.Option(416, "--tile-px", min=32, help="Tile size = training input."),
    device: str = typer.Option("cpu", "--device", help="cpu, or a CUDA device index such as 0."),
    register: bool = typer.Option(
        True,
        "--register/--no-register",
        help="Record the model for the machine and article if it beats the current one.",
    ),
    api: str | None = typer.Option(
        None,
        "--api",
        envvar="LOOMSIGHT_API_URL",
        help="Also upload it to this API and set it for the machine and article there (when it "
        f"beats the current one); needs an admin token in {TOKEN_ENV}.",
    ),
    token: str | None = typer.Option(
        None, "--token", envvar=TOKEN_ENV, help="Admin bearer token for --api.", show_default=False
    ),
    json_out: Path | None = typer.Option(None, "--json", help="Write the result as JSON here."),
) -> None:
    """Calibrate the detector for a new fabric article from its defect-free cloth, no labels.

    Collects LENGTH_M of cloth from the machine's camera (or takes a folder of images), checks the
    frames (focus, exposure, contrast), measures the weave, and builds an article dataset: the real
    frames, and the same with synthetic defects implanted along the weave. Fine-tunes the active
    model on it (minutes on a CPU), exports it to the registry, and scores the model the machine
    ran for the article before and the new one on held-apart frames: defects found and false
    alarms on clean cloth. The new model is recorded for the machine and article only if it beats
    the old one; the table says so either way.
    """
    from loomsight.article.calibrate import CalibrationOptions, calibrate
    from loomsight.article.dataset import ArticleDatasetOptions

    if (config is None) == (folder is None):
        raise ConfigError("expected exactly one of --config (the camera) and --folder (images)")
    if api is not None and not token:
        raise ConfigError(f"--api needs an admin token: set {TOKEN_ENV} or pass --token")
    console = Console(stderr=True)
    if config is not None:
        from loomsight.camera.settings import load_settings

        settings = load_settings(config)
        frames = _from_camera(settings, length_m, console)
        mm_per_px = mm_per_px or settings.calibration.mm_per_px
    else:
        assert folder is not None
        frames = _from_folder(folder, mm_per_px, console)
    options = CalibrationOptions(
        machine_id=machine,
        article=article,
        weights_dir=weights_dir,
        work_dir=work_dir or _default_work_dir(machine, article),
        base_model=base_model,
        mm_per_px=mm_per_px,
        epochs=epochs,
        device=device,
        dataset=ArticleDatasetOptions(
            tile_px=tile_px, max_train_images=train_images, max_test_images=test_images
        ),
        register=register,
    )

    def on_epoch(epoch: int, total: int, metrics: dict[str, float]) -> None:
        map50 = metrics.get("metrics/mAP50(B)", float("nan"))
        console.print(f"epoch {epoch}/{total}: validation mAP50 {map50:.3f}")

    result = calibrate(frames, options, console.print, on_epoch)
    Console().print(_table(result))
    if result.registered and api is not None:
        _publish(api, str(token), weights_dir, result.model_name, machine, article)
        console.print(f"set for {machine} / {article!r} on {api}: its agents switch to it")
    verdict = (
        f"{result.model_name} beats {result.compared_with} on the held-apart frames"
        + (" and is now the model for this article" if result.registered else " (not recorded)")
        if result.beats
        else f"{result.model_name} does not beat {result.compared_with}: the machine keeps it"
    )
    typer.echo(f"{verdict}; calibration took {result.total_s / 60:.1f} min")
    if json_out is not None:
        json_out.write_text(json.dumps(result.as_json(), indent=2, default=str) + "\n")


def _from_camera(settings: AgentSettings, length_m: float, console: Console) -> CollectedFrames:
    from loomsight.article.collect import collect_frames
    from loomsight.camera.sources import FolderSourceConfig, open_source

    source = open_source(settings.source)
    columns = (TextColumn("collecting cloth"), BarColumn(), TextColumn("{task.description}"))
    try:
        with Progress(*columns, console=console) as progress:
            task = progress.add_task("", total=length_m)

            def on_progress(covered_m: float, total_m: float) -> None:
                progress.update(task, completed=covered_m, description=f"{covered_m:.1f} m")

            return collect_frames(
                source,
                settings.calibration,
                length_m,
                by_sequence=isinstance(settings.source, FolderSourceConfig),
                on_progress=on_progress,
            )
    finally:
        source.close()


def _from_folder(folder: Path, mm_per_px: float | None, console: Console) -> CollectedFrames:
    """The images of FOLDER in name order, each the next stretch of cloth (its length known only
    with MM_PER_PX)."""
    from loomsight.article.collect import CollectedFrames
    from loomsight.datasets.layout import read_image

    suffixes = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff"}
    paths = sorted(p for p in folder.glob("*") if p.suffix.lower() in suffixes)
    if not paths:
        raise ConfigError(f"{folder}: expected images ({', '.join(sorted(suffixes))}), found none")
    images = [read_image(path) for path in paths]
    frame_m = images[0].shape[0] * mm_per_px / 1000 if mm_per_px else 0.0
    console.print(f"{len(images)} images from {folder}")
    tops = [i * frame_m for i in range(len(images))]
    return CollectedFrames(str(folder), images, tops, len(images) * frame_m, len(images), frame_m)


def _publish(
    api: str, token: str, weights_dir: Path, name: str, machine: str, article: str
) -> None:
    import httpx

    from loomsight.article.publish import publish
    from loomsight.training.registry import get_model

    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=api, headers=headers, timeout=120.0) as client:
        publish(client, get_model(weights_dir, name), machine, article)


def _table(result: CalibrationResult) -> Table:
    table = Table(
        title=f"{result.machine_id} / {result.article!r}: held-apart frames of the article"
    )
    table.add_column("model")
    for header in ("found", "false alarms", "found at 5% FA", "threshold", "mAP50", "images"):
        table.add_column(header, justify="right")
    for when, score in (("before", result.before), ("after", result.after)):
        table.add_row(
            f"{when}: {score.model}",
            f"{score.detection_rate:.0%}",
            f"{score.false_alarm_rate:.0%}",
            f"{score.detection_at_fixed_fa:.0%}",
            f"{score.conf_threshold:.2f}",
            f"{score.map50:.3f}",
            f"{score.images} ({score.clean_images} clean)",
        )
    return table
