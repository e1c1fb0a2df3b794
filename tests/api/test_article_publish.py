"""`loomsight calibrate --api`'s last step: the calibrated model uploaded and set for the machine
and article (with its texture-anomaly model, when it kept one); the machine's camera runs it while
that article runs, and a refusal is a clear error."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from loomsight.article.publish import publish
from loomsight.article.texture import fit_texture_model
from loomsight.errors import ConfigError
from loomsight.inference.model_card import ModelFile, file_sha256, read_card, write_card
from loomsight.inference.texture_anomaly import TEXTURE_FILE
from loomsight.schema import ACTIVE_MODEL_PATH, ActiveModel
from loomsight.training.registry import get_model
from tests.api.conftest import LiveApi
from tests.conftest import REPO_ROOT


def test_a_published_model_is_what_the_camera_runs_for_the_article(
    api: LiveApi, tmp_path: Path
) -> None:
    shutil.copytree(REPO_ROOT / "weights" / "default", tmp_path / "weights" / "default")
    model = get_model(tmp_path / "weights", "default")
    api.add_machine("loom-7", article="gingham check")
    camera = api.add_camera("loom-7", "loom-7-cam-1")
    assert camera.get(ACTIVE_MODEL_PATH).status_code == 404  # nothing active for it yet
    publish(api.admin, model, "loom-7", "gingham check")
    publish(api.admin, model, "loom-7", "gingham check")  # again: nothing changes, no error
    answer = camera.get(ACTIVE_MODEL_PATH)
    assert answer.status_code == 200 and answer.json()["version"] == model.card.version
    listed = api.admin.get("/api/v1/machines/loom-7/articles").json()
    assert [(a["article"], a["version"]) for a in listed] == [("gingham check", model.card.version)]
    with pytest.raises(ConfigError, match="404"):
        publish(api.admin, model, "loom-nowhere", "gingham check")


def test_a_published_model_takes_its_texture_model_along(api: LiveApi, tmp_path: Path) -> None:
    folder = tmp_path / "weights" / "calibrated"
    shutil.copytree(REPO_ROOT / "weights" / "default", folder)
    rng = np.random.default_rng(0)
    cloth = [rng.integers(90, 160, (64, 64, 3), dtype=np.uint8) for _ in range(4)]
    fit_texture_model(cloth, 16).with_threshold(3.0).save(folder / TEXTURE_FILE)
    card = read_card(folder)
    texture = ModelFile(
        file=TEXTURE_FILE,
        sha256=file_sha256(folder / TEXTURE_FILE),
        size_bytes=(folder / TEXTURE_FILE).stat().st_size,
    )
    write_card(folder, card.model_copy(update={"version": "calibrated@1", "texture": texture}))
    api.add_machine("loom-7", article="gingham check")
    camera = api.add_camera("loom-7", "loom-7-cam-1")
    publish(api.admin, get_model(tmp_path / "weights", "calibrated"), "loom-7", "gingham check")
    answer = ActiveModel.model_validate(camera.get(ACTIVE_MODEL_PATH).json())
    assert answer.version == "calibrated@1" and answer.texture_sha256 == texture.sha256
    assert answer.texture_download_path is not None
    fetched = camera.get(answer.texture_download_path).content
    assert fetched == (folder / TEXTURE_FILE).read_bytes()
