"""`loomsight calibrate`: a detector for a new fabric article from its defect-free cloth."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn
from rich.table import Table

from loomsight.errors import ConfigError

if TYPE_CHECKING:
    import httpx

    from loomsight.article.calibrate import CalibrationResult
    from loomsight.article.collect import CollectedFrames
    from loomsight.article.dataset import ArticleDatasetOptions
    from loomsight.camera.settings import AgentSettings

TOKEN_ENV = "LOOMSIGHT_API_TOKEN"


def _default_work_dir(machine: str, article: str) -> Path:
    from loomsight.article.calibrate import article_slug

    slug = article_slug(article)
    return Path("calibrations") / machine / f"{slug}-{datetime.now(UTC):%Y%m%dT%H%M%SZ}"


def calibrate_command(
    machine: str | None = typer.Option(
        None, "--machine", help="The machine the article runs on [--pending: the config's]."
    ),
    article: str | None = typer.Option(
        None, "--article", help="The fabric article, e.g. 'twill 3/1 navy' [--pending: asked]."
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
        help="Scale for the implanted defects' sizes (default: the agent settings' calibration; "
        "for --folder, sizes follow the measured weave).",
    ),
    weights_dir: Path = typer.Option(Path("weights"), "--weights-dir", help="Model registry."),
    base_model: str | None = typer.Option(
        None, "--base-model", help="Registry model to fine-tune (default: the active one)."
    ),
    work_dir: Path | None = typer.Option(
        None,
        "--work-dir",
        help="Where the article dataset and the training run go "
        "(default: calibrations/MACHINE/ARTICLE-TIME).",
    ),
    epochs: int = typer.Option(12, "--epochs", min=1, help="Fine-tuning epochs."),
    train_images: int = typer.Option(400, "--train-images", min=4, help="Training tiles, most."),
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
    pending: bool = typer.Option(
        False,
        "--pending",
        help="Run the oldest calibration a QA engineer asked for on the API (machine page) for "
        "the --config machine, and report the result there; nothing to do is not an error. "
        "Run it on the machine's edge PC, e.g. from a timer.",
    ),
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
    from loomsight.article.dataset import ArticleDatasetOptions

    if (config is None) == (folder is None):
        raise ConfigError("expected exactly one of --config (the camera) and --folder (images)")
    if api is not None and not token:
        raise ConfigError(f"--api needs an admin token: set {TOKEN_ENV} or pass --token")
    if pending and (config is None or api is None):
        raise ConfigError("--pending needs --config (the machine's camera) and --api")
    if not pending and (machine is None or article is None):
        raise ConfigError("expected --machine and --article (or --pending)")
    job = _Job(
        config=config,
        folder=folder,
        mm_per_px=mm_per_px,
        weights_dir=weights_dir,
        base_model=base_model,
        work_dir=work_dir,
        epochs=epochs,
        device=device,
        dataset=ArticleDatasetOptions(
            tile_px=tile_px, max_train_images=train_images, max_test_images=test_images
        ),
        register=register,
        api=api,
        token=token,
        console=Console(stderr=True),
    )
    if pending:
        _run_pending(job)
        return
    assert machine is not None and article is not None
    result = job.run(machine, article, length_m)
    if json_out is not None:
        json_out.write_text(json.dumps(result.as_json(), indent=2, default=str) + "\n")


@dataclass
class _Job:
    """One calibration as the options describe it."""

    config: Path | None
    folder: Path | None
    mm_per_px: float | None
    weights_dir: Path
    base_model: str | None
    work_dir: Path | None
    epochs: int
    device: str
    dataset: ArticleDatasetOptions
    register: bool
    api: str | None
    token: str | None
    console: Console

    def run(self, machine: str, article: str, length_m: float) -> CalibrationResult:
        from loomsight.article.calibrate import CalibrationOptions, calibrate
        from loomsight.article.publish import publish
        from loomsight.training.registry import get_model

        mm_per_px = self.mm_per_px
        if self.config is not None:
            from loomsight.camera.settings import load_settings

            settings = load_settings(self.config)
            frames = _from_camera(settings, length_m, self.console)
            mm_per_px = mm_per_px or settings.calibration.mm_per_px
        else:
            assert self.folder is not None
            frames = _from_folder(self.folder, mm_per_px, self.console)
        if mm_per_px is None:
            self.console.print(
                "[yellow]no scale given (--mm-per-px): defects are sized from the measured weave, "
                "and a print's or stripe's repeat may be taken for the yarns[/yellow]"
            )
        options = CalibrationOptions(
            machine_id=machine,
            article=article,
            weights_dir=self.weights_dir,
            work_dir=self.work_dir or _default_work_dir(machine, article),
            base_model=self.base_model,
            mm_per_px=mm_per_px,
            epochs=self.epochs,
            device=self.device,
            dataset=self.dataset,
            register=self.register,
        )

        def on_epoch(epoch: int, total: int, metrics: dict[str, float]) -> None:
            map50 = metrics.get("metrics/mAP50(B)", float("nan"))
            self.console.print(f"epoch {epoch}/{total}: validation mAP50 {map50:.3f}")

        result = calibrate(frames, options, self.console.print, on_epoch)
        Console().print(_table(result))
        if result.registered and self.api is not None:
            with self.client() as client:
                publish(client, get_model(self.weights_dir, result.model_name), machine, article)
            self.console.print(f"set for {machine} / {article!r} on {self.api}: agents switch")
        typer.echo(f"{verdict(result)}; calibration took {result.total_s / 60:.1f} min")
        return result

    def client(self) -> httpx.Client:
        import httpx

        assert self.api is not None
        headers = {"Authorization": f"Bearer {self.token}"}
        return httpx.Client(base_url=self.api, headers=headers, timeout=120.0)


def verdict(result: CalibrationResult) -> str:
    if not result.beats:
        return f"{result.model_name} does not beat {result.compared_with}: the machine keeps it"
    recorded = " and is now the model for this article" if result.registered else " (not recorded)"
    return f"{result.model_name} beats {result.compared_with} on the held-apart frames{recorded}"


def _run_pending(job: _Job) -> None:
    """Claim the oldest pending calibration of the config's machine, run it, report how it went."""
    from loomsight.article.requests import claim_request, report_result
    from loomsight.camera.settings import load_settings
    from loomsight.training.registry import get_model

    assert job.config is not None
    machine = load_settings(job.config).machine_id
    with job.client() as client:
        request = claim_request(client, machine)
    if request is None:
        typer.echo(f"no calibration pending for {machine}")
        return
    job.console.print(
        f"calibration {request.request_id}: {request.article!r}, {request.length_m:g} m of cloth"
    )
    try:
        result = job.run(machine, request.article, request.length_m)
    except Exception as error:
        with job.client() as client:
            report_result(client, request, failed=True, message=f"{type(error).__name__}: {error}")
        raise
    card = get_model(job.weights_dir, result.model_name).card
    with job.client() as client:
        report_result(
            client,
            request,
            failed=False,
            message=verdict(result),
            model_version=card.version,
            result=json.loads(json.dumps(result.as_json(), default=str)),
        )


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


def _table(result: CalibrationResult) -> Table:
    table = Table(
        title=f"{result.machine_id} / {result.article!r}: held-apart frames of the article"
    )
    table.add_column("model")
    for header in ("found", "false alarms", "found at 5% FA", "threshold", "mAP50", "images"):
        table.add_column(header, justify="right")
    rows = (
        ("before", result.before),
        ("after", result.after),
        (
            "after, with texture anomaly" + ("" if result.texture_kept else " (not kept)"),
            result.after_with_texture,
        ),
    )
    for when, score in rows:
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
