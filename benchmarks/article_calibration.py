"""Calibrating the detector for a new article (issue #8): before/after scores and the wall time.

Each article is calibrated (`loomsight.article.calibrate`) from its defect-free cloth alone, in a
copy of the registry's active model (never in weights/), and scored before and after with
`article.scoring.score_model`: image detection rate and false-alarm rate at the model's operating
threshold, detection at 5% false alarms, mAP50. The calibrated model is scored twice: alone
("after"), and with the article's texture-anomaly score beside it ("after + texture": an image is
flagged when either reaches its own threshold; mAP50 is the detector's). The calibration keeps
the texture model only where it helps on the implanted held-apart tiles; the other test sets are
scored with it only when it was kept.

- synthetic: the check article (`CheckPrint` over `MovingWeb` seed 7, 832x416 frames at 0.1 mm/px,
  the print fixed to the roll), --metres of defect-free cloth, abutting frames, calibrated with
  the camera's scale (0.1 mm/px) as an agent's settings give it. Test sets: the
  held-apart implanted tiles of the calibration, and "real-style" defects: 416x416 tiles of the
  same web further along the roll (--real-style-start-m: one set from 100 m, 70 m past the
  calibration cloth, and one from 1,000 m) with the generator's own defects, printed the same
  way, --real-style-tiles defective and as many clean ones each (tiles, not whole frames, so both
  models see the cloth at its own scale).
- real: the photos of textile-defect-rf (one class, no defect-free photo) cut into 208x208
  quadrants; a quadrant no box (grown by 8 px) touches is clean cloth, one a box keeps (the tiling
  rule) is defective, the rest (slivers) are dropped; their scale is unknown, so calibration
  sizes the implants from the weave. One camera family of sessions
  (--real-family) is the article: calibrated on the clean quadrants of its sessions in the default
  model's val split (--real-calibrate-splits; the split of scripts/default-model, reproduced),
  tested on the clean and defective quadrants of its sessions in the test split, which the default
  model never trained on. Defects found there are of the synthetic classes: mAP50 is agnostic.
  The calibrated model's input is 224 (208 rounded up to the stride), the default model's 416, so
  a quadrant reaches the default model at twice the scale it was trained at: a control row scores
  the default model exported at 224, untuned, to tell that apart from what the tuning did.

Targets: after calibration, false alarms under 5% of clean images with a detection rate of at least
0.8 (every test set), and a synthetic calibration of 30 m under 15 minutes on 2 cores. Exits 1 if
a target is missed.
Usage: .venv/bin/python -m benchmarks.article_calibration [--article synthetic|real|both]
       [--metres 30] [--epochs 12] [--max-train 400] [--max-test 80] [--work DIR] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from rich.console import Console
from rich.table import Table

from loomsight.article.calibrate import CalibrationOptions, CalibrationResult, calibrate
from loomsight.article.collect import CollectedFrames
from loomsight.article.dataset import ArticleDatasetOptions
from loomsight.article.scoring import ArticleScore, score_model
from loomsight.datasets.labels import ImageLabels, read_yolo_labels, write_yolo_labels
from loomsight.datasets.layout import (
    DatasetItem,
    list_items,
    read_image,
    write_data_yaml,
    write_image,
)
from loomsight.datasets.split import compile_group_regex, group_key, plan_split
from loomsight.datasets.synth.moving_web import MovingWeb
from loomsight.datasets.synth.printed import CheckPrint
from loomsight.datasets.tiling import TileWindow, tile_grid, tile_labels
from loomsight.inference.texture_anomaly import TEXTURE_FILE, TextureAnomalyModel
from loomsight.training.registry import active_name, get_model

Image = npt.NDArray[np.uint8]
REPO = Path(__file__).resolve().parents[1]
REAL_DATA = (
    Path(os.environ.get("LOOMSIGHT_SHARED_DIR", REPO.parent / "shared"))
    / "datasets"
    / "textile-defect-rf"
)
SESSION_REGEX = r"^(?:expand_[a-z0-9]+_)?(?P<group>.{24})"  # as scripts/default-model splits
SPLIT_RATIOS, SPLIT_SEED = (0.8, 0.1, 0.1), 0  # `loomsight dataset split` defaults
MM_PER_PX, FRAME_WH, MODEL_TILE_PX = 0.1, (832, 416), 416
QUADRANT_PX, REAL_NOMINAL_MM_PER_PX = 208, 0.1  # the photos' scale is unknown: covered_m nominal
MODEL_STRIDE = 32
TOUCH_MARGIN_PX = 8
MAX_FALSE_ALARM_RATE, MIN_DETECTION_RATE = 0.05, 0.8
MAX_CALIBRATION_S = 15 * 60
CHECK = CheckPrint()
AFTER_WITH_TEXTURE = "after + texture"


@dataclass(frozen=True)
class Row:
    article: str
    test_set: str
    role: str  # before | after | after + texture (the texture-anomaly score beside it)
    score: ArticleScore
    judged: bool = False  # what the camera runs after calibration: the target applies

    @property
    def target_met(self) -> bool | None:
        if not self.judged:
            return None
        score = self.score
        return score.false_alarm_rate < MAX_FALSE_ALARM_RATE and (
            score.detection_rate >= MIN_DETECTION_RATE
        )


@dataclass(frozen=True)
class ArticleRun:
    article: str
    rows: list[Row]
    collect_s: float
    result: CalibrationResult
    time_target_s: float | None  # the synthetic one only

    @property
    def time_met(self) -> bool | None:
        return None if self.time_target_s is None else self.result.total_s < self.time_target_s


def window_labels(labels: ImageLabels, window: TileWindow) -> ImageLabels | None:
    """The boxes WINDOW keeps (the tiling rule), in its pixels; empty when no box grown by
    TOUCH_MARGIN_PX touches it (clean cloth); None when one does but none is kept (a sliver)."""
    x1, y1, x2, y2 = window.xyxy_px
    grown = labels.xyxy_px + np.array([-1, -1, 1, 1]) * TOUCH_MARGIN_PX
    touching = (grown[:, 0] < x2) & (grown[:, 2] > x1) & (grown[:, 1] < y2) & (grown[:, 3] > y1)
    kept = tile_labels(labels, window)
    return kept if len(kept) or not touching.any() else None


def cut(image: Image, labels: ImageLabels, tile_px: int) -> list[tuple[Image, ImageLabels]]:
    """The tiles of IMAGE with their labels (see `window_labels`), slivers left out."""
    tiles = []
    for window in tile_grid(labels.resolution_wh, tile_px, 0):
        x1, y1, x2, y2 = window.xyxy_px
        kept = window_labels(labels, window)
        if kept is not None:
            tiles.append((image[y1:y2, x1:x2], kept))
    return tiles


def write_test_set(out: Path, tiles: Sequence[tuple[Image, ImageLabels]], names: list[str]) -> Path:
    for index, (image, labels) in enumerate(tiles):
        stem = f"{'clean' if len(labels) == 0 else 'defect'}_{index:05d}"
        write_image(out / "images" / "test" / f"{stem}.png", image)  # lossless, as the camera
        write_yolo_labels(out / "labels" / "test" / f"{stem}.txt", labels)
    return write_data_yaml(out, names, {"test": "images/test"})


def copy_registry(source: Path, out: Path) -> Path:
    """A registry at OUT holding SOURCE's active model (folder and active.json) only."""
    name = active_name(source)
    if name is None:
        raise SystemExit(f"{source}: no active model to calibrate from")
    shutil.copytree(get_model(source, name).folder, out / name)
    shutil.copyfile(source / "active.json", out / "active.json")
    return out


