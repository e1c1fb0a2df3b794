"""False alarms on clean cloth, fabric by fabric: how many articles would a camera alarm on?

A mill runs one article for days, so a fabric the model alarms on raises alarms frame after frame
until someone calibrates it (`loomsight calibrate`). The share of fabrics that alarm therefore
says more about cloth from other mills than one false-alarm rate over a pooled set. This
benchmark renders defect-free frames of --fabrics random fabrics (the moving web's generator,
seeds 1 to N: plain, twill and satin, or the --weaves given, colour and grey, a random camera
for each), --frames of them spread along each roll, and runs each --model over the same frames
through the camera's detector (`OnnxDetector` with the card's thresholds, flip views, tiling and
overview). Any box on these frames is a false alarm. Per model: the fabrics with an alarm on any
frame, the frames with an alarm, boxes by class, the fabrics with the most alarmed frames, and
the alarmed fabrics by weave. No target: the rows compare models (the default model and its int8
copy by default; a candidate beside the shipped model) and show which kinds of cloth the model
still takes for defects.
Usage: .venv/bin/python -m benchmarks.clean_cloth [--model weights/default/model.onnx ...]
       [--fabrics 30] [--frames 10] [--frame 1024x512@0.1] [--weaves plain,twill,satin]
       [--threads 2]
"""

from __future__ import annotations

import argparse
import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
from rich.console import Console
from rich.table import Table

from benchmarks.article_calibration import REPO
from benchmarks.tiled_frames import FrameSet
from loomsight.datasets.synth.moving_web import WEB_WEAVES, MovingWeb
from loomsight.datasets.synth.weave import WeaveKind
from loomsight.inference.cpu_info import cpu_info
from loomsight.inference.detections import Detections
from loomsight.inference.detector import OnnxDetector

FRAME_SPACING_M = 0.3  # frames this far apart along the roll: different cloth, the same article
WORST_SHOWN = 5

Frame = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class Fabric:
    seed: int
    weave: str
    grayscale: bool

    def label(self) -> str:
        return f"{self.seed} ({self.weave}, {'grey' if self.grayscale else 'colour'})"


@dataclass
class CleanCloth:
    """One model's false alarms over the clean frames of every fabric."""

    model: str
    frames_alarmed: dict[Fabric, int] = field(default_factory=dict)
    frames_seen: dict[Fabric, int] = field(default_factory=dict)
    boxes_by_class: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    def add(self, fabric: Fabric, found: Sequence[Detections], names: Sequence[str]) -> None:
        """The detector's boxes on the clean frames of one fabric."""
        self.frames_seen[fabric] = self.frames_seen.get(fabric, 0) + len(found)
        alarmed = sum(len(boxes.confidence) > 0 for boxes in found)
        self.frames_alarmed[fabric] = self.frames_alarmed.get(fabric, 0) + alarmed
        for boxes in found:
            self.boxes_by_class.update(names[int(k)] for k in boxes.class_id)

    def fabrics_alarmed(self) -> list[Fabric]:
        return [fabric for fabric, count in self.frames_alarmed.items() if count > 0]

    def worst(self, count: int) -> list[tuple[Fabric, int]]:
        ranked = sorted(self.frames_alarmed.items(), key=lambda item: (-item[1], item[0].seed))
        return [(fabric, alarmed) for fabric, alarmed in ranked[:count] if alarmed > 0]

    def by_weave(self) -> dict[str, tuple[int, int]]:
        """Weave -> (fabrics with an alarm, fabrics)."""
        totals: dict[str, tuple[int, int]] = {}
        for fabric, alarmed in self.frames_alarmed.items():
            hit, seen = totals.get(fabric.weave, (0, 0))
            totals[fabric.weave] = (hit + (alarmed > 0), seen + 1)
        return dict(sorted(totals.items()))


def clean_frames(
    seed: int, frame: FrameSet, count: int, weaves: tuple[WeaveKind, ...] = WEB_WEAVES
) -> tuple[Fabric, list[Frame]]:
    """COUNT defect-free frames of the fabric of SEED (one of WEAVES), FRAME_SPACING_M apart
    along its roll."""
    width_px, height_px = frame.size_wh
    web = MovingWeb(
        seed,
        width_px=width_px,
        frame_height_px=height_px,
        mm_per_px=frame.mm_per_px,
        defects_per_100m=0.0,
        weaves=weaves,
    )
    fabric = Fabric(seed, web.fabric.weave.value, web.fabric.grayscale)
    images = [web.frame_at(k * FRAME_SPACING_M, index=k).image for k in range(count)]
    return fabric, images


