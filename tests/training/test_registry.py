"""The registry in weights/: list, show, promote, and clear errors for what is not there."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from loomsight.errors import ModelFileError
from loomsight.inference.model_card import ModelCard, OnnxFile, read_card, write_card
from loomsight.training.registry import get_model, list_models, promote
from tests.conftest import RunCli


def _register(weights: Path, name: str, with_onnx: bool = True) -> ModelCard:
    card = ModelCard(
        name=name,
        version=f"{name}@1",
        classes=["hole", "stain"],
        input_size_hw=(416, 416),
        stride=32,
        opset=18,
        created_at=datetime(2026, 11, 26, tzinfo=UTC),
        onnx=OnnxFile(file="model.onnx", sha256="0" * 64, size_bytes=4),
    )
    write_card(weights / name, card)
    if with_onnx:
        (weights / name / "model.onnx").write_bytes(b"onnx")
    return card


def test_promote_marks_one_model_active(tmp_path: Path) -> None:
    _register(tmp_path, "a")
    _register(tmp_path, "b")
    assert [m.active for m in list_models(tmp_path)] == [False, False]
    promote(tmp_path, "b")
    assert [(m.name, m.active) for m in list_models(tmp_path)] == [("a", False), ("b", True)]
    assert get_model(tmp_path).name == "b"
    promote(tmp_path, "a")
    assert get_model(tmp_path).name == "a"


@pytest.mark.parametrize(
    ("setup", "name", "message"),
    [
        ("none", None, "no model is active"),
        ("a", "zzz", "no model 'zzz' in the registry (known: a)"),
        ("a", "../etc", "expected 1-64 letters"),
        ("no-onnx", "a", "ONNX file is missing"),
        ("bad-card", "a", "model card field"),
    ],
)
def test_registry_errors_say_what_is_wrong(
    tmp_path: Path, setup: str, name: str | None, message: str
) -> None:
    if setup != "none":
        _register(tmp_path, "a", with_onnx=setup != "no-onnx")
    if setup == "bad-card":
        (tmp_path / "a" / "model.json").write_text('{"name": "a"}')
    with pytest.raises(ModelFileError, match=re.escape(message)):
        promote(tmp_path, name) if name else get_model(tmp_path)


def test_card_round_trips(tmp_path: Path) -> None:
    card = _register(tmp_path, "a")
    assert read_card(tmp_path / "a") == card


def test_models_cli(run_cli: RunCli, tmp_path: Path) -> None:
    _register(tmp_path, "fabric-v1")
    weights = str(tmp_path)
    assert (
        "active model: fabric-v1"
        in run_cli("models", "promote", "fabric-v1", "--weights", weights, check=True).stdout
    )
    listed = run_cli("models", "list", "--weights", weights, check=True).stdout
    assert "fabric-v1" in listed and "*" in listed
    assert (
        '"version": "fabric-v1@1"'
        in run_cli("models", "show", "fabric-v1", "--weights", weights, check=True).stdout
    )
    missing = run_cli("models", "show", "nope", "--weights", weights)
    assert missing.returncode == 2 and "no model 'nope'" in missing.stderr