def printed_frame(web: MovingWeb, top_m: float, index: int) -> tuple[Image, ImageLabels]:
    frame = web.frame_at(top_m, index)
    top_px = round(top_m * 1000 / web.mm_per_px)
    return CHECK.apply(frame.image, web.mm_per_px, top_px), frame.labels


def synthetic_frames(seed: int, metres: float) -> CollectedFrames:
    """METRES of defect-free check cloth in abutting frames."""
    web = MovingWeb(seed, *FRAME_WH, mm_per_px=MM_PER_PX, defects_per_100m=0)
    count = math.ceil(metres / web.frame_length_m)
    tops = [index * web.frame_length_m for index in range(count)]
    images = [printed_frame(web, top_m, index)[0] for index, top_m in enumerate(tops)]
    name = f"check print over MovingWeb seed {seed}"
    return CollectedFrames(
        name, images, tops, count * web.frame_length_m, count, web.frame_length_m
    )


def real_style_tiles(
    args: argparse.Namespace, names: list[str], start_m: float
) -> list[tuple[Image, ImageLabels]]:
    """--real-style-tiles defective and as many clean tiles, from START_M along the roll."""
    web = MovingWeb(args.seed, *FRAME_WH, mm_per_px=MM_PER_PX, defects_per_100m=args.density)
    to_model_id = np.array([names.index(name) for name in web.classes], np.int64)
    wanted, picked = args.real_style_tiles, {True: 0, False: 0}
    tiles: list[tuple[Image, ImageLabels]] = []
    for index in range(100 * wanted):
        if min(picked.values()) >= wanted:
            break
        image, labels = printed_frame(web, start_m + index * web.frame_length_m, index)
        for tile, kept in cut(image, labels, MODEL_TILE_PX):
            defective = len(kept) > 0
            if picked[defective] < wanted:
                picked[defective] += 1
                ids = to_model_id[kept.class_id]
                tiles.append((tile, ImageLabels(kept.xyxy_px, ids, kept.resolution_wh)))
    return tiles


