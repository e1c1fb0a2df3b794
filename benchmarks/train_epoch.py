"""Training cost on this machine: seconds per epoch per 1,000 images, yolov8n vs yolo26n.

Trains one epoch (plots off) on N synthetic images at the given size and scales the
wall time to 1,000 images; the first epoch includes ultralytics' set-up, so two epochs are run and
the second is timed (training and its validation pass over the same images).
Usage: .venv/bin/python -m benchmarks.train_epoch [--images 64] [--imgsz 640]
       [--device 0 --workers 12]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from loomsight.datasets.synth.dataset import SynthOptions, generate_dataset
from loomsight.inference.cpu_info import cpu_info
from loomsight.training.train import TrainOptions, train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=64, help="synthetic training images")
    parser.add_argument("--imgsz", type=int, default=640, help="training input size in px")
    parser.add_argument("--batch", type=int, default=8, help="batch size")
    parser.add_argument("--device", default="cpu", help="cpu or a CUDA index")
    parser.add_argument("--workers", type=int, default=0, help="data loader worker processes")
    parser.add_argument("--models", default="yolov8n.yaml,yolo26n.yaml", help="architectures")
    args = parser.parse_args()
    table = Table(title=f"one training epoch, {args.images} images at {args.imgsz}, {args.device}")
    table.caption = f"CPU: {cpu_info().describe()}"
    for column in ("model", "epoch s", "s per 1,000 images"):
        table.add_column(column, justify="right")
    with tempfile.TemporaryDirectory(prefix="train-bench-") as folder:
        root = Path(folder)
        size = (args.imgsz, args.imgsz)
        options = SynthOptions(count=args.images, seed=0, size_wh=size)
        generate_dataset(options, root / "data", workers=os.cpu_count() or 1)
        for model in args.models.split(","):
            epoch_ends: list[float] = []

            def note_epoch_end(
                epoch: int, total: int, metrics: dict[str, float], ends: list[float] = epoch_ends
            ) -> None:
                ends.append(time.perf_counter())

            train(
                TrainOptions(
                    data_yaml=root / "data" / "data.yaml",
                    model=model,
                    run_dir=root / "runs" / model.split(".")[0],
                    epochs=2,
                    imgsz=args.imgsz,
                    batch=args.batch,
                    device=args.device,
                    workers=args.workers,
                ),
                on_epoch=note_epoch_end,
            )
            epoch_s = epoch_ends[1] - epoch_ends[0]
            table.add_row(model, f"{epoch_s:.1f}", f"{epoch_s / args.images * 1000:.0f}")
    Console().print(table)


if __name__ == "__main__":
    main()
