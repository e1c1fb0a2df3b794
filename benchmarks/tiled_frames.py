"""How well the detector scores frames it must tile: the merging of tiles, side by side.

Frames more than 1.5x the model input are cut into tiles (`loomsight.inference.tiling`), and the
tiles' boxes are merged into the frame's: parts of a defect cut by a tile border joined, double
boxes removed by NMS. This benchmark renders fresh synthetic camera frames (a quarter of them
defect-free) and scores them through the camera's detector (`evaluate`: ONNX Runtime, the card's
thresholds, flip views and box scales) with four mergings:
- `nms only`: no joining (`tile_join_conf=None`), NMS across tiles;
- `join every box, 2 px`: the rule before 2026-11-29 (`tile_join_conf=0`: every part joined
  whatever its score, an edge within 2 px of a border counted as cut);
- `join, tiles only`: `JOIN_CONF` 0.1 (only parts scored 0.1 or more joined), `TOUCH_PX` 8;
- `join + overview (default)`: the detector's defaults, with the whole frame also run shrunk into
  the model input and its large boxes put over the tile boxes inside them
  (`loomsight.inference.overview`). The first three rows run the tiles only.
mAP50 and mAP50-95 are over the whole precision-recall curve (boxes down to conf 0.001);
precision, recall and the images found are at the card's thresholds. No target: the rows show
what the merging costs or gains on tiled frames; the untiled 416 px figures are in the README.
Usage: .venv/bin/python -m benchmarks.tiled_frames [--model weights/default/model.onnx]
       [--sets 1280x720@0.15,1280x720@0.07] [--frames 40] [--seed 71] [--threads 2] [--work DIR]
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from benchmarks.article_calibration import REPO
from loomsight.datasets.image_size import parse_size_wh
from loomsight.datasets.synth.dataset import SynthOptions, generate_dataset
from loomsight.inference.cpu_info import cpu_info
from loomsight.inference.detector import DetectorOptions
from loomsight.training.evaluate import evaluate_onnx

TILES_ONLY = 1.0  # overview_min_scale: a tiled frame always shrinks more than this
MERGINGS: dict[str, dict[str, float | None]] = {
    "nms only": {"tile_join_conf": None, "overview_min_scale": TILES_ONLY},
    "join every box, 2 px": {
        "tile_join_conf": 0.0,
        "tile_touch_px": 2.0,
        "overview_min_scale": TILES_ONLY,
    },
    "join, tiles only": {"overview_min_scale": TILES_ONLY},
    "join + overview (default)": {},
}


@dataclass(frozen=True)
class FrameSet:
    size_wh: tuple[int, int]
    mm_per_px: float

    @classmethod
    def parse(cls, text: str) -> FrameSet:
        """'1280x720@0.15' -> 1280x720 frames at 0.15 mm/px."""
        try:
            size, mm = text.split("@")
            return cls(parse_size_wh(size), float(mm))
        except ValueError as error:
            raise argparse.ArgumentTypeError(f"expected WxH@MM_PER_PX, got {text!r}") from error

    def label(self) -> str:
        return f"{self.size_wh[0]}x{self.size_wh[1]} @ {self.mm_per_px} mm/px"


def add_frame_arguments(parser: argparse.ArgumentParser, sets: str, seed: int) -> None:
    """The options of a benchmark on rendered frames: --sets (default SETS), --frames, --seed
    (default SEED), --threads, --work."""
    parser.add_argument(
        "--sets",
        type=lambda text: [FrameSet.parse(part) for part in text.split(",")],
        default=sets,
        help="frame sets, as WxH@MM_PER_PX separated by commas",
    )
    parser.add_argument("--frames", type=int, default=40, help="frames rendered per set")
    parser.add_argument("--seed", type=int, default=seed, help="seed of the first set (+1 each)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--work", type=Path, default=None, help="folder for the frames (kept)")


def rendered_sets(args: argparse.Namespace) -> Iterator[tuple[FrameSet, Path]]:
    """Each set of --sets rendered in turn (--frames, seed --seed + k) into --work, or into a
    temporary folder removed at the end: (the set, its folder)."""
    with tempfile.TemporaryDirectory() as temporary:
        work = args.work or Path(temporary)
        for k, frame_set in enumerate(args.sets):
            folder = work / f"frames-{k}"
            render_frames(frame_set, args.frames, args.seed + k, folder, args.threads)
            yield frame_set, folder


def render_frames(frame_set: FrameSet, count: int, seed: int, folder: Path, workers: int) -> None:
    """COUNT fresh synthetic frames of FRAME_SET in FOLDER, a quarter of them defect-free."""
    options = SynthOptions(
        count=count,
        seed=seed,
        size_wh=frame_set.size_wh,
        mm_per_px=frame_set.mm_per_px,
        defect_free_share=0.25,
    )
    generate_dataset(options, folder, workers=workers)


def score_frames(
    model: Path, folder: Path, options: DetectorOptions, threads: int
) -> tuple[float, list[str]]:
    """(mAP50, the table cells mAP50, mAP50-95, P, R, found, false alarms, seconds) of the frames
    in FOLDER, scored by `evaluate` with the detector OPTIONS."""
    started = time.perf_counter()
    result = evaluate_onnx(
        model,
        folder / "data.yaml",
        "train",  # a synthetic set keeps every image in its train split
        threads=threads,
        options=options,
    )
    return result.map50, [
        f"{result.map50:.3f}",
        f"{result.map50_95:.3f}",
        f"{result.precision:.3f}",
        f"{result.recall:.3f}",
        f"{result.image_detection_rate:.1%}",
        f"{result.image_false_alarm_rate:.1%}",
        f"{time.perf_counter() - started:.0f}",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, default=REPO / "weights" / "default" / "model.onnx")
    add_frame_arguments(parser, "1280x720@0.15,1280x720@0.07", seed=71)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    console = Console(width=140)  # the table on one line a row, in a log or a terminal
    table = Table(title=f"Tiled frames, {args.frames} per set, model {args.model}")
    for column in ("frames", "merging", "mAP50", "mAP50-95", "P", "R", "found", "false alarms"):
        table.add_column(column)
    table.add_column("s", justify="right")
    for frame_set, folder in rendered_sets(args):
        for name, merging in MERGINGS.items():
            options = DetectorOptions(**merging)
            map50, cells = score_frames(args.model, folder, options, args.threads)
            table.add_row(frame_set.label(), name, *cells)
            console.print(f"{frame_set.label()}, {name}: mAP50 {map50:.3f}")
    table.caption = f"CPU: {cpu_info().describe()}"
    console.print(table)


if __name__ == "__main__":
    main()