def score_rows(
    article: str, test_set: str, data_yaml: Path, models: dict[str, Path], agnostic: bool
) -> list[Row]:
    """A row per model; the calibrated one ("after") also with its texture-anomaly score."""
    from loomsight.training.evaluate import evaluate_onnx

    rows = []
    for role, onnx_path in models.items():
        texture_path = onnx_path.parent / TEXTURE_FILE
        textures: dict[str, TextureAnomalyModel | None] = {role: None}
        if role == "after" and texture_path.is_file():  # kept by the calibration
            textures[AFTER_WITH_TEXTURE] = TextureAnomalyModel.load(texture_path)
        for texture_role, texture in textures.items():
            score = score_model(onnx_path, data_yaml, texture=texture)
            if agnostic:  # the calibrated model names synthetic classes on real defects
                any_class = evaluate_onnx(onnx_path, data_yaml, "test", agnostic=True, tiling="off")
                score = replace(score, map50=any_class.map50)
            judged = texture_role == AFTER_WITH_TEXTURE or (
                texture_role == "after" and len(textures) == 1
            )
            rows.append(Row(article, test_set, texture_role, score, judged))
    return rows


def run_calibration(
    frames: CollectedFrames,
    article: str,
    tile_px: int,
    mm_per_px: float | None,
    work: Path,
    args: argparse.Namespace,
) -> tuple[CalibrationResult, dict[str, Path]]:
    """Calibrate a copy of the registry on FRAMES; MM_PER_PX: the camera's scale, as the agent's
    settings give it to `loomsight calibrate` (None where it is not known)."""
    weights = copy_registry(args.weights, work / "weights")
    console = Console(stderr=True, width=150)
    options = CalibrationOptions(
        machine_id="bench-loom",
        article=article,
        weights_dir=weights,
        work_dir=work / "calibration",
        epochs=args.epochs,
        batch=args.batch,
        mm_per_px=mm_per_px,
        dataset=ArticleDatasetOptions(
            tile_px=tile_px,
            max_train_images=args.max_train,
            max_test_images=args.max_test,
            clean_share=args.clean_share,
        ),
    )
    result = calibrate(
        frames,
        options,
        say=lambda text: console.log(f"{article}: {text}"),
        on_epoch=lambda epoch, epochs, _metrics: console.log(f"{article}: epoch {epoch}/{epochs}"),
    )
    models = {
        "before": get_model(weights, result.compared_with).onnx_path,
        "after": get_model(weights, result.model_name).onnx_path,
    }
    return result, models


