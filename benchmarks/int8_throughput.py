"""INT8 vs fp32: the same model exported both ways, run through OnnxDetector on the same frames.

Each model goes through `export_model(..., int8=True)`, the path `loomsight export --int8` takes
(parity check, quantization, card). Without --model, an untrained yolov8n (`yolov8n.yaml`, the 8
fabric classes) is exported at each size: its speed is real, its mAP meaningless, so mAP is only
reported for --model with --data. Frames: synthetic fabric, --frame-wh (640x640), letterboxed
whole (--tiling off) or tiled as the camera tiles them (auto: when a side is over 1.5 times the
input; 1280x720 at 416 gives 8 tiles), each also seen in --flip-views (none; the default model's
card sets h,v). With two threads or more, a frame's images (tiles, views) are split among
single-thread lanes (inference/onnx_session.py): the rows ", one session" are the same without
lanes (`DetectorOptions.lanes=False`), each speed-up against fp32 run the same way. With
--float-input, the rows "int8, float input" time the int8 file quantized on the same images but
taking the fp32 file's float tensor, as before it took the pixels (training/int8_pixels.py).
Calibration:
--calibration DIR, else 32 synthetic fabric frames (other seeds than the timed ones). Sessions
are timed one after the other (2 threads, as on the edge PCs), fp32 and int8 alternating over
--rounds rounds, so that load from other processes falls on both alike; "by round" is the range
of the per-round speed-ups (timings swing on this machine).
mAP (with --data) is taken as `loomsight export --data` takes it: through the detector, tiling
images larger than 1.5 times the input as the camera does.

Target (int8 issue): at least 1.8x the fp32 frames/s, mAP50 lower by at most 1 point.
Usage: .venv/bin/python -m benchmarks.int8_throughput [--model CKPT.pt] [--sizes 640,416]
       [--frames 30] [--rounds 5] [--frame-wh 1280x720 --tiling auto] [--flip-views h,v]
       [--data DATA.yaml --split val] [--calibration DIR]
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import track
from rich.table import Table

from loomsight.datasets.image_size import parse_size_wh
from loomsight.datasets.layout import IMAGE_SUFFIXES, write_image
from loomsight.datasets.synth.dataset import SynthOptions, make_image
from loomsight.datasets.synth.defects import FABRIC_CLASSES
from loomsight.inference.cpu_info import cpu_info
from loomsight.inference.detector import DetectorOptions, OnnxDetector
from loomsight.inference.flip_views import parse_flip_views
from loomsight.inference.model_card import read_card
from loomsight.training.export import ExportOptions, export_model
from loomsight.training.offline import load_ultralytics
from loomsight.training.quantize import add_evaluations, quantize_model

TARGET_SPEEDUP = 1.8
TARGET_MAP50_DROP = 0.01
CALIBRATION_COUNT = 32
FLOAT_INPUT = "int8, float input"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="a trained .pt checkpoint [default: untrained]")
    parser.add_argument("--sizes", default="640,416", help="input sizes to export and time")
    parser.add_argument("--frames", type=int, default=30, help="timed frames per pass")
    parser.add_argument("--rounds", type=int, default=5, help="fp32/int8 passes, alternating")
    parser.add_argument("--threads", type=int, default=2, help="ONNX Runtime threads")
    parser.add_argument("--data", type=Path, help="data.yaml to evaluate both files on")
    parser.add_argument("--split", default="val", help="split of --data")
    parser.add_argument("--calibration", type=Path, help="folder of calibration images")
    parser.add_argument("--frame-wh", default="640x640", help="frame size, WxH")
    parser.add_argument("--tiling", default="off", choices=["off", "auto", "on"], help="tiles")
    parser.add_argument("--flip-views", default="none", help="views also run: none, or e.g. h,v")
    parser.add_argument(
        "--float-input",
        action="store_true",
        help="also time the int8 file with the float tensor input instead of the pixels",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    console = Console(width=max(Console().width, 110))  # the table is wider than 80 columns
    with tempfile.TemporaryDirectory(prefix="int8-bench-") as folder:
        table = _run(args, Path(folder))
    console.print(table)
    console.print(
        f"targets: int8 >= {TARGET_SPEEDUP}x the fp32 frames/s; mAP50 at most "
        f"{TARGET_MAP50_DROP * 100:.0f} point lower"
        + ("" if args.model and args.data else " (mAP needs a trained --model and --data)")
    )


def _run(args: argparse.Namespace, work: Path) -> Table:
    width, height = parse_size_wh(args.frame_wh)
    options = SynthOptions(count=args.frames, seed=11, size_wh=(width, height))
    frames = [make_image(options, k).image for k in range(args.frames)]
    views = parse_flip_views(args.flip_views)
    detector_options = DetectorOptions(tiling=args.tiling, flip_views=views)
    calibration = _calibration_images(args.calibration, work / "calibration")
    checkpoint = args.model or _untrained_checkpoint(work / "untrained.pt")
    table = Table(
        title=f"fp32 vs int8 ONNX through OnnxDetector: {checkpoint.name}, {args.frames} synthetic "
        f"{args.frame_wh} frames (tiling {args.tiling}, flip views {args.flip_views}) x "
        f"{args.rounds} rounds, {args.threads} threads, {os.cpu_count()} cores"
    )
    table.caption = f"CPU: {cpu_info().describe()}"
    columns = ["imgsz", "file", "MB", "median ms", "p90 ms", "frames/s", "speed-up", "by round"]
    columns += ["mAP50", "mAP50-95"] if args.data else []
    for column in columns:
        table.add_column(column, justify="right")
    for size in (int(s) for s in args.sizes.split(",")):
        card = export_model(
            ExportOptions(
                checkpoint=checkpoint,
                name=f"bench{size}",
                weights_dir=work / "weights",
                sample_images=calibration[:4],
                imgsz=size,
                int8=True,
                calibration_images=calibration,
            )
        )
        folder = work / "weights" / card.name
        assert card.int8 is not None
        files = {"fp32": folder / card.onnx.file, "int8": folder / card.int8.file}
        if args.float_input:
            files[FLOAT_INPUT] = quantize_model(
                files["fp32"],
                folder / "float-input.int8.onnx",
                calibration,
                (size, size),
                pixels=False,
            )
        modes = {"": True, ", one session": False} if args.threads > 1 else {"": True}
        runs = [(precision, mode) for mode in modes for precision in files]  # fp32 first
        rounds_ms: dict[tuple[str, str], list[list[float]]] = {run: [] for run in runs}
        for round_index in range(args.rounds):
            for precision, mode in runs:
                description = f"{size}: {precision}{mode}, round {round_index + 1}"
                run_options = detector_options.model_copy(update={"lanes": modes[mode]})
                times = _time(files[precision], run_options, frames, args.threads, description)
                rounds_ms[(precision, mode)].append(times)
        scores = add_evaluations(folder, args.data, args.split)[1:] if args.data else None
        times_ms = {run: [t for r in rounds for t in r] for run, rounds in rounds_ms.items()}
        fps = {run: 1000 / statistics.median(values) for run, values in times_ms.items()}
        for (precision, mode), values in times_ms.items():
            fp32 = ("fp32", mode)  # each speed-up against fp32 run the same way
            per_round = [
                statistics.median(fp32_ms) / statistics.median(int8_ms)
                for fp32_ms, int8_ms in zip(
                    rounds_ms[fp32], rounds_ms[(precision, mode)], strict=True
                )
            ]
            row = [
                str(size),
                f"{precision}{mode}",
                f"{files[precision].stat().st_size / 1e6:.1f}",
                f"{statistics.median(values):.1f}",
                f"{statistics.quantiles(values, n=10)[-1]:.1f}",
                f"{fps[(precision, mode)]:.1f}",
                f"{fps[(precision, mode)] / fps[fp32]:.2f}x",
                f"{min(per_round):.2f}-{max(per_round):.2f}x" if precision != "fp32" else "",
            ]
            scored = not mode and precision in ("fp32", "int8")  # as exported, lanes on
            score = scores[precision == "int8"] if scores is not None and scored else None
            row += [f"{score.map50:.3f}", f"{score.map50_95:.3f}"] if score is not None else []
            row += ["", ""] if scores is not None and score is None else []
            table.add_row(*row, end_section=precision == list(files)[-1])
        _check_card(folder)
    return table


def _time(
    path: Path, options: DetectorOptions, frames: list[Any], threads: int, description: str
) -> list[float]:
    """Milliseconds of `detect` per frame (tiles, letterbox, ONNX Runtime, decode), one
    detector alone."""
    detector = OnnxDetector(path, options, threads=threads)
    for frame in frames[:3]:
        detector.detect(frame)
    times_ms = []
    for frame in track(frames, description=description, transient=True):
        started = time.perf_counter()
        detector.detect(frame)
        times_ms.append((time.perf_counter() - started) * 1000)
    del detector
    gc.collect()
    return times_ms


def _calibration_images(folder: Path | None, out: Path) -> list[Path]:
    if folder is not None:
        found = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        return found[:: max(1, len(found) // CALIBRATION_COUNT)][:CALIBRATION_COUNT]
    options = SynthOptions(count=CALIBRATION_COUNT, seed=12)
    paths = [out / f"calibration_{k:02d}.png" for k in range(CALIBRATION_COUNT)]
    for k, path in enumerate(paths):
        write_image(path, make_image(options, k).image)
    return paths


def _untrained_checkpoint(path: Path) -> Path:
    """yolov8n from its yaml, the 8 fabric classes, random weights, saved as a checkpoint."""
    import yaml

    ultralytics = load_ultralytics()
    source = Path(str(ultralytics.__file__)).parent / "cfg" / "models" / "v8" / "yolov8.yaml"
    config = yaml.safe_load(source.read_text(encoding="utf-8"))
    config.update(nc=len(FABRIC_CLASSES), scale="n")
    config_path = path.with_name("yolov8n.yaml")
    config_path.write_text(yaml.safe_dump(config), encoding="utf-8")
    model = ultralytics.YOLO(str(config_path), task="detect")
    model.model.names = dict(enumerate(FABRIC_CLASSES))
    model.save(str(path))
    return path


def _check_card(folder: Path) -> None:
    card = read_card(folder)
    if card.int8 is None or card.int8.precision != "int8":
        raise SystemExit(f"{folder}: the card records no int8 file")


if __name__ == "__main__":
    main()
