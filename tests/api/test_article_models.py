"""The model per machine and article: a camera runs the model set for its machine and the article
the machine weaves now, else the machine's own, else the model for all machines."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from loomsight.schema import ACTIVE_MODEL_PATH
from tests.api.conftest import BACKENDS, LiveApi, fresh_database, live_api
from tests.api.test_models import CARD, ONNX_BYTES, other_version, upload

GLOBAL = CARD["version"]


def article_path(machine_id: str, article: str) -> str:
    return f"/api/v1/machines/{machine_id}/articles/{quote(article, safe='')}/model"


def set_article_model(
    client: httpx.Client, machine_id: str, article: str, version: str
) -> httpx.Response:
    return client.put(article_path(machine_id, article), json={"version": version})


def add_version(api: LiveApi, version: str, marker: bytes) -> None:
    """Upload the default model as VERSION (a byte appended: another file)."""
    onnx = ONNX_BYTES + marker
    assert upload(api.admin, other_version(CARD, version, onnx), onnx).status_code == 201


def running(camera: httpx.Client) -> str:
    answer = camera.get(ACTIVE_MODEL_PATH)
    assert answer.status_code == 200, answer.text
    return str(answer.json()["version"])


def set_article(api: LiveApi, machine_id: str, article: str | None) -> None:
    changed = api.admin.patch(f"/api/v1/machines/{machine_id}", json={"article": article})
    assert changed.status_code == 200, changed.text


def test_a_machine_runs_its_articles_model_only_while_it_weaves_that_article(
    api: LiveApi,
) -> None:
    api.add_machine("loom-1", article="plain")
    api.add_machine("loom-2", article="twill")
    camera_1 = api.add_camera("loom-1", "cam-1")
    camera_2 = api.add_camera("loom-2", "cam-2")
    assert upload(api.admin, CARD).status_code == 201
    api.admin.post(f"/api/v1/models/{GLOBAL}/activate", json={})
    add_version(api, "default@twill-1", b"\x03")

    chosen = set_article_model(api.admin, "loom-1", "twill", "default@twill-1")

    assert chosen.status_code == 200, chosen.text
    assert chosen.json() | {"activated_at": None} == {
        "article": "twill",
        "version": "default@twill-1",
        "name": CARD["name"],
        "activated_at": None,
        "activated_by": "root-admin",
        "current": False,
    }
    assert running(camera_1) == GLOBAL  # loom-1 weaves plain
    set_article(api, "loom-1", "twill")
    assert running(camera_1) == "default@twill-1"
    assert running(camera_2) == GLOBAL  # the same article on another machine: not its model
    listed = api.admin.get("/api/v1/machines/loom-1/articles").json()
    assert [(a["article"], a["version"], a["current"]) for a in listed] == [
        ("twill", "default@twill-1", True)
    ]
    set_article(api, "loom-1", "plain")
    assert running(camera_1) == GLOBAL
    set_article(api, "loom-1", "twill")
    assert running(camera_1) == "default@twill-1"
    set_article(api, "loom-1", None)
    assert running(camera_1) == GLOBAL


def test_removing_the_articles_model_falls_back_to_the_machines_then_to_all(
    api: LiveApi,
) -> None:
    api.add_machine("loom-1", article="twill")
    camera = api.add_camera("loom-1", "cam-1")
    upload(api.admin, CARD)
    add_version(api, "default@own", b"\x04")
    add_version(api, "default@twill-1", b"\x05")
    add_version(api, "default@twill-2", b"\x06")
    api.admin.post(f"/api/v1/models/{GLOBAL}/activate", json={})
    api.admin.post("/api/v1/models/default@own/activate", json={"machines": ["loom-1"]})

    set_article_model(api.admin, "loom-1", "twill", "default@twill-1")
    replaced = set_article_model(api.admin, "loom-1", "twill", "default@twill-2")

    assert replaced.json()["current"] is True
    assert running(camera) == "default@twill-2"  # the article's wins over the machine's own
    assert api.admin.delete(article_path("loom-1", "twill")).status_code == 204
    assert running(camera) == "default@own"
    assert api.admin.get("/api/v1/machines/loom-1/articles").json() == []
    api.admin.post("/api/v1/models/default@own/deactivate", json={"machines": ["loom-1"]})
    assert running(camera) == GLOBAL
    again = api.admin.delete(article_path("loom-1", "twill"))
    assert again.status_code == 404
    assert "no model set for article 'twill'" in again.text


def test_an_article_with_a_slash_and_accents_travels_quoted(api: LiveApi) -> None:
    article = "2/1 Köper 100% CO, 180 g/m²"
    api.add_machine("loom-1", article=article)
    camera = api.add_camera("loom-1", "cam-1")
    add_version(api, "default@koeper", b"\x07")

    chosen = set_article_model(api.admin, "loom-1", article, "default@koeper")

    assert chosen.status_code == 200, chosen.text
    assert chosen.json()["article"] == article and chosen.json()["current"] is True
    assert running(camera) == "default@koeper"
    listed = api.admin.get("/api/v1/machines/loom-1/articles").json()
    assert [a["article"] for a in listed] == [article]


@pytest.fixture(scope="module", params=BACKENDS)
def shared_api(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveApi]:
    """One API per database for the table of refusals (none of them changes anything)."""
    folder: Path = tmp_path_factory.mktemp("article-refusals")
    with fresh_database(str(request.param), folder) as url, live_api(url, folder) as api:
        api.add_machine("loom-1", article="twill")
        upload(api.admin, CARD)
        api.add_user("rita", "reviewer")
        yield api


def _reviewer(api: LiveApi) -> httpx.Client:
    return api.log_in("rita")


@pytest.mark.parametrize(
    ("method", "path", "body", "as_reviewer", "status", "message"),
    [
        ("PUT", article_path("loom-1", "twill"), {"version": "nope"}, False, 404, "no model"),
        ("PUT", article_path("loom-9", "twill"), {"version": GLOBAL}, False, 404, "no machine"),
        ("PUT", article_path("loom-1", "twill"), {"version": "a b"}, False, 422, "version"),
        ("PUT", article_path("loom-1", "twill"), {"v": GLOBAL}, False, 422, "version"),
        ("PUT", article_path("loom-1", "x" * 201), {"version": GLOBAL}, False, 422, "200"),
        ("PUT", article_path("loom-1", "a\x00b"), {"version": GLOBAL}, False, 422, "article"),
        ("PUT", article_path("loom-1", ""), {"version": GLOBAL}, False, 422, "article"),
        ("PUT", article_path("loom-1", "twill"), "version", False, 415, "application/json"),
        ("PUT", article_path("loom-1", "twill"), {"version": GLOBAL}, True, 403, "for admins"),
        ("DELETE", article_path("loom-1", "twill"), None, True, 403, "for admins"),
        ("DELETE", article_path("loom-1", "satin"), None, False, 404, "'satin'"),
        ("GET", "/api/v1/machines/loom-9/articles", None, True, 404, "no machine 'loom-9'"),
    ],
    ids=[
        "unknown version",
        "unknown machine",
        "bad version",
        "unknown field",
        "article too long",
        "article with NUL",
        "empty article",
        "not JSON",
        "reviewer sets",
        "reviewer removes",
        "nothing to remove",
        "unknown machine listed",
    ],
)
def test_bad_requests_are_refused_and_change_nothing(
    shared_api: LiveApi,
    method: str,
    path: str,
    body: Any,
    as_reviewer: bool,
    status: int,
    message: str,
) -> None:
    client = _reviewer(shared_api) if as_reviewer else shared_api.admin
    if isinstance(body, str):
        response = client.request(
            method, path, content=body, headers={"content-type": "text/plain"}
        )
    else:
        response = client.request(method, path, json=body)

    assert response.status_code == status, response.text
    assert message in response.text
    assert shared_api.admin.get("/api/v1/machines/loom-1/articles").json() == []
