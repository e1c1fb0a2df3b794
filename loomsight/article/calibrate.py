"""Calibrate the detector for a new article from its defect-free frames, with no labels.

1. Check the frames (focus, exposure, contrast) and keep the usable ones.
2. Measure the weave (yarn pitches, orientation) and build the article dataset: the real frames as
   background, and with synthetic defects implanted along the weave (`article.dataset`).
3. Score the model the machine runs for this article now on the held-apart part (`before`).
4. Fine-tune the base model (the active one unless named) on the article dataset, export it to
   the registry with its card saying what it was calibrated on, and score it the same way (`after`).
   Its operating threshold is set so that at most 2% of the clean validation tiles and of the
   training frames' tiles it did not train on alarm.
5. Learn the article's texture (`article.texture`) from the clean training tiles and score the
   detector with it as a second opinion (`after_with_texture`). It is kept (saved beside the
   calibrated model as TEXTURE_FILE, where a camera that loads the model from the registry runs
   it too, reporting `anomaly` events) only where it helps: where its detection rate less its
   false-alarm rate on the held-apart frames beats the detector's alone, and it had enough clean
   tiles to learn from and to set its threshold on (MIN_CLEAN_TILES each). `beats` is the
   detector's alone.
6. It beats the current model when its detection rate less its false-alarm rate on the held-apart
   frames is higher; only then is it recorded as the machine's model for the article.

Scores (`article.scoring`) run the exported ONNX file through the camera's detector.
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from loomsight.article.collect import CollectedFrames
from loomsight.article.dataset import ArticleDataset, ArticleDatasetOptions, build_article_dataset
from loomsight.article.frame_quality import QualityLimits, check_frames
from loomsight.article.scoring import (
    FIXED_FALSE_ALARM_RATE,
    ArticleScore,
    score_model,
    threshold_for_false_alarms,
    top_confidences,
)
from loomsight.article.texture import MIN_CLEAN_TILES, calibrate_texture
from loomsight.article.weave import WeaveMeasure, max_yarn_pitch_px, measure_weave
from loomsight.errors import DatasetError
from loomsight.inference.model_card import (
    CARD_FILE,
    ModelFile,
    file_sha256,
    read_card,
    write_card,
)
from loomsight.inference.texture_anomaly import TEXTURE_FILE
from loomsight.training.registry import (
    RegisteredModel,
    article_models,
    get_model,
    set_article_model,
)

logger = logging.getLogger(__name__)

WEAVE_FRAMES = 32  # frames the weave is measured on
OPERATING_FALSE_ALARM_RATE = 0.02  # on the clean validation and threshold tiles
THRESHOLD_RANGE = (0.1, 0.6)  # below 0.1: too little clean cloth to tell


@dataclass(frozen=True)
class CalibrationOptions:
    machine_id: str
    article: str
    weights_dir: Path
    work_dir: Path  # the article dataset and the training run
    base_model: str | None = None  # registry name fine-tuned from; None: the active model
    mm_per_px: float | None = None  # sizes implanted defects in mm; None: from the weave
    epochs: int = 12  # with 400 tiles: 12.3 min for 30 m of cloth on 2 cores (target 15)
    batch: int = 16
    device: str = "cpu"
    dataset: ArticleDatasetOptions = field(default_factory=ArticleDatasetOptions)
    quality: QualityLimits = field(default_factory=QualityLimits)
    min_usable_frames: int = 4
    register: bool = True  # record it for the article if it beats the current model
    seed: int = 0


@dataclass(frozen=True)
class CalibrationResult:
    machine_id: str
    article: str
    model_name: str  # the calibrated model in the registry
    compared_with: str  # the model the machine ran for the article before
    before: ArticleScore
    after: ArticleScore
    after_with_texture: ArticleScore  # the detector and the texture-anomaly score together
    texture_cell_px: int
    texture_threshold: float
    texture_kept: bool  # saved beside the model: it helped on the held-apart frames, enough cloth
    registered: bool  # recorded as the machine's model for the article
    frames_read: int
    usable_frames: int
    covered_m: float
    quality_problems: dict[str, int]
    weave: WeaveMeasure
    dataset: ArticleDataset
    train_s: float
    total_s: float

    @property
    def beats(self) -> bool:
        return self.after.margin > self.before.margin

    def as_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["dataset"]["data_yaml"] = str(self.dataset.data_yaml)
        out["beats"] = self.beats
        return out


def model_name_for(machine_id: str, article: str, now: datetime) -> str:
    """A registry name: machine, article (letters and digits) and the time, at most 64 chars."""
    return f"{machine_id[:24]}-{article_slug(article)[:24]}-{now:%Y%m%d%H%M%S}"


def article_slug(article: str) -> str:
    """ARTICLE in lower-case letters, digits and dashes, for names and folders."""
    return re.sub(r"[^A-Za-z0-9]+", "-", article).strip("-").lower() or "article"


def current_model(weights_dir: Path, machine_id: str, article: str) -> RegisteredModel:
    """What the machine runs for ARTICLE now: its calibrated model if any, else the active one."""
    name = article_models(weights_dir).get(machine_id, {}).get(article)
    return get_model(weights_dir, name)


def calibrate(
    frames: CollectedFrames,
    options: CalibrationOptions,
    say: Callable[[str], None] = logger.info,
    on_epoch: Callable[[int, int, dict[str, float]], None] | None = None,
) -> CalibrationResult:
    """Calibrate on FRAMES (defect-free cloth of the article); SAY reports each step."""
    from loomsight.training.export import ExportOptions, export_model
    from loomsight.training.train import TrainOptions, train

    started = time.monotonic()
    report = check_frames(frames.images, options.quality)
    usable = [f for f, q in zip(frames.images, report.qualities, strict=True) if q.usable]
    problems = dict(report.problem_counts)
    say(f"{len(usable)} of {len(frames.images)} frames usable ({frames.covered_m:.1f} m of cloth)")
    if len(usable) < options.min_usable_frames:
        detail = ", ".join(f"{kind}: {count}" for kind, count in problems.items()) or "none read"
        raise DatasetError(
            f"expected at least {options.min_usable_frames} usable defect-free frames, got "
            f"{len(usable)} of {len(frames.images)} ({detail}); check focus, light and the source"
        )
    weave = measure_weave(usable[:WEAVE_FRAMES], max_yarn_pitch_px(options.mm_per_px))
    say(_weave_line(weave))
    base = get_model(options.weights_dir, options.base_model)
    before_model = current_model(options.weights_dir, options.machine_id, options.article)
    dataset = build_article_dataset(
        usable,
        weave,
        options.mm_per_px,
        base.card.classes,
        options.work_dir / "dataset",
        options.dataset,
    )
    say(
        f"article dataset: {dataset.images} images, {dataset.implanted} defects implanted, "
        f"{dataset.clean_test_images} clean held-apart images"
    )
    before = score_model(before_model.onnx_path, dataset.data_yaml)
    say(_describe("before", before_model.name, before))
    if not base.checkpoint_path.is_file():
        raise DatasetError(f"{base.checkpoint_path}: the base model has no checkpoint to tune")
    imgsz = math.ceil(options.dataset.tile_px / base.card.stride) * base.card.stride
    train_started = time.monotonic()
    trained = train(
        TrainOptions(
            data_yaml=dataset.data_yaml,
            model=str(base.checkpoint_path),
            run_dir=options.work_dir / "run",
            epochs=options.epochs,
            imgsz=imgsz,
            batch=options.batch,
            device=options.device,
            seed=options.seed,
            patience=options.epochs,
        ),
        on_epoch,
    )
    train_s = time.monotonic() - train_started
    name = model_name_for(options.machine_id, options.article, datetime.now(UTC))
    calibration = {
        "machine_id": options.machine_id,
        "article": options.article,
        "source": frames.source_name,
        "covered_m": round(frames.covered_m, 3),
        "frames": len(frames.images),
        "usable_frames": len(usable),
        "weave": asdict(weave),
        "dataset": {k: v for k, v in asdict(dataset).items() if k != "data_yaml"},
        "train_s": round(train_s, 1),
    }
    test_images = sorted((options.work_dir / "dataset" / "images" / "test").glob("*.png"))
    export_model(
        ExportOptions(
            checkpoint=trained.best_checkpoint,
            name=name,
            weights_dir=options.weights_dir,
            sample_images=test_images[:4],
            imgsz=imgsz,
            training={"calibration": calibration},
            # the base model's way of looking, kept; not its box scales, which correct the
            # sizes its own weights draw (these weights are trained again)
            flip_views=base.card.flip_views,
            base_card=base.folder / CARD_FILE,
            notes=f"Calibrated for article {options.article!r} on machine {options.machine_id} "
            f"from {base.name}, on {len(usable)} defect-free frames ({frames.covered_m:.1f} m) "
            "with synthetic defects implanted along the measured weave; no labels.",
        )
    )
    registered_model = _set_operating_threshold(get_model(options.weights_dir, name), dataset)
    say(f"operating threshold {registered_model.card.conf_threshold:.2f} (validation tiles)")
    after = score_model(registered_model.onnx_path, dataset.data_yaml)
    say(_describe("after", name, after))
    texture_fit = calibrate_texture(dataset.data_yaml, weave, options.seed)
    texture = texture_fit.model
    with_texture = score_model(registered_model.onnx_path, dataset.data_yaml, texture=texture)
    helps = with_texture.margin > after.margin
    texture_kept = helps and texture_fit.enough_cloth
    if texture_kept:
        texture.save(registered_model.folder / TEXTURE_FILE)
    verdict = "kept: it helps" if texture_kept else "not kept: it does not help here"
    if helps and not texture_fit.enough_cloth:
        verdict = (
            f"not kept: {texture_fit.learnt_tiles} clean tiles to learn from and "
            f"{texture_fit.unseen_tiles} to set its threshold on are too few (at least "
            f"{MIN_CLEAN_TILES} each)"
        )
    say(
        f"texture model: {texture.cell_px} px cells, threshold {texture.threshold:.2f}; "
        + _describe("after, with it", name, with_texture)
        + f"; {verdict}"
    )
    result = CalibrationResult(
        machine_id=options.machine_id,
        article=options.article,
        model_name=name,
        compared_with=before_model.name,
        before=before,
        after=after,
        after_with_texture=with_texture,
        texture_cell_px=texture.cell_px,
        texture_threshold=texture.threshold,
        texture_kept=texture_kept,
        registered=False,
        frames_read=frames.frames_read,
        usable_frames=len(usable),
        covered_m=frames.covered_m,
        quality_problems=problems,
        weave=weave,
        dataset=dataset,
        train_s=train_s,
        total_s=time.monotonic() - started,
    )
    registered = options.register and result.beats
    if registered:
        set_article_model(options.weights_dir, options.machine_id, options.article, name)
    return _with_card_metrics(result, registered, registered_model)


def _set_operating_threshold(model: RegisteredModel, dataset: ArticleDataset) -> RegisteredModel:
    """The lowest threshold at which at most OPERATING_FALSE_ALARM_RATE of the clean validation
    and threshold tiles alarm (within THRESHOLD_RANGE), written into MODEL's card."""
    clean_scores = [
        scores[clean]
        for split in ("val", "threshold")
        if dataset.images[split]
        for scores, clean in [top_confidences(model.onnx_path, dataset.data_yaml, split)]
    ]
    threshold = threshold_for_false_alarms(np.concatenate(clean_scores), OPERATING_FALSE_ALARM_RATE)
    low, high = THRESHOLD_RANGE
    card = model.card.model_copy(update={"conf_threshold": min(max(threshold, low), high)})
    write_card(model.folder, card)
    return replace(model, card=card)