def texture_row(article: str, result: CalibrationResult) -> Row:
    """The calibrated model with its texture-anomaly score on the implanted held-apart tiles,
    which decided whether the texture model is kept."""
    role = AFTER_WITH_TEXTURE + ("" if result.texture_kept else " (not kept)")
    return Row(
        article, "implanted, held apart", role, result.after_with_texture, result.texture_kept
    )


def run_synthetic(args: argparse.Namespace, work: Path) -> ArticleRun:
    article = f"check seed {args.seed}"
    started = time.monotonic()
    frames = synthetic_frames(args.seed, args.metres)
    collect_s = time.monotonic() - started
    result, models = run_calibration(frames, article, MODEL_TILE_PX, MM_PER_PX, work, args)
    rows = [
        Row(article, "implanted, held apart", "before", result.before),
        Row(article, "implanted, held apart", "after", result.after, not result.texture_kept),
        texture_row(article, result),
    ]
    names = list(result.dataset.class_names)
    for start_m in args.real_style_start_m:
        tiles = real_style_tiles(args, names, start_m)
        data_yaml = write_test_set(work / f"real-style-{start_m:g}m", tiles, names)
        test_set = f"own defects at {start_m:g} m"
        rows += score_rows(article, test_set, data_yaml, models, agnostic=False)
    return ArticleRun(article, rows, collect_s, result, MAX_CALIBRATION_S)


def real_photos(args: argparse.Namespace, out: Path) -> dict[str, list[DatasetItem]]:
    """The family's photos (copied to OUT) by the default model's split of their session."""
    pattern = compile_group_regex(SESSION_REGEX)
    plan = plan_split(list_items(args.real_data), SPLIT_RATIOS, SPLIT_SEED, pattern)
    by_split: dict[str, list[DatasetItem]] = {}
    for folder in ("images", "labels"):
        (out / folder).mkdir(parents=True, exist_ok=True)
    wanted = [*args.real_calibrate_splits.split(","), "test"]
    for split, items in plan.items.items():
        for item in items if split in wanted else []:
            if not str(group_key(item.image_path.name, pattern)).startswith(args.real_family):
                continue
            copied = DatasetItem(
                out / "images" / item.image_path.name,
                out / "labels" / f"{item.image_path.stem}.txt",
            )
            shutil.copyfile(item.image_path, copied.image_path)
            shutil.copyfile(item.label_path, copied.label_path)
            by_split.setdefault(split, []).append(copied)
    return by_split


def quadrants(items: Sequence[DatasetItem], most: int | None) -> list[tuple[Image, ImageLabels]]:
    """The quadrants of the photos (name order, at most MOST photos), slivers left out."""
    tiles = []
    for item in list(items)[:most]:
        image = read_image(item.image_path)
        labels = read_yolo_labels(item.label_path, (image.shape[1], image.shape[0]))
        tiles += cut(image, labels, QUADRANT_PX)
    return tiles


def same_input_control(model_folder: Path, input_px: int, samples: list[Path]) -> Path:
    """The model of MODEL_FOLDER exported, untuned, at the calibrated model's input size: the
    default model letterboxes a 208 px quadrant up to 416 (twice the scale it was trained at)."""
    from loomsight.training.export import ExportOptions, export_model

    name = f"{model_folder.name}-{input_px}"
    export_model(
        ExportOptions(
            checkpoint=model_folder / "model.pt",
            name=name,
            weights_dir=model_folder.parent,
            sample_images=samples,
            imgsz=input_px,
            notes="a control: not tuned, only exported at another input size",
        )
    )
    return model_folder.parent / name / "model.onnx"


