"""INT8 SiLU as quantize_static leaves it vs as one QuickGelu (`loomsight export --int8`).

The fp32 file of a registry model is quantized twice on the same calibration images, as
`loomsight export --int8` does, once with each SiLU left as quantize_static writes it (ONNX
Runtime runs a QLinearSigmoid and a QLinearMul) and once with it rewritten as one QuickGelu
(`loomsight.training.int8_silu`). The three files are timed with bare `session.run` on the same
synthetic fabric frames, at batch 1 (one image) and 3 (an image and its two flip views), with 1 and
2 threads, taking turns over --rounds rounds so that load from other processes falls on all alike.
Each int8 file's raw output is compared with the fp32 one's on those frames. Both int8 files keep
the fp32 file's float input (`pixels=False`), so that they differ in the SiLU only.

Usage: .venv/bin/python -m benchmarks.int8_silu [--model weights/default] [--rounds 5] [--runs 20]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from loomsight.datasets.layout import write_image
from loomsight.datasets.synth.dataset import SynthOptions, make_image
from loomsight.inference.cpu_info import cpu_info
from loomsight.inference.letterbox import as_bgr, letterbox, to_input_tensor
from loomsight.inference.model_card import read_card
from loomsight.inference.onnx_session import open_session
from loomsight.training.quantize import output_agreement, quantize_model

CALIBRATION_COUNT = 32
FILES = ("fp32", "int8, Sigmoid + Mul", "int8, QuickGelu")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=Path("weights/default"), help="model folder")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--runs", type=int, default=20, help="timed runs per file per round")
    args = parser.parse_args()
    card = read_card(args.model)
    input_hw = card.input_size_hw
    with tempfile.TemporaryDirectory(prefix="int8-silu-") as folder:
        files = _files(args.model / card.onnx.file, input_hw, Path(folder))
        frames = _frames(input_hw, seed=9, count=3)
        agreement = _agreement(files, frames)
        times = _time(files, frames, args.rounds, args.runs)
    table = Table(title=f"{args.model} ({card.version}), {input_hw[1]}x{input_hw[0]}, session.run")
    table.caption = f"CPU: {cpu_info().describe()}"
    for column in ("file", "threads", "batch", "median ms", "vs fp32", "vs Sigmoid + Mul"):
        table.add_column(column, justify="left" if column == "file" else "right")
    median = {key: statistics.median(values) for key, values in times.items()}
    for (name, threads, batch), ms in median.items():
        versus_fp32 = median[("fp32", threads, batch)] / ms
        versus_old = median[(FILES[1], threads, batch)] / ms
        table.add_row(
            name,
            str(threads),
            str(batch),
            f"{ms:.2f}",
            f"{versus_fp32:.2f}x" if name != "fp32" else "",
            f"{versus_old:.2f}x" if name == FILES[2] else "",
        )
    console = Console(width=110)
    console.print(table)
    for name, figures in agreement.items():
        console.print(
            f"{name} vs fp32 on {len(frames)} frames: score correlation "
            f"{figures['score_correlation']:.4f}, largest score difference "
            f"{figures['score_max_diff']:.3f}, largest box difference "
            f"{figures['box_max_diff_px']:.1f} px"
        )


def _frames(input_hw: tuple[int, int], seed: int, count: int) -> list[np.ndarray]:
    """Synthetic fabric frames, letterboxed as the detector feeds them."""
    options = SynthOptions(count=count, seed=seed, size_wh=(input_hw[1], input_hw[0]))
    return [letterbox(as_bgr(make_image(options, k).image), input_hw)[0] for k in range(count)]


def _files(fp32: Path, input_hw: tuple[int, int], folder: Path) -> dict[str, Path]:
    calibration = []
    for index, frame in enumerate(_frames(input_hw, seed=12, count=CALIBRATION_COUNT)):
        path = folder / "calibration" / f"{index:02d}.png"
        write_image(path, frame)
        calibration.append(path)
    files = {FILES[0]: fp32}
    for name, one_op in ((FILES[1], False), (FILES[2], True)):
        path = folder / f"{'quickgelu' if one_op else 'sigmoid-mul'}.int8.onnx"
        files[name] = quantize_model(
            fp32, path, calibration, input_hw, silu_as_one_op=one_op, pixels=False
        )
    return files


def _agreement(files: dict[str, Path], frames: list[np.ndarray]) -> dict[str, dict[str, float]]:
    tensor = to_input_tensor(frames)
    outputs = {}
    for name, path in files.items():
        session = open_session(path, 1)
        outputs[name] = session.run(None, {session.get_inputs()[0].name: tensor})[0]
    return {name: output_agreement(outputs["fp32"], outputs[name]) for name in FILES[1:]}


def _time(
    files: dict[str, Path], frames: list[np.ndarray], rounds: int, runs: int
) -> dict[tuple[str, int, int], list[float]]:
    tensors = {1: to_input_tensor(frames[:1]), 3: to_input_tensor(frames)}
    times: dict[tuple[str, int, int], list[float]] = {}
    for threads in (1, 2):
        sessions = {name: open_session(path, threads) for name, path in files.items()}
        for _ in range(rounds):
            for batch, tensor in tensors.items():
                for name, session in sessions.items():
                    feed = {session.get_inputs()[0].name: tensor}
                    session.run(None, feed)  # warm
                    for _ in range(runs):
                        start = time.perf_counter()
                        session.run(None, feed)
                        elapsed_ms = 1000 * (time.perf_counter() - start)
                        times.setdefault((name, threads, batch), []).append(elapsed_ms)
    return times


if __name__ == "__main__":
    main()
