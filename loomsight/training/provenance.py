"""Where a model came from, for its card: the run's summary and a fingerprint of its data."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from loomsight.datasets.data_yaml import fingerprint, split_images
from loomsight.errors import DatasetError

logger = logging.getLogger(__name__)

SUMMARY_FILE = "loomsight_summary.json"  # written by train() into the run folder
SUMMARY_KEYS = ("epochs_done", "duration_s", "hardware", "data_fingerprint")


def data_fingerprint(data_yaml: Path) -> str:
    """sha256 over the train and val images and labels of DATA_YAML (see datasets.fingerprint)."""
    return fingerprint(split_images(data_yaml, "train") + split_images(data_yaml, "val"))


def training_record(checkpoint: Path, train_args: dict[str, Any]) -> dict[str, Any]:
    """What the card says of training: the run summary beside CHECKPOINT (runs/NAME/weights/x.pt)
    when there is one, and the data fingerprint from it, else computed now from the data.yaml
    the checkpoint names if that exists here (`data_fingerprint_from` says which)."""
    record: dict[str, Any] = {}
    summary_path = checkpoint.resolve().parent.parent / SUMMARY_FILE
    if summary_path.is_file():
        try:
            summary = json.loads(summary_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            logger.warning("%s: unreadable run summary (%s); card without it", summary_path, error)
        else:
            record.update({key: summary[key] for key in SUMMARY_KEYS if key in summary})
            if "data_fingerprint" in record:
                record["data_fingerprint_from"] = "training run"
    data = Path(str(train_args.get("data") or ""))
    if "data_fingerprint" not in record and data.is_file():
        try:
            record["data_fingerprint"] = data_fingerprint(data)
            record["data_fingerprint_from"] = f"{data} at export"
        except DatasetError as error:
            logger.warning("no data fingerprint: %s", error)
    return record