def run_real(args: argparse.Namespace, work: Path) -> ArticleRun:
    article = f"real {args.real_family}"
    names = list(get_model(args.weights).card.classes)
    if "defect" not in names:
        raise SystemExit(f"the model's classes {names} hold no 'defect' for the real labels")
    started = time.monotonic()
    by_split = real_photos(args, work / "photos")
    calibrate_splits = args.real_calibrate_splits.split(",")
    calibration_items = [item for s in calibrate_splits for item in by_split.get(s, [])]
    cloth = quadrants(calibration_items, args.real_max_photos)
    clean = [tile for tile, labels in cloth if len(labels) == 0]
    frame_m = QUADRANT_PX * REAL_NOMINAL_MM_PER_PX / 1000
    source = f"textile-defect-rf {args.real_family}, {'+'.join(calibrate_splits)} sessions"
    frames = CollectedFrames(
        source,
        clean,
        [i * frame_m for i in range(len(clean))],
        len(clean) * frame_m,
        len(cloth),
        frame_m,
    )
    collect_s = time.monotonic() - started
    # The model input must be a multiple of its stride (a 208 px export does not run); tiles of
    # 224 leave the 208 px quadrants whole.
    tile_px = math.ceil(QUADRANT_PX / MODEL_STRIDE) * MODEL_STRIDE
    result, models = run_calibration(frames, article, tile_px, None, work, args)
    rows = [
        Row(article, "implanted, held apart", "before", result.before),
        Row(article, "implanted, held apart", "after", result.after, not result.texture_kept),
        texture_row(article, result),
    ]
    names = list(result.dataset.class_names)
    test = quadrants(by_split.get("test", []), args.real_max_photos)
    defect_id = names.index("defect")
    test = [(tile, replace(kept, class_id=np.full(len(kept), defect_id))) for tile, kept in test]
    data_yaml = write_test_set(work / "real-test", test, names)
    samples = sorted((work / "real-test" / "images" / "test").glob("*.png"))[:4]
    control = same_input_control(models["before"].parent, tile_px, samples)
    models = {"before": models["before"], f"before, {tile_px} px input": control, **models}
    rows += score_rows(article, "test-split sessions", data_yaml, models, agnostic=True)
    return ArticleRun(article, rows, collect_s, result, None)


def results_table(runs: Sequence[ArticleRun]) -> Table:
    table = Table(
        title=f"article calibration: before / after, {os.cpu_count()} cores",
        caption="rates per image at the model's operating threshold; det @5% FA: detection at "
        "the threshold that lets 5% of the clean images alarm; mAP50 by class, agnostic on the "
        f"real photos; target: FA < {MAX_FALSE_ALARM_RATE:.0%} and detection >= "
        f"{MIN_DETECTION_RATE:.0%} after calibration, judged on what the camera runs (with the "
        "texture model where the calibration kept one)",
    )
    for column in ("article", "test set", "model"):
        table.add_column(column, no_wrap=True)
    columns = ["images", "clean", "detection", "false alarms", "det @5% FA", "threshold"]
    for column in [*columns, "mAP50", "target"]:
        table.add_column(column, justify="right")
    for run in runs:
        for row in run.rows:
            score, met = row.score, row.target_met
            table.add_row(
                row.article,
                row.test_set,
                row.role,
                str(score.images),
                str(score.clean_images),
                f"{score.detection_rate:.1%}",
                f"{score.false_alarm_rate:.1%}",
                f"{score.detection_at_fixed_fa:.1%}",
                f"{score.conf_threshold:.2f}",
                f"{score.map50:.3f}",
                "" if met is None else ("met" if met else "MISSED"),
            )
    return table


def wall_time_lines(runs: Sequence[ArticleRun]) -> list[str]:
    lines = []
    for run in runs:
        result = run.result
        line = (
            f"{run.article}: {result.model_name} against {result.compared_with}: calibration "
            f"{result.total_s / 60:.1f} min (training "
            f"{result.train_s / 60:.1f} min on {result.dataset.images['train']} tiles), "
            f"{result.usable_frames} usable frames, {result.covered_m:.1f} m; "
            f"frames collected in {run.collect_s:.0f} s"
        )
        if run.time_target_s is not None:
            verdict = "met" if run.time_met else "MISSED"
            line += f"; target under {run.time_target_s / 60:.0f} min: {verdict}"
        lines.append(line)
    return lines