def measure(
    detectors: dict[str, tuple[Callable[[Frame], Detections], Sequence[str]]],
    fabrics: int,
    frames: int,
    frame: FrameSet,
    progress: Callable[[str], None] = lambda _: None,
    weaves: tuple[WeaveKind, ...] = WEB_WEAVES,
) -> list[CleanCloth]:
    """Every detector (name -> detect, class names) over the same clean frames of each fabric."""
    results = {name: CleanCloth(name) for name in detectors}
    for seed in range(1, fabrics + 1):
        fabric, images = clean_frames(seed, frame, frames, weaves)
        line = [fabric.label()]
        for name, (detect, names) in detectors.items():
            start = time.perf_counter()
            found = [detect(image) for image in images]
            results[name].seconds += time.perf_counter() - start
            results[name].add(fabric, found, names)
            line.append(f"{name} {results[name].frames_alarmed[fabric]}/{frames}")
        progress(", ".join(line))
    return list(results.values())


def _weaves(text: str) -> tuple[WeaveKind, ...]:
    """'plain,knit' -> the weave kinds; ArgumentTypeError naming the known ones otherwise."""
    known = ", ".join(kind.value for kind in WeaveKind)
    try:
        kinds = tuple(WeaveKind(name.strip()) for name in text.split(",") if name.strip())
    except ValueError:
        kinds = ()
    if not kinds:
        raise argparse.ArgumentTypeError(f"expected weaves from {known}, got {text!r}")
    return kinds


def _models(paths: list[Path] | None) -> list[Path]:
    if paths:
        return paths
    default = REPO / "weights" / "default"
    return [path for path in (default / "model.onnx", default / "model.int8.onnx") if path.exists()]


def print_table(console: Console, results: list[CleanCloth], args: argparse.Namespace) -> None:
    table = Table(
        title=f"Clean cloth: {args.fabrics} fabrics x {args.frames} defect-free frames, "
        f"{args.frame.label()}, weaves {', '.join(w.value for w in args.weaves)}"
    )
    columns = ("model", "fabrics alarmed", "frames alarmed", "boxes by class")
    for column in columns:
        table.add_column(column)
    table.add_column("worst (seed: frames)")
    table.add_column("fabrics alarmed by weave")
    table.add_column("s", justify="right")
    for result in results:
        frames_seen = sum(result.frames_seen.values())
        frames_alarmed = sum(result.frames_alarmed.values())
        share = frames_alarmed / frames_seen if frames_seen else 0.0
        classes = ", ".join(f"{name} {n}" for name, n in result.boxes_by_class.most_common())
        worst = ", ".join(f"{f.seed}: {n}" for f, n in result.worst(WORST_SHOWN))
        weaves = ", ".join(f"{w} {hit}/{seen}" for w, (hit, seen) in result.by_weave().items())
        table.add_row(
            result.model,
            f"{len(result.fabrics_alarmed())}/{len(result.frames_seen)}",
            f"{frames_alarmed}/{frames_seen} ({share:.1%})",
            classes or "-",
            worst or "-",
            weaves,
            f"{result.seconds:.0f}",
        )
    table.caption = f"CPU: {cpu_info().describe()}"
    console.print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--model",
        type=Path,
        action="append",
        help="an .onnx model; repeat to compare (default: weights/default's fp32 and int8)",
    )
    parser.add_argument("--fabrics", type=int, default=30, help="random fabrics (seeds 1 to N)")
    parser.add_argument("--frames", type=int, default=10, help="clean frames of each fabric")
    parser.add_argument(
        "--frame",
        type=FrameSet.parse,
        default=FrameSet((1024, 512), 0.1),
        help="frame size and scale, WxH@MM_PER_PX (default 1024x512@0.1, the recall test's)",
    )
    parser.add_argument(
        "--weaves",
        type=_weaves,
        default=WEB_WEAVES,
        help="weaves the fabrics are drawn from, comma-separated (default plain,twill,satin, the "
        "moving web's; knit too: plain,twill,satin,knit)",
    )
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    if args.fabrics < 1 or args.frames < 1:
        parser.error("--fabrics and --frames must be at least 1")
    logging.basicConfig(level=logging.WARNING)
    console = Console(width=160)  # the table on one line a row, in a log or a terminal
    detectors: dict[str, tuple[Callable[[Frame], Detections], Sequence[str]]] = {}
    for path in _models(args.model):
        if not path.is_file():
            parser.error(f"--model {path}: no such file")
        detector = OnnxDetector(path, threads=args.threads)
        detectors[f"{path.parent.name}/{path.name}"] = (detector.detect, detector.names)
    if not detectors:
        parser.error("no model: pass --model, or train and export the default model first")
    results = measure(detectors, args.fabrics, args.frames, args.frame, console.print, args.weaves)
    print_table(console, results, args)


if __name__ == "__main__":
    main()
