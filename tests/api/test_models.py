"""Models: upload the shipped default model (ONNX + card), activate it, a camera finds and
downloads it; cards that do not describe the file are refused; a calibrated model's
texture-anomaly file travels with it."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from loomsight.article.texture import fit_texture_model
from loomsight.schema import ACTIVE_MODEL_PATH, ActiveModel
from tests.api.conftest import LiveApi
from tests.conftest import REPO_ROOT

DEFAULT_MODEL = REPO_ROOT / "weights" / "default"
ONNX_BYTES = (DEFAULT_MODEL / "model.onnx").read_bytes()
CARD: dict[str, Any] = json.loads((DEFAULT_MODEL / "model.json").read_text())


def upload(
    client: httpx.Client,
    card: dict[str, Any],
    onnx: bytes = ONNX_BYTES,
    texture: bytes | None = None,
) -> httpx.Response:
    files = {
        "onnx": ("model.onnx", onnx, "application/octet-stream"),
        "card": ("model.json", json.dumps(card).encode(), "application/json"),
    }
    if texture is not None:
        files["texture"] = ("texture.npz", texture, "application/octet-stream")
    return client.post("/api/v1/models", files=files)


def other_version(card: dict[str, Any], version: str, onnx: bytes) -> dict[str, Any]:
    changed: dict[str, Any] = json.loads(json.dumps(card))
    changed["version"] = version
    changed["onnx"]["sha256"] = hashlib.sha256(onnx).hexdigest()
    changed["onnx"]["size_bytes"] = len(onnx)
    return changed


def test_the_default_model_goes_from_upload_to_a_camera(api: LiveApi) -> None:
    api.add_machine("loom-1")
    camera = api.add_camera("loom-1", "cam-1")
    assert camera.get(ACTIVE_MODEL_PATH).status_code == 404

    uploaded = upload(api.admin, CARD)
    again = upload(api.admin, CARD)
    activated = api.admin.post(f"/api/v1/models/{CARD['version']}/activate", json={})

    assert uploaded.status_code == 201, uploaded.text
    assert again.status_code == 200
    assert activated.json()["active_for_all"] is True
    active = ActiveModel.model_validate(camera.get(ACTIVE_MODEL_PATH).json())
    assert (active.name, active.version) == (CARD["name"], CARD["version"])
    assert active.sha256 == CARD["onnx"]["sha256"] == hashlib.sha256(ONNX_BYTES).hexdigest()
    download = camera.get(active.download_path)
    assert download.status_code == 200
    assert hashlib.sha256(download.content).hexdigest() == active.sha256
    assert int(download.headers["content-length"]) == active.size_bytes == len(ONNX_BYTES)
    listed = api.admin.get("/api/v1/models").json()
    assert [m["version"] for m in listed] == [CARD["version"]]
    assert listed[0]["card"]["classes"] == CARD["classes"]


def test_a_machine_of_its_own_choice_wins_over_the_model_for_all(
    api: LiveApi, tmp_path: Path
) -> None:
    for machine in ("loom-1", "loom-2"):
        api.add_machine(machine)
    camera_1 = api.add_camera("loom-1", "cam-1")
    camera_2 = api.add_camera("loom-2", "cam-2")
    trial_onnx = ONNX_BYTES + b"\x00"  # a different file: another version
    trial = other_version(CARD, "default@trial", trial_onnx)
    assert upload(api.admin, CARD).status_code == 201
    assert upload(api.admin, trial, trial_onnx).status_code == 201

    api.admin.post(f"/api/v1/models/{CARD['version']}/activate", json={"machines": None})
    chosen = api.admin.post("/api/v1/models/default@trial/activate", json={"machines": ["loom-2"]})

    assert chosen.json()["active_machines"] == ["loom-2"]
    assert camera_1.get(ACTIVE_MODEL_PATH).json()["version"] == CARD["version"]
    assert camera_2.get(ACTIVE_MODEL_PATH).json()["version"] == "default@trial"
    api.admin.post("/api/v1/models/default@trial/deactivate", json={"machines": ["loom-2"]})
    assert camera_2.get(ACTIVE_MODEL_PATH).json()["version"] == CARD["version"]
    api.admin.post(f"/api/v1/models/{CARD['version']}/deactivate", json={})
    assert camera_1.get(ACTIVE_MODEL_PATH).status_code == 404


def test_only_one_model_is_active_for_all(api: LiveApi) -> None:
    trial_onnx = ONNX_BYTES + b"\x01"
    upload(api.admin, CARD)
    upload(api.admin, other_version(CARD, "default@trial", trial_onnx), trial_onnx)

    api.admin.post(f"/api/v1/models/{CARD['version']}/activate", json={})
    api.admin.post("/api/v1/models/default@trial/activate", json={})

    flags = {m["version"]: m["active_for_all"] for m in api.admin.get("/api/v1/models").json()}
    assert flags == {CARD["version"]: False, "default@trial": True}


def _card_with(**changes: Any) -> dict[str, Any]:
    card: dict[str, Any] = json.loads(json.dumps(CARD))
    for dotted, value in changes.items():
        target = card
        *parents, last = dotted.split("__")
        for parent in parents:
            target = target[parent]
        target[last] = value
    return card


@pytest.mark.parametrize(
    ("card", "status", "message"),
    [
        (_card_with(onnx__sha256="0" * 64), 422, "file sha256 is"),
        (_card_with(onnx__size_bytes=12), 422, "expected 12"),
        (_card_with(version="has a space"), 422, "model card version"),
        (_card_with(classes="hole"), 422, "model card classes"),
        (_card_with(colour="red"), 422, "model card colour"),
    ],
    ids=["wrong sha256", "wrong size", "bad version", "bad classes", "unknown field"],
)
def test_a_card_that_does_not_describe_the_file_is_refused(
    api: LiveApi, card: dict[str, Any], status: int, message: str
) -> None:
    response = upload(api.admin, card)

    assert response.status_code == status, response.text
    assert message in response.text
    assert api.admin.get("/api/v1/models").json() == []
    stored = (Path(api.settings.storage_dir) / "models").rglob("*")
    assert not [path for path in stored if path.is_file()]


def test_a_version_held_with_another_file_is_a_conflict(api: LiveApi) -> None:
    upload(api.admin, CARD)
    changed = ONNX_BYTES + b"\x02"

    response = upload(api.admin, other_version(CARD, CARD["version"], changed), changed)

    assert response.status_code == 409
    assert "export a new version" in response.text


def test_a_model_upload_that_is_not_multipart_is_refused(api: LiveApi) -> None:
    response = api.admin.post("/api/v1/models", json={"onnx": "x", "card": CARD})

    assert response.status_code == 415
    assert "multipart/form-data" in response.text


def test_activating_for_an_unknown_machine_names_it(api: LiveApi) -> None:
    upload(api.admin, CARD)

    response = api.admin.post(
        f"/api/v1/models/{CARD['version']}/activate", json={"machines": ["ghost"]}
    )

    assert response.status_code == 404
    assert "'ghost'" in response.text


def _texture_bytes(tmp_path: Path) -> bytes:
    rng = np.random.default_rng(0)
    cloth = [rng.integers(90, 160, (64, 64, 3), dtype=np.uint8) for _ in range(4)]
    path = tmp_path / "texture.npz"
    fit_texture_model(cloth, 16).with_threshold(3.0).save(path)
    return path.read_bytes()


def test_a_calibrated_models_texture_file_goes_to_the_camera_with_it(
    api: LiveApi, tmp_path: Path
) -> None:
    texture = _texture_bytes(tmp_path)
    card = _card_with(version="article@1")
    card["texture"] = {
        "file": "texture.npz",
        "sha256": hashlib.sha256(texture).hexdigest(),
        "size_bytes": len(texture),
    }
    api.add_machine("loom-1")
    camera = api.add_camera("loom-1", "cam-1")

    without_file = upload(api.admin, card)
    uploaded = upload(api.admin, card, texture=texture)
    activated = api.admin.post("/api/v1/models/article@1/activate", json={})

    assert without_file.status_code == 422 and "send it as 'texture'" in without_file.text
    assert uploaded.status_code == 201, uploaded.text
    assert activated.status_code == 200
    active = ActiveModel.model_validate(camera.get(ACTIVE_MODEL_PATH).json())
    assert active.texture_sha256 == card["texture"]["sha256"]
    assert active.texture_size_bytes == len(texture)
    assert active.texture_download_path is not None
    download = camera.get(active.texture_download_path)
    assert download.status_code == 200 and download.content == texture


def test_a_texture_file_the_card_does_not_name_is_refused_and_none_announced(
    api: LiveApi, tmp_path: Path
) -> None:
    api.add_machine("loom-1")
    camera = api.add_camera("loom-1", "cam-1")
    refused = upload(api.admin, CARD, texture=_texture_bytes(tmp_path))
    assert refused.status_code == 422 and "the card names none" in refused.text
    upload(api.admin, CARD)
    api.admin.post(f"/api/v1/models/{CARD['version']}/activate", json={})
    answer = camera.get(ACTIVE_MODEL_PATH).json()
    assert not any(key.startswith("texture") for key in answer)  # as agents before it read it
    assert camera.get(f"/api/v1/models/{CARD['version']}/texture").status_code == 404
