"""Our evaluation (ONNX through loomsight.inference) against ultralytics' own val on the checkpoint.

Run once per change of the evaluation code, on a checkpoint that finds something. The two differ in
letterboxing (ultralytics' val uses rectangular batches, we use the camera's square letterbox), so
they agree to a tolerance, not exactly.
Usage: .venv/bin/python -m benchmarks.map_crosscheck --checkpoint BEST.pt --data DATA.yaml
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from rich.console import Console
from rich.table import Table

from loomsight.datasets.data_yaml import split_images
from loomsight.inference.detector import DetectorOptions, OnnxDetector
from loomsight.training.evaluate import MAP_CONF, evaluate
from loomsight.training.export import ExportOptions, export_model
from loomsight.training.offline import load_ultralytics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--split", default="val")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="crosscheck-") as folder:
        weights = Path(folder) / "weights"
        samples = split_images(args.data, args.split)[:4]
        card = export_model(
            ExportOptions(
                checkpoint=args.checkpoint, name="x", weights_dir=weights, sample_images=samples
            )
        )
        detector = OnnxDetector(
            weights / "x" / "model.onnx", DetectorOptions(conf_threshold=MAP_CONF, tiling="off")
        )
        ours = evaluate(
            detector.detect,
            args.data,
            operating_conf=card.conf_threshold,
            split=args.split,
            model_names=detector.names,
        )
        reference = (
            load_ultralytics()
            .YOLO(str(args.checkpoint))
            .val(
                data=str(args.data),
                split=args.split,
                imgsz=card.input_size_hw[0],
                conf=MAP_CONF,
                iou=0.7,
                plots=False,
                verbose=False,
                device="cpu",
                project=folder,
                name="val",
            )
        )
    table = Table(title=f"mAP of {args.checkpoint} on {args.data} ({args.split})")
    for column in ("", "ours (ONNX, loomsight.inference)", "ultralytics val (checkpoint)", "diff"):
        table.add_column(column, justify="right")
    for label, mine, theirs in (
        ("mAP50", ours.map50, float(reference.box.map50)),
        ("mAP50-95", ours.map50_95, float(reference.box.map)),
    ):
        table.add_row(label, f"{mine:.4f}", f"{theirs:.4f}", f"{mine - theirs:+.4f}")
    Console().print(table)


if __name__ == "__main__":
    main()
