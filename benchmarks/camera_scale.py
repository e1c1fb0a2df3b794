"""Cloth at another scale than the model learnt: frames as the camera gives them, and resampled.

A camera closer to the cloth or farther from it than the training cloth's scale sees defects
larger or smaller than the model learnt them. With `detector.model_mm_per_px` in the agent's
settings (`DetectorOptions.image_scale`, `loomsight evaluate --image-scale`), each frame is first
resampled from the camera's mm per pixel to the model's, then tiled or fitted to the model input
as any frame is (`loomsight/inference/image_scale.py`). This benchmark renders fresh synthetic
camera frames at the camera scales of --sets (a quarter of them defect-free) and scores them
through the camera's detector (`evaluate`: ONNX Runtime, the card's thresholds, flip views and box
scales), as they are and resampled to each model scale of --targets, side by side.
mAP50 and mAP50-95 are over the whole precision-recall curve (boxes down to conf 0.001);
precision, recall, the frames found and the clean frames with a false alarm are at the card's
thresholds; s is the seconds the row took (the detector's work grows with the resampled area).
No target: the rows show which model scale a camera should resample to.
Usage: .venv/bin/python -m benchmarks.camera_scale [--model weights/default/model.onnx]
       [--sets 1280x720@0.035,1280x720@0.05,1280x720@0.2] [--targets 0.07,0.1,0.15] [--frames 40]
       [--seed 81] [--threads 2] [--work DIR]
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from rich.console import Console
from rich.table import Table

from benchmarks.article_calibration import REPO
from benchmarks.tiled_frames import add_frame_arguments, rendered_sets, score_frames
from loomsight.inference.cpu_info import cpu_info
from loomsight.inference.detector import DetectorOptions
from loomsight.inference.image_scale import scale_for_mm_per_px

DEFAULT_SETS = "1280x720@0.035,1280x720@0.05,1280x720@0.2"
DEFAULT_TARGETS = "0.07,0.1,0.15"


def _targets(text: str) -> list[float]:
    try:
        targets = [float(part) for part in text.split(",")]
    except ValueError as error:
        raise argparse.ArgumentTypeError(
            f"expected mm per pixel, e.g. 0.07,0.1; got {text!r}"
        ) from error
    if not all(target > 0 for target in targets):
        raise argparse.ArgumentTypeError(f"model scales must be positive, got {text!r}")
    return targets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, default=REPO / "weights" / "default" / "model.onnx")
    add_frame_arguments(parser, DEFAULT_SETS, seed=81)
    parser.add_argument(
        "--targets",
        type=_targets,
        default=DEFAULT_TARGETS,
        help="model scales (mm per pixel) to resample the frames to, separated by commas",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    console = Console(width=140)  # the table on one line a row, in a log or a terminal
    table = Table(title=f"Camera scale, {args.frames} frames per set, model {args.model}")
    columns = ("frames", "resampled to", "x", "mAP50", "mAP50-95", "P", "R", "found", "clean FA")
    for column in columns:
        table.add_column(column)
    table.add_column("s", justify="right")
    for frame_set, folder in rendered_sets(args):
        camera_xy = (frame_set.mm_per_px, frame_set.mm_per_px)
        rows = [("as it is", (1.0, 1.0))] + [
            (f"{target} mm/px", scale_for_mm_per_px(camera_xy, target)) for target in args.targets
        ]
        for name, scale in rows:
            options = DetectorOptions(image_scale=scale)
            map50, cells = score_frames(args.model, folder, options, args.threads)
            table.add_row(frame_set.label(), name, f"{scale[0]:.3g}", *cells)
            console.print(f"{frame_set.label()}, {name}: mAP50 {map50:.3f}")
    table.caption = f"CPU: {cpu_info().describe()}"
    console.print(table)


if __name__ == "__main__":
    main()