def _with_card_metrics(
    result: CalibrationResult, registered: bool, model: RegisteredModel
) -> CalibrationResult:
    """RESULT marked REGISTERED, its scores written into the calibrated model's card."""
    card = read_card(model.folder)
    metrics = {
        **card.metrics,
        "article_held_apart": {
            "before": asdict(result.before),
            "after": asdict(result.after),
            "after_with_texture": asdict(result.after_with_texture),
            "texture_model": {
                "file": TEXTURE_FILE if result.texture_kept else None,
                "cell_px": result.texture_cell_px,
                "threshold": result.texture_threshold,
            },
            "beats": result.beats,
            "registered_for_article": registered,
        },
    }
    texture_path = model.folder / TEXTURE_FILE
    texture = None
    if result.texture_kept:
        texture = ModelFile(
            file=TEXTURE_FILE,
            sha256=file_sha256(texture_path),
            size_bytes=texture_path.stat().st_size,
        )
    write_card(model.folder, card.model_copy(update={"metrics": metrics, "texture": texture}))
    return replace(result, registered=registered)


def _describe(when: str, model: str, score: ArticleScore) -> str:
    return (
        f"{when}: {model} finds a defect in {score.detection_rate:.0%} of the defective "
        f"held-apart images, false alarm in {score.false_alarm_rate:.0%} of the clean ones; "
        f"{score.detection_at_fixed_fa:.0%} found at {FIXED_FALSE_ALARM_RATE:.0%} false alarms "
        f"(mAP50 {score.map50:.3f}, {score.images} images)"
    )


def _weave_line(weave: WeaveMeasure) -> str:
    """What the frames showed of the weave, saying so where a yarn family showed no period."""
    if not weave.found:
        return "weave: no yarn period found; defects are implanted at the default yarn pitch"
    pitches = ", ".join(
        f"{family} pitch " + ("not found" if pitch is None else f"{pitch:.1f} px")
        for family, pitch in (("warp", weave.warp_pitch_px), ("weft", weave.weft_pitch_px))
    )
    return f"weave: {pitches}, turned {weave.angle_deg:.1f} degrees"
