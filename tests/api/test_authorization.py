"""The authorisation matrix: each role against each route, allowed or refused.

One server per database for the whole table (the requests make fresh ids where they create
things). Allowed means neither 401 nor 403 (and never a 5xx); refused means 401 for nobody and
403 for a known credential that may not do this.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from loomsight.schema import (
    ACTIVE_MODEL_PATH,
    IMAGE_PATH,
    INGEST_PATH,
    MODEL_FILE_PATH,
    MODEL_TEXTURE_PATH,
)
from tests.api.conftest import (
    BACKENDS,
    PASSWORD,
    LiveApi,
    batch,
    event,
    fresh_database,
    live_api,
)
from tests.api.test_images import jpeg
from tests.api.test_models import CARD

ROLES = ("anonymous", "camera_a", "camera_b", "reviewer", "admin")
MODEL_BYTES = b"not really onnx, but the card says so"
IMAGE = jpeg(7)
IMAGE_SHA = hashlib.sha256(IMAGE).hexdigest()


@dataclass
class World:
    api: LiveApi
    clients: dict[str, httpx.Client]


def _card(version: str) -> dict[str, Any]:
    card: dict[str, Any] = json.loads(json.dumps(CARD))
    card["version"] = version
    card["onnx"].update(sha256=hashlib.sha256(MODEL_BYTES).hexdigest(), size_bytes=len(MODEL_BYTES))
    return card


def _model_files(version: str) -> dict[str, Any]:
    return {
        "onnx": ("model.onnx", MODEL_BYTES, "application/octet-stream"),
        "card": ("model.json", json.dumps(_card(version)).encode(), "application/json"),
    }


@pytest.fixture(scope="module", params=BACKENDS)
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    folder = tmp_path_factory.mktemp("matrix")
    with fresh_database(str(request.param), folder) as url, live_api(url, folder) as api:
        api.add_machine("loom-a")
        api.add_machine("loom-b")
        clients = {
            "anonymous": api.client(),
            "camera_a": api.add_camera("loom-a", "cam-a"),
            "camera_b": api.add_camera("loom-b", "cam-b"),
            "reviewer": api.add_user("rita", "reviewer"),
            "admin": api.admin,
        }
        assert api.admin.post("/api/v1/models", files=_model_files("m@1")).status_code == 201
        clients["camera_a"].put(
            IMAGE_PATH.format(sha256=IMAGE_SHA),
            content=IMAGE,
            headers={"content-type": "image/jpeg"},
        )
        yield World(api=api, clients=clients)


def _fresh() -> str:
    return uuid.uuid4().hex[:12]


def _new_camera(world: World) -> str:
    camera_id = f"spare-{_fresh()}"
    world.api.admin.post("/api/v1/machines/loom-a/cameras", json={"id": camera_id})
    return camera_id


def _new_user(world: World) -> str:
    username = f"user-{_fresh()}"
    body = {"username": username, "password": PASSWORD, "role": "reviewer"}
    world.api.admin.post("/api/v1/users", json=body)
    return username


def _new_event(world: World) -> str:
    body = event("loom-a", "cam-a")
    world.clients["camera_a"].post(INGEST_PATH, json=batch(events=[body]))
    return str(body["event_id"])


def _new_roll(world: World) -> str:
    roll_id = f"roll-{_fresh()}"
    world.api.admin.post(f"/api/v1/machines/loom-a/rolls/{roll_id}/marks", json={"kind": "start"})
    return roll_id


def _new_article_model(world: World) -> str:
    """A fresh article of loom-b with a model (never the article loom-b weaves)."""
    article = f"article {_fresh()}"
    path = f"/api/v1/machines/loom-b/articles/{article}/model"
    world.api.admin.put(path, json={"version": "m@1"})
    return article


def _new_running_calibration(world: World) -> int:
    """A calibration claimed by a worker (on a machine of its own, so no other row claims it)."""
    machine_id = f"cal-{_fresh()}"
    world.api.admin.post("/api/v1/machines", json={"id": machine_id, "name": "n"})
    path = f"/api/v1/machines/{machine_id}/calibrations"
    world.api.admin.post(path, json={"article": "twill"})
    claimed = world.api.admin.post("/api/v1/calibrations/claim", json={"machine_id": machine_id})
    return int(claimed.json()["id"])


Call = Callable[[httpx.Client, World], httpx.Response]

ROUTES: dict[str, tuple[Call, set[str]]] = {
    "POST ingest": (
        lambda c, w: c.post(INGEST_PATH, json=batch(events=[event("loom-a", "cam-a")])),
        {"camera_a"},
    ),
    "PUT image": (
        lambda c, w: c.put(
            IMAGE_PATH.format(sha256=IMAGE_SHA),
            content=IMAGE,
            headers={"content-type": "image/jpeg"},
        ),
        {"camera_a", "camera_b"},
    ),
    "GET image": (lambda c, w: c.get(IMAGE_PATH.format(sha256=IMAGE_SHA)), {"reviewer", "admin"}),
    "GET active model": (lambda c, w: c.get(ACTIVE_MODEL_PATH), {"camera_a", "camera_b"}),
    "GET model file": (
        lambda c, w: c.get(MODEL_FILE_PATH.format(version="m@1")),
        {"camera_a", "camera_b", "reviewer", "admin"},
    ),
    "GET model texture": (  # m@1 has none: 404 once let through
        lambda c, w: c.get(MODEL_TEXTURE_PATH.format(version="m@1")),
        {"camera_a", "camera_b", "reviewer", "admin"},
    ),
    "GET models": (lambda c, w: c.get("/api/v1/models"), {"reviewer", "admin"}),
    "GET model": (lambda c, w: c.get("/api/v1/models/m@1"), {"reviewer", "admin"}),
    "POST model": (
        lambda c, w: c.post("/api/v1/models", files=_model_files(f"m@{_fresh()}")),
        {"admin"},
    ),
    "POST activate": (
        lambda c, w: c.post("/api/v1/models/m@1/activate", json={"machines": ["loom-b"]}),
        {"admin"},
    ),
    "POST deactivate": (
        lambda c, w: c.post("/api/v1/models/m@1/deactivate", json={"machines": ["loom-b"]}),
        {"admin"},
    ),
    "POST machines": (
        lambda c, w: c.post("/api/v1/machines", json={"id": _fresh(), "name": "n"}),
        {"admin"},
    ),
    "GET machines": (lambda c, w: c.get("/api/v1/machines"), {"reviewer", "admin"}),
    "GET machine": (lambda c, w: c.get("/api/v1/machines/loom-a"), {"reviewer", "admin"}),
    "PATCH machine": (
        lambda c, w: c.patch("/api/v1/machines/loom-b", json={"article": "twill"}),
        {"admin"},
    ),
    "PUT article model": (
        lambda c, w: c.put(
            f"/api/v1/machines/loom-b/articles/article {_fresh()}/model", json={"version": "m@1"}
        ),
        {"admin"},
    ),
    "DELETE article model": (
        lambda c, w: c.delete(f"/api/v1/machines/loom-b/articles/{_new_article_model(w)}/model"),
        {"admin"},
    ),
    "GET article models": (
        lambda c, w: c.get("/api/v1/machines/loom-b/articles"),
        {"reviewer", "admin"},
    ),
    "POST calibration": (
        lambda c, w: c.post(
            "/api/v1/machines/loom-a/calibrations", json={"article": f"article {_fresh()}"}
        ),
        {"reviewer", "admin"},
    ),
    "GET calibrations": (
        lambda c, w: c.get("/api/v1/machines/loom-a/calibrations"),
        {"reviewer", "admin"},
    ),
    "POST calibration claim": (
        lambda c, w: c.post("/api/v1/calibrations/claim", json={"machine_id": "loom-a"}),
        {"admin"},
    ),
    "PUT calibration result": (
        lambda c, w: c.put(
            f"/api/v1/calibrations/{_new_running_calibration(w)}/result", json={"status": "done"}
        ),
        {"admin"},
    ),
    "POST camera": (
        lambda c, w: c.post("/api/v1/machines/loom-b/cameras", json={"id": _fresh()}),
        {"admin"},
    ),
    "GET cameras": (lambda c, w: c.get("/api/v1/machines/loom-a/cameras"), {"admin"}),
    "POST camera token": (
        lambda c, w: c.post(f"/api/v1/cameras/{_new_camera(w)}/token"),
        {"admin"},
    ),
    "DELETE camera": (lambda c, w: c.delete(f"/api/v1/cameras/{_new_camera(w)}"), {"admin"}),
    "POST users": (
        lambda c, w: c.post(
            "/api/v1/users", json={"username": _fresh(), "password": PASSWORD, "role": "reviewer"}
        ),
        {"admin"},
    ),
    "GET users": (lambda c, w: c.get("/api/v1/users"), {"admin"}),
    "DELETE user": (lambda c, w: c.delete(f"/api/v1/users/{_new_user(w)}"), {"admin"}),
    "GET me": (lambda c, w: c.get("/api/v1/auth/me"), {"reviewer", "admin"}),
    "GET healthz": (lambda c, w: c.get("/healthz"), set(ROLES)),
    "GET readyz": (lambda c, w: c.get("/readyz"), set(ROLES)),
    "GET metrics": (lambda c, w: c.get("/metrics"), set(ROLES)),
    "GET openapi": (lambda c, w: c.get("/openapi.json"), set(ROLES)),
    "GET review queue": (lambda c, w: c.get("/api/v1/review/queue"), {"reviewer", "admin"}),
    "GET review summary": (lambda c, w: c.get("/api/v1/review/summary"), {"reviewer", "admin"}),
    "GET review detection": (
        lambda c, w: c.get(f"/api/v1/review/events/{_new_event(w)}"),
        {"reviewer", "admin"},
    ),
    "PUT verdict": (
        lambda c, w: c.put(
            f"/api/v1/review/events/{_new_event(w)}/verdict", json={"verdict": "confirmed"}
        ),
        {"reviewer", "admin"},
    ),
    "DELETE verdict": (
        lambda c, w: c.delete(f"/api/v1/review/events/{_new_event(w)}/verdict"),
        {"reviewer", "admin"},
    ),
    "GET reviewed dataset": (
        lambda c, w: c.get("/api/v1/datasets/reviewed"),
        {"reviewer", "admin"},
    ),
    "GET machine rates": (
        lambda c, w: c.get("/api/v1/machines/loom-a/rates"),
        {"reviewer", "admin"},
    ),
    "GET compared rates": (
        lambda c, w: c.get("/api/v1/rates", params={"machine": ["loom-a", "loom-b"]}),
        {"reviewer", "admin"},
    ),
    "GET rolls": (lambda c, w: c.get("/api/v1/machines/loom-a/rolls"), {"reviewer", "admin"}),
    "POST roll mark": (
        lambda c, w: c.post(
            f"/api/v1/machines/loom-a/rolls/{_fresh()}/marks", json={"kind": "start"}
        ),
        {"reviewer", "admin"},
    ),
    "GET roll report": (
        lambda c, w: c.get(f"/api/v1/machines/loom-a/rolls/{_new_roll(w)}"),
        {"reviewer", "admin"},
    ),
    "GET roll page": (
        lambda c, w: c.get(f"/api/v1/machines/loom-a/rolls/{_new_roll(w)}/report.html"),
        {"reviewer", "admin"},
    ),
    "GET roll map": (
        lambda c, w: c.get(f"/api/v1/machines/loom-a/rolls/{_new_roll(w)}/map.svg"),
        {"reviewer", "admin"},
    ),
}
CASES = [
    pytest.param(route, role, role in allowed, id=f"{route}-{role}")
    for route, (_call, allowed) in ROUTES.items()
    for role in ROLES
]


@pytest.mark.parametrize(("route", "role", "allowed"), CASES)
def test_each_role_against_each_route(world: World, route: str, role: str, allowed: bool) -> None:
    call, _allowed = ROUTES[route]

    response = call(world.clients[role], world)

    assert response.status_code < 500, response.text
    if allowed:
        assert response.status_code not in (401, 403), response.text
        answers_404 = route in ("GET active model", "GET model texture")
        assert response.status_code < 400 or answers_404, response.text
    else:
        assert response.status_code == (401 if role == "anonymous" else 403), response.text
        assert response.json()["detail"]


def test_every_route_of_the_app_is_in_the_matrix(world: World) -> None:
    schema = world.clients["anonymous"].get("/openapi.json").json()
    operations = {
        f"{method.upper()} {path}" for path, item in schema["paths"].items() for method in item
    }
    covered = {
        "POST /api/v1/ingest",
        "PUT /api/v1/images/{sha256}",
        "GET /api/v1/images/{sha256}",
        "GET /api/v1/camera/model",
        "GET /api/v1/models/{version}/file",
        "GET /api/v1/models/{version}/texture",
        "GET /api/v1/models",
        "GET /api/v1/models/{version}",
        "POST /api/v1/models",
        "POST /api/v1/models/{version}/activate",
        "POST /api/v1/models/{version}/deactivate",
        "POST /api/v1/machines",
        "GET /api/v1/machines",
        "GET /api/v1/machines/{machine_id}",
        "PATCH /api/v1/machines/{machine_id}",
        "PUT /api/v1/machines/{machine_id}/articles/{article}/model",
        "DELETE /api/v1/machines/{machine_id}/articles/{article}/model",
        "GET /api/v1/machines/{machine_id}/articles",
        "POST /api/v1/machines/{machine_id}/calibrations",
        "GET /api/v1/machines/{machine_id}/calibrations",
        "POST /api/v1/calibrations/claim",
        "PUT /api/v1/calibrations/{calibration_id}/result",
        "POST /api/v1/machines/{machine_id}/cameras",
        "GET /api/v1/machines/{machine_id}/cameras",
        "POST /api/v1/cameras/{camera_id}/token",
        "DELETE /api/v1/cameras/{camera_id}",
        "POST /api/v1/users",
        "GET /api/v1/users",
        "DELETE /api/v1/users/{username}",
        "GET /api/v1/auth/me",
        "GET /healthz",
        "GET /readyz",
        "GET /api/v1/review/queue",
        "GET /api/v1/review/summary",
        "GET /api/v1/review/events/{event_id}",
        "PUT /api/v1/review/events/{event_id}/verdict",
        "DELETE /api/v1/review/events/{event_id}/verdict",
        "GET /api/v1/datasets/reviewed",
        "GET /api/v1/machines/{machine_id}/rates",
        "GET /api/v1/rates",
        "GET /api/v1/machines/{machine_id}/rolls",
        "POST /api/v1/machines/{machine_id}/rolls/{roll_id}/marks",
        "GET /api/v1/machines/{machine_id}/rolls/{roll_id}",
        "GET /api/v1/machines/{machine_id}/rolls/{roll_id}/report.html",
        "GET /api/v1/machines/{machine_id}/rolls/{roll_id}/map.svg",
        # Tested on their own (test_accounts): logging in is for everybody, logging out ends
        # the session the rest of the table needs.
        "POST /api/v1/auth/token",
        "POST /api/v1/auth/logout",
    }
    assert operations == covered


def test_a_camera_learns_only_its_own_machines_model(world: World) -> None:
    admin = world.api.admin
    admin.post("/api/v1/models/m@1/activate", json={"machines": ["loom-a"]})
    try:
        assert world.clients["camera_a"].get(ACTIVE_MODEL_PATH).json()["version"] == "m@1"
        assert world.clients["camera_b"].get(ACTIVE_MODEL_PATH).status_code == 404
    finally:
        admin.post("/api/v1/models/m@1/deactivate", json={"machines": ["loom-a"]})
