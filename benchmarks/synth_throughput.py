"""Synthetic fabric throughput: images per second at 640x640, 1 worker (baseline) vs 2 workers,
and frames per second of the moving web (one process), which the camera demo reads from.

Target (issue 2): 1,000 images in under 2 minutes on this 2-core machine.
Usage: .venv/bin/python -m benchmarks.synth_throughput [--count 1000] [--size 640]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy: the workers fill the cores

from rich.console import Console
from rich.table import Table

from loomsight.datasets.synth.dataset import SynthOptions, generate_dataset
from loomsight.datasets.synth.moving_web import MovingWeb
from loomsight.inference.cpu_info import cpu_info

TARGET_S_PER_1000 = 120.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000, help="images per run")
    parser.add_argument("--size", type=int, default=640, help="square image side in px")
    parser.add_argument("--workers", default="1,2", help="worker counts to compare")
    args = parser.parse_args()
    table = Table(title=f"loomsight synth, {args.size}x{args.size}, {os.cpu_count()} cores")
    table.caption = f"CPU: {cpu_info().describe()}"
    for column in ("workers", "images", "wall s", "images/s", "s per 1,000", "target"):
        table.add_column(column, justify="right")
    for workers in (int(w) for w in args.workers.split(",")):
        out = Path(tempfile.mkdtemp(prefix="synth-bench-"))
        try:
            options = SynthOptions(count=args.count, seed=0, size_wh=(args.size, args.size))
            started = time.perf_counter()
            summary = generate_dataset(options, out, workers=workers)
            wall_s = time.perf_counter() - started
        finally:
            shutil.rmtree(out, ignore_errors=True)
        per_1000 = wall_s / summary.images * 1000
        verdict = "met" if per_1000 < TARGET_S_PER_1000 else "missed"
        table.add_row(
            str(workers),
            str(summary.images),
            f"{wall_s:.1f}",
            f"{summary.images / wall_s:.2f}",
            f"{per_1000:.0f}",
            f"< {TARGET_S_PER_1000:.0f} s: {verdict}",
        )
    Console().print(table)
    Console().print(_moving_web_table(frames=50))


def _moving_web_table(frames: int) -> Table:
    table = Table(title="moving web, one process (the demo's synthetic camera)")
    for column in ("frame px", "frames", "wall s", "frames/s", "ms per frame"):
        table.add_column(column, justify="right")
    for width_px, height_px in ((1024, 512), (2048, 256), (4096, 256)):
        web = MovingWeb(seed=1, width_px=width_px, frame_height_px=height_px)
        started = time.perf_counter()
        for _ in web.frames(speed_m_per_min=30.0, fps=10.0, count=frames):
            pass
        wall_s = time.perf_counter() - started
        table.add_row(
            f"{width_px}x{height_px}",
            str(frames),
            f"{wall_s:.1f}",
            f"{frames / wall_s:.1f}",
            f"{wall_s / frames * 1000:.0f}",
        )
    return table


if __name__ == "__main__":
    main()