def as_json(runs: Sequence[ArticleRun], args: argparse.Namespace, wall_s: float) -> dict[str, Any]:
    return {
        "settings": {key: str(value) for key, value in vars(args).items()},
        "cores": os.cpu_count(),
        "wall_s": round(wall_s, 1),
        "articles": [
            {
                "article": run.article,
                "model": run.result.model_name,
                "compared_with": run.result.compared_with,
                "collect_s": round(run.collect_s, 1),
                "calibration_s": round(run.result.total_s, 1),
                "train_s": round(run.result.train_s, 1),
                "time_target_met": run.time_met,
                "frames_read": run.result.frames_read,
                "usable_frames": run.result.usable_frames,
                "covered_m": round(run.result.covered_m, 3),
                "dataset_images": run.result.dataset.images,
                "beats": run.result.beats,
                "rows": [
                    {
                        "test_set": row.test_set,
                        "role": row.role,
                        **asdict(row.score),
                        "target_met": row.target_met,
                    }
                    for row in run.rows
                ],
            }
            for run in runs
        ],
    }


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    add = parser.add_argument
    add("--article", choices=("synthetic", "real", "both"), default="both")
    add("--metres", type=float, default=30.0, help="synthetic: defect-free cloth collected")
    add("--seed", type=int, default=7, help="synthetic: the MovingWeb seed")
    add("--epochs", type=int, default=CalibrationOptions.epochs)
    add("--batch", type=int, default=16)
    add(
        "--max-train",
        type=int,
        default=ArticleDatasetOptions.max_train_images,
        help="training tiles (article dataset)",
    )
    add("--max-test", type=int, default=80, help="held-apart implanted tiles")
    add("--clean-share", type=float, default=0.25, help="training tiles left defect-free")
    add("--density", type=float, default=1500.0, help="real-style defects per 100 m")
    add(
        "--real-style-start-m",
        type=float,
        nargs="+",
        default=[100.0, 1000.0],
        help="where that test set starts, in metres along the roll (past the calibration "
        "cloth); one test set per value",
    )
    add("--real-style-tiles", type=int, default=80, help="defective tiles (as many clean)")
    add("--real-data", type=Path, default=REAL_DATA, help="textile-defect-rf (only read)")
    add("--real-family", default="00j71448628", help="session name prefix: the real article")
    add("--real-calibrate-splits", default="val", help="default-model splits calibrated on")
    add("--real-max-photos", type=int, default=None, help="cap photos per side (quick checks)")
    add("--weights", type=Path, default=REPO / "weights", help="registry copied from (only read)")
    add("--work", type=Path, default=None, help="empty folder kept (default: a temporary one)")
    add("--json", type=Path, default=None, help="write the figures here")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.getLogger("loomsight.article.implant").setLevel(logging.ERROR)  # "room for 1 of 3"
    if args.work is not None and args.work.exists() and any(args.work.iterdir()):
        raise SystemExit(f"--work {args.work}: expected an empty or new folder, it holds files")
    console = Console(width=max(Console().width, 150))
    started = time.monotonic()
    runs: list[ArticleRun] = []
    with tempfile.TemporaryDirectory(prefix="article-bench-") as temporary:
        work = args.work or Path(temporary)
        if args.article in ("synthetic", "both"):
            runs.append(run_synthetic(args, work / "synthetic"))
        if args.article in ("real", "both"):
            runs.append(run_real(args, work / "real"))
    wall_s = time.monotonic() - started
    console.print(results_table(runs))
    for line in wall_time_lines(runs):
        console.print(line)
    console.print(f"whole benchmark: {wall_s / 60:.1f} min")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(as_json(runs, args, wall_s), indent=2) + "\n")
    missed = [row for run in runs for row in run.rows if row.target_met is False]
    missed_time = [run for run in runs if run.time_met is False]
    return 1 if missed or missed_time else 0


if __name__ == "__main__":
    sys.exit(main())
