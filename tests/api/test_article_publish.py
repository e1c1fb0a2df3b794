"""`loomsight calibrate --api`'s last step: the calibrated model uploaded and set for the machine
and article; the machine's camera runs it while that article runs, and a refusal is a clear
error."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from loomsight.article.publish import publish
from loomsight.errors import ConfigError
from loomsight.schema import ACTIVE_MODEL_PATH
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
