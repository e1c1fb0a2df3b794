"""The box decoder's softmax as ultralytics exports it vs written out (`loomsight export`).

The same checkpoint is exported by ultralytics to ONNX once; a copy gets its inner-axis softmax
written out (`loomsight.training.softmax_axis`). Both files, and int8 copies of both (quantized as
`loomsight export --int8` does, on synthetic fabric), are timed with bare `session.run` on the same
random tensors, at batch 1 (one image) and 3 (an image and its two flip views), taking turns over
--rounds rounds so that load from other processes falls on all alike. The outputs are compared.
The int8 copies keep the float input (`pixels=False`), so that all four take the same tensors.

Usage: .venv/bin/python -m benchmarks.softmax_written_out [--model weights/default/model.pt]
       [--threads 1] [--rounds 5] [--runs 20]
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
from loomsight.inference.onnx_session import open_session
from loomsight.training.offline import load_ultralytics
from loomsight.training.quantize import quantize_model
from loomsight.training.softmax_axis import write_out_inner_softmax


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=Path("weights/default/model.pt"))
    parser.add_argument("--imgsz", type=int, default=416)
    parser.add_argument("--threads", type=int, default=1, help="ONNX Runtime threads")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--runs", type=int, default=20, help="timed runs per file per round")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="softmax-") as folder:
        files = _files(args.model, args.imgsz, Path(folder))
        rows = _time(files, args.imgsz, args.threads, args.rounds, args.runs)
    table = Table(title=f"{args.model}, {args.imgsz} px, {args.threads} thread(s), session.run")
    table.caption = f"CPU: {cpu_info().describe()}"
    for column in ("file", "batch", "median ms", "written out vs as exported", "int8 vs fp32"):
        table.add_column(column, justify="left" if column == "file" else "right")
    median = {key: statistics.median(times) for key, times in rows.items()}
    for (name, batch), ms in median.items():
        gain = median[(name.replace("written out", "as exported"), batch)] / ms
        speedup = median[(name.replace("int8", "fp32"), batch)] / ms
        int8_gain = f"{speedup:.2f}x" if "int8" in name else ""
        table.add_row(name, str(batch), f"{ms:.2f}", f"{gain:.2f}x", int8_gain)
    Console(width=110).print(table)


def _files(checkpoint: Path, imgsz: int, folder: Path) -> dict[str, Path]:
    import onnx

    ultralytics = load_ultralytics()
    model = ultralytics.YOLO(str(checkpoint), task="detect")
    model.model.pt_path = str(folder / "model.pt")  # the export lands in FOLDER
    exported = Path(model.export(format="onnx", imgsz=imgsz, opset=18, simplify=True,
                                 dynamic=True, nms=False, batch=1, device="cpu"))  # fmt: skip
    graph = onnx.load(str(exported))
    if write_out_inner_softmax(graph) == 0:
        raise SystemExit(f"{checkpoint}: no softmax over an inner axis to write out")
    written = folder / "written.onnx"
    onnx.save(graph, str(written))
    calibration = []
    for index in range(8):
        path = folder / "calibration" / f"{index}.png"
        fabric = make_image(SynthOptions(count=8, seed=5, size_wh=(imgsz, imgsz)), index)
        write_image(path, fabric.image)
        calibration.append(path)
    files = {"fp32 as exported": exported, "fp32 written out": written}
    for name, path in list(files.items()):
        int8 = folder / f"{path.stem}.int8.onnx"
        quantize_model(path, int8, calibration, (imgsz, imgsz), pixels=False)
        files[name.replace("fp32", "int8")] = int8
    return files


def _time(
    files: dict[str, Path], imgsz: int, threads: int, rounds: int, runs: int
) -> dict[tuple[str, int], list[float]]:
    sessions = {name: open_session(path, threads) for name, path in files.items()}
    tensors = {b: np.random.default_rng(b).random((b, 3, imgsz, imgsz), np.float32) for b in (1, 3)}
    for batch, tensor in tensors.items():  # the same numbers from both graphs
        for precision in ("fp32", "int8"):
            a, b = (
                sessions[f"{precision} {how}"].run(None, {"images": tensor})[0]
                for how in ("as exported", "written out")
            )
            print(f"{precision} batch {batch}: largest output difference {np.abs(a - b).max():.2e}")
    times: dict[tuple[str, int], list[float]] = {}
    for _ in range(rounds):
        for batch, tensor in tensors.items():
            for name, session in sessions.items():
                session.run(None, {"images": tensor})  # warm
                for _ in range(runs):
                    start = time.perf_counter()
                    session.run(None, {"images": tensor})
                    times.setdefault((name, batch), []).append(1000 * (time.perf_counter() - start))
    return times


if __name__ == "__main__":
    main()
