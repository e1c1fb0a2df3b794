"""Hand a calibrated model to the API: upload it (ONNX file, card, and its texture-anomaly model
when it kept one) and set it as the model of the machine for the article, so the machine's agents
switch to it whenever that article runs."""

from __future__ import annotations

from urllib.parse import quote

import httpx

from loomsight.errors import ConfigError
from loomsight.training.registry import RegisteredModel

MODELS_PATH = "/api/v1/models"


def article_model_path(machine_id: str, article: str) -> str:
    return f"/api/v1/machines/{quote(machine_id, safe='')}/articles/{quote(article, safe='')}/model"


def refusal(response: httpx.Response, what: str) -> ConfigError:
    """The error for an API that refused WHAT, with its answer."""
    return ConfigError(f"{what}: the API answered {response.status_code}: {response.text[:500]}")


def _checked(response: httpx.Response, what: str) -> None:
    if response.status_code not in (200, 201):
        raise refusal(response, what)


def publish(client: httpx.Client, model: RegisteredModel, machine_id: str, article: str) -> None:
    """Upload MODEL (again is fine) and set it for MACHINE_ID and ARTICLE; CLIENT has the API's
    base URL and an admin's token. ConfigError with the API's answer if it refuses."""
    files = {
        "onnx": ("model.onnx", model.onnx_path.read_bytes(), "application/octet-stream"),
        "card": ("model.json", model.card.model_dump_json().encode(), "application/json"),
    }
    if model.card.texture is not None:
        texture = model.folder / model.card.texture.file
        files["texture"] = (texture.name, texture.read_bytes(), "application/octet-stream")
    try:
        _checked(client.post(MODELS_PATH, files=files), f"upload {model.card.version}")
        body = {"version": model.card.version}
        answer = client.put(article_model_path(machine_id, article), json=body)
        _checked(answer, f"set {model.card.version} for {machine_id} / {article!r}")
    except httpx.HTTPError as error:
        raise ConfigError(f"could not reach the API at {client.base_url}: {error}") from None
