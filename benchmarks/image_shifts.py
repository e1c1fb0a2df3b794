"""How much of the default model's score survives another mill's camera: one shift at a time.

The model is judged on fabric from mills we do not have. What differs there is the light, the
lens, the sensor, the compression and the camera's height; `loomsight.training.image_shifts`
makes each of those changes, to a fixed degree, to every image of two sets, and `evaluate` (the
camera's detector, through ONNX Runtime, with the card's thresholds, flip views and box scales)
scores each shifted copy:
- the real photos of textile-defect-rf, test split of the default model (sessions it never saw,
  the split of scripts/default-model reproduced; every photo holds a defect): mAP50, mAP50-95
  and the share of photos in which a defect was found, scored class-agnostically;
- fresh defect-free synthetic cloth (--clean images, half at 0.07 and half at 0.15 mm/px, seeds
  51 and 52, as the README's false-alarm row): the share of images with any false alarm.
The `none` row is the sets as they are; the others say what one change costs. No target: the
table shows where the model is fragile, and so what the next training round should add.
Usage: .venv/bin/python -m benchmarks.image_shifts [--model weights/default/model.onnx]
       [--shifts darker,zoom-out] [--clean 200] [--threads 2] [--work DIR] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from benchmarks.article_calibration import REPO, SESSION_REGEX, SPLIT_RATIOS, SPLIT_SEED
from loomsight.datasets.layout import write_data_yaml
from loomsight.datasets.split import compile_group_regex, split_dataset
from loomsight.datasets.synth.dataset import SynthOptions, generate_dataset
from loomsight.datasets.synth.defects import FABRIC_CLASSES
from loomsight.inference.cpu_info import cpu_info
from loomsight.training.evaluate import Evaluation, evaluate_onnx
from loomsight.training.image_shifts import SHIFT_NAMES, shift_named, write_shifted_split

CLEAN_SETS = ((51, 0.07), (52, 0.15))  # (seed, mm per px) of the defect-free synthetic cloth


@dataclass(frozen=True)
class ShiftRow:
    shift: str
    description: str
    real: Evaluation
    clean: Evaluation
    seconds: float


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, default=REPO / "weights" / "default" / "model.onnx")
    parser.add_argument(
        "--real-data",
        type=Path,
        default=REPO.parent / "shared" / "datasets" / "textile-defect-rf",
        help="the real photos (only read)",
    )
    parser.add_argument("--shifts", default=",".join(SHIFT_NAMES), help="shifts to score, in order")
    parser.add_argument("--clean", type=int, default=200, help="defect-free synthetic images")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--work", type=Path, help="folder for the sets (default: a temporary one)")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    shifts = [shift_named(name) for name in args.shifts.split(",")]
    with tempfile.TemporaryDirectory(prefix="image-shifts-") as temporary:
        work = args.work or Path(temporary)
        real_yaml, clean_yaml = real_test_split(args.real_data, work), clean_cloth(args.clean, work)
        rows = []
        for shift in shifts:
            started = time.perf_counter()
            real, clean = (
                evaluate_onnx(
                    args.model,
                    write_shifted_split(data_yaml, "test", shift, work / shift.name / part),
                    "test",
                    agnostic=True,
                    threads=args.threads,
                )
                for part, data_yaml in (("real", real_yaml), ("clean", clean_yaml))
            )
            rows.append(
                ShiftRow(shift.name, shift.description, real, clean, time.perf_counter() - started)
            )
            print(f"{shift.name}: done in {rows[-1].seconds:.0f} s", flush=True)
    print_table(rows, args)
    if args.json:
        args.json.write_text(json.dumps([_as_json(row) for row in rows], indent=2) + "\n")


def real_test_split(real_data: Path, work: Path) -> Path:
    """The default model's test split of the real photos, as lists (the photos are only read)."""
    result = split_dataset(
        real_data,
        work / "real-split",
        SPLIT_RATIOS,
        ["defect"],
        SPLIT_SEED,
        compile_group_regex(SESSION_REGEX),
        overwrite=True,
    )
    return result.data_yaml


def clean_cloth(count: int, work: Path) -> Path:
    """COUNT defect-free synthetic 416x416 images, half at each scale of CLEAN_SETS."""
    folders = []
    for k, (seed, mm_per_px) in enumerate(CLEAN_SETS):
        share = count // len(CLEAN_SETS) + (k < count % len(CLEAN_SETS))
        options = SynthOptions(
            count=share, seed=seed, size_wh=(416, 416), mm_per_px=mm_per_px, defect_free_share=1.0
        )
        folder = work / f"clean-{mm_per_px}"
        generate_dataset(options, folder, workers=2)
        folders.append(str((folder / "images").resolve()))
    return write_data_yaml(work / "clean", FABRIC_CLASSES, {"test": folders})


def print_table(rows: list[ShiftRow], args: argparse.Namespace) -> None:
    base = next((row for row in rows if row.shift == "none"), None)
    table = Table(
        title=f"{args.model}: the real test split (agnostic) and defect-free synthetic cloth, "
        f"each image shifted one way, {args.threads} threads"
    )
    table.caption = f"CPU: {cpu_info().describe()}"
    columns = ["shift", "what", "photos", "mAP50", "vs none", "mAP50-95", "found", "clean", "FA"]
    for column in columns:
        table.add_column(column, justify="left" if column in ("shift", "what") else "right")
    for row in rows:
        delta = f"{row.real.map50 - base.real.map50:+.3f}" if base and row is not base else ""
        table.add_row(
            row.shift,
            row.description,
            str(row.real.images),
            f"{row.real.map50:.3f}",
            delta,
            f"{row.real.map50_95:.3f}",
            f"{row.real.image_detection_rate:.1%}",
            str(row.clean.images),
            f"{row.clean.image_false_alarm_rate:.1%}",
        )
    Console(width=max(Console().width, 140)).print(table)


def _as_json(row: ShiftRow) -> dict[str, object]:
    return {
        "shift": row.shift,
        "description": row.description,
        "seconds": round(row.seconds, 1),
        "real": row.real.as_json(),
        "clean": row.clean.as_json(),
    }


if __name__ == "__main__":
    main()
