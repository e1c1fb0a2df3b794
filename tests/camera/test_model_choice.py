"""Which ONNX file an agent loads: a path as given, a registry name, or, when the settings name
the article now running, the model calibrated for this machine and article."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from loomsight.camera.assemble import model_path
from loomsight.camera.settings import ModelSettings
from loomsight.errors import ModelFileError
from loomsight.training.registry import set_article_model
from tests.conftest import REPO_ROOT


@pytest.fixture
def weights(tmp_path: Path) -> Path:
    folder = tmp_path / "weights"
    for name in ("default", "loom-7-check"):
        shutil.copytree(REPO_ROOT / "weights" / "default", folder / name)
    set_article_model(folder, "loom-7", "gingham check", "loom-7-check")
    return folder


@pytest.mark.parametrize(
    ("machine_id", "article", "expected"),
    [
        ("loom-7", "gingham check", "loom-7-check"),
        ("loom-7", "plain", "default"),  # no model calibrated for this article
        ("loom-8", "gingham check", "default"),  # nor on this machine
        ("loom-7", None, "default"),
    ],
)
def test_the_article_chooses_its_calibrated_model(
    weights: Path, machine_id: str, article: str | None, expected: str
) -> None:
    settings = ModelSettings(weights_dir=weights, article=article)
    assert model_path(settings, machine_id) == weights / expected / "model.onnx"


def test_a_path_is_used_as_given_and_a_missing_one_refused(weights: Path) -> None:
    onnx = weights / "loom-7-check" / "model.onnx"
    settings = ModelSettings(model=str(onnx), weights_dir=weights, article="plain")
    assert model_path(settings, "loom-7") == onnx
    with pytest.raises(ModelFileError, match="no such model file"):
        model_path(ModelSettings(model=str(weights / "gone.onnx")), "loom-7")
