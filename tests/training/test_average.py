"""Averaging two checkpoints: the mix is exact, the result loads as a YOLO model, and checkpoints
that cannot be mixed are refused with a clear message."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from loomsight.errors import ModelFileError, TrainingError
from loomsight.training.average import average_checkpoints
from tests.conftest import RunCli

NAMES = {0: "hole", 1: "stain", 2: "defect"}
FIRST_CONV = "model.0.conv.weight"


def _checkpoint(
    path: Path, seed: int, arch: str = "yolov8n.yaml", names: dict[int, str] = NAMES
) -> Path:
    """A checkpoint as ultralytics saves one: a half-precision model with fresh random weights."""
    import torch
    from ultralytics.nn.tasks import DetectionModel

    torch.manual_seed(seed)
    model = DetectionModel(arch, nc=len(names), verbose=False)
    model.names = names
    model.args = {"imgsz": 160, "model": arch}
    torch.save({"model": model.half(), "ema": None, "train_args": {"imgsz": 160}}, path)
    return path


def _weights(path: Path) -> dict[str, Any]:
    import torch

    checkpoint = torch.load(path, map_location="cpu", weights_only=False)
    return {k: v.float().numpy() for k, v in checkpoint["model"].state_dict().items()}


@pytest.fixture(scope="module")
def pair(
    ultralytics_offline: ModuleType, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("soup")
    return _checkpoint(folder / "a.pt", seed=1), _checkpoint(folder / "b.pt", seed=2)


@pytest.mark.parametrize("weight", [0.0, 0.3, 1.0])
def test_the_mix_is_weighted_weight_by_weight(
    pair: tuple[Path, Path], tmp_path: Path, weight: float
) -> None:
    first, second = pair
    result = average_checkpoints(first, second, weight, tmp_path / "mix.pt")
    a, b, mixed = _weights(first), _weights(second), _weights(result.checkpoint)
    assert not np.allclose(a[FIRST_CONV], b[FIRST_CONV])
    for key in (FIRST_CONV, "model.22.cv2.0.2.bias", "model.2.cv1.bn.running_mean"):
        expected = (1 - weight) * a[key] + weight * b[key]
        np.testing.assert_allclose(mixed[key], expected, rtol=2e-3, atol=2e-3)  # saved as fp16
    assert result.tensors_mixed > 100 and result.tensors_kept > 0  # batch-norm step counters


def test_the_mix_loads_as_a_yolo_model_and_says_where_it_came_from(
    pair: tuple[Path, Path], tmp_path: Path, ultralytics_offline: ModuleType
) -> None:
    import torch

    first, second = pair
    out = average_checkpoints(first, second, 0.5, tmp_path / "deep" / "mix.pt").checkpoint
    model = ultralytics_offline.YOLO(str(out), task="detect")
    assert dict(model.names) == NAMES
    boxes = model.predict(np.zeros((160, 160, 3), np.uint8), imgsz=160, verbose=False)[0].boxes
    assert boxes is not None
    record = torch.load(out, map_location="cpu", weights_only=False)["averaged_from"]
    assert record == {"first": str(first), "second": str(second), "second_weight": 0.5}
    assert not list(tmp_path.glob("deep/*.partial"))


def test_checkpoints_that_cannot_be_mixed_are_refused(
    pair: tuple[Path, Path], tmp_path: Path
) -> None:
    first, _ = pair
    other_arch = _checkpoint(tmp_path / "v11.pt", seed=3, arch="yolo11n.yaml")
    with pytest.raises(TrainingError, match="different architectures"):
        average_checkpoints(first, other_arch, 0.5, tmp_path / "x.pt")
    other_names = _checkpoint(tmp_path / "names.pt", seed=3, names={0: "hole", 1: "stain", 2: "x"})
    with pytest.raises(TrainingError, match="name different classes"):
        average_checkpoints(first, other_names, 0.5, tmp_path / "x.pt")
    with pytest.raises(TrainingError, match=r"must be in \[0, 1\]"):
        average_checkpoints(first, first, 1.5, tmp_path / "x.pt")
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a checkpoint")
    with pytest.raises(ModelFileError, match="not a loadable checkpoint"):
        average_checkpoints(first, broken, 0.5, tmp_path / "x.pt")
    with pytest.raises(ModelFileError, match="does not exist"):
        average_checkpoints(first, tmp_path / "missing.pt", 0.5, tmp_path / "x.pt")
    assert not (tmp_path / "x.pt").exists()


def test_cli_writes_the_mix_and_refuses_a_missing_file(
    pair: tuple[Path, Path], tmp_path: Path, run_cli: RunCli
) -> None:
    first, second = pair
    out = tmp_path / "cli-mix.pt"
    done = run_cli("average", str(first), str(second), "--weight", "0.3", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert out.is_file() and "0.70 x" in done.stdout
    np.testing.assert_allclose(
        _weights(out)[FIRST_CONV],
        0.7 * _weights(first)[FIRST_CONV] + 0.3 * _weights(second)[FIRST_CONV],
        rtol=2e-3,
        atol=2e-3,
    )
    missing = run_cli("average", str(first), "nope.pt", "--weight", "0.3", "--out", "y.pt")
    assert missing.returncode == 2 and "nope.pt: checkpoint does not exist" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_an_exported_mix_names_its_sources_in_the_card(
    pair: tuple[Path, Path], tmp_path: Path, run_cli: RunCli
) -> None:
    import cv2

    first, second = pair
    mix = average_checkpoints(first, second, 0.3, tmp_path / "mix.pt").checkpoint
    samples = tmp_path / "samples"
    samples.mkdir()
    for index in range(2):
        image = np.random.default_rng(index).integers(0, 255, (160, 160, 3), dtype=np.uint8)
        cv2.imwrite(str(samples / f"{index}.png"), image)
    done = run_cli(
        "export", str(mix), "--name", "mix", "--weights", str(tmp_path / "w"),
        "--samples", str(samples),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert not (tmp_path / "mix.onnx").exists()  # nothing written beside the checkpoint
    card = json.loads((tmp_path / "w" / "mix" / "model.json").read_text())
    assert card["training"]["averaged_from"] == {
        "first": str(first),
        "second": str(second),
        "second_weight": 0.3,
    }
    # Untrained weights find nothing, so the parity check had no box to compare: said so.
    assert card["parity"]["boxes_compared"] == 0
    assert "no box was compared" in done.stderr
