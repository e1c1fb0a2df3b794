"""Machines, cameras and users through the API: tokens, logins, revocation, expiry."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from loomsight.api.auth import SESSION_COOKIE
from loomsight.schema import ACTIVE_MODEL_PATH, INGEST_PATH
from tests.api.conftest import NOW, PASSWORD, LiveApi, batch, event, live_api


def test_a_camera_token_is_shown_once_and_works_until_rotated_or_revoked(api: LiveApi) -> None:
    api.add_machine("loom-1")
    created = api.admin.post("/api/v1/machines/loom-1/cameras", json={"id": "cam-1"}).json()
    old = api.client(created["token"])
    assert old.post(INGEST_PATH, json=batch()).status_code == 200
    listed = api.admin.get("/api/v1/machines/loom-1/cameras").json()
    assert [c["id"] for c in listed] == ["cam-1"]
    assert "token" not in listed[0]

    rotated = api.admin.post("/api/v1/cameras/cam-1/token").json()
    new = api.client(rotated["token"])
    assert old.post(INGEST_PATH, json=batch()).status_code == 401
    assert new.post(INGEST_PATH, json=batch()).status_code == 200

    revoked = api.admin.delete("/api/v1/cameras/cam-1").json()
    assert revoked["revoked_at"] is not None
    assert new.post(INGEST_PATH, json=batch()).status_code == 401


def test_a_camera_writes_only_as_itself_on_its_own_machine(api: LiveApi) -> None:
    api.add_machine("loom-1")
    api.add_machine("loom-2")
    camera = api.add_camera("loom-1", "cam-1")
    api.add_camera("loom-1", "cam-2")

    other_machine = camera.post(INGEST_PATH, json=batch(events=[event("loom-2", "cam-1")]))
    other_camera = camera.post(INGEST_PATH, json=batch(events=[event("loom-1", "cam-2")]))
    mixed = camera.post(
        INGEST_PATH, json=batch(events=[event("loom-1", "cam-1"), event("loom-2", "cam-1")])
    )

    assert other_machine.status_code == 403
    assert "events[0] names machine 'loom-2'" in other_machine.json()["detail"]
    assert other_camera.status_code == 403
    assert mixed.status_code == 403  # refused whole: nothing of it stored
    assert camera.post(INGEST_PATH, json=batch()).json()["events_stored"] == 0


@pytest.mark.parametrize(
    ("path", "body", "status", "message"),
    [
        ("/api/v1/machines", {"id": "loom-1", "name": "again"}, 409, "exists already"),
        ("/api/v1/machines", {"id": "../x", "name": "n"}, 422, "pattern"),
        ("/api/v1/machines", {"id": "m", "name": "n", "web_width_mm": 0}, 422, "greater than 0"),
        ("/api/v1/machines", {"id": "m", "name": "a\u0000b"}, 422, "NUL"),
        ("/api/v1/machines/loom-1/cameras", {"id": "cam-1"}, 409, "rotate its token"),
        ("/api/v1/machines/ghost/cameras", {"id": "cam-9"}, 404, "no machine 'ghost'"),
        ("/api/v1/users", {"username": "u", "password": "short", "role": "admin"}, 422, "at least"),
        ("/api/v1/users", {"username": "u", "password": PASSWORD, "role": "boss"}, 422, "reviewer"),
    ],
)
def test_admin_inputs_are_checked(
    api: LiveApi, path: str, body: dict[str, object], status: int, message: str
) -> None:
    api.add_machine("loom-1")
    api.add_camera("loom-1", "cam-1")

    response = api.admin.post(path, json=body)

    assert response.status_code == status, response.text
    assert message in response.text


def test_a_machine_can_be_changed_and_read(api: LiveApi) -> None:
    api.add_machine("loom-1", line="A", article="denim-12", web_width_mm=1800.0)
    reviewer = api.add_user("rita", "reviewer")

    changed = api.admin.patch("/api/v1/machines/loom-1", json={"article": "twill-3", "line": None})

    assert changed.status_code == 200
    machine = reviewer.get("/api/v1/machines/loom-1").json()
    assert (machine["article"], machine["line"], machine["web_width_mm"]) == ("twill-3", None, 1800)
    assert [m["id"] for m in reviewer.get("/api/v1/machines").json()] == ["loom-1"]
    assert api.admin.patch("/api/v1/machines/loom-1", json={"name": None}).status_code == 409


def test_logging_in_gives_a_token_and_a_cookie_and_logging_out_ends_both(api: LiveApi) -> None:
    api.admin.post(
        "/api/v1/users", json={"username": "rita", "password": PASSWORD, "role": "reviewer"}
    )
    login = api.client().post("/api/v1/auth/token", data={"username": "rita", "password": PASSWORD})
    assert login.status_code == 200
    token = login.json()["access_token"]
    assert login.json()["role"] == "reviewer"
    cookie = login.cookies[SESSION_COOKIE]
    assert cookie == token
    assert "httponly" in login.headers["set-cookie"].lower()
    assert "samesite=strict" in login.headers["set-cookie"].lower()

    by_cookie = api.client()
    by_cookie.cookies.set(SESSION_COOKIE, cookie)
    by_bearer = api.client(token)
    assert by_cookie.get("/api/v1/auth/me").json() == {"username": "rita", "role": "reviewer"}
    assert by_bearer.post("/api/v1/auth/logout").status_code == 204
    assert by_bearer.get("/api/v1/auth/me").status_code == 401
    assert by_cookie.get("/api/v1/auth/me").status_code == 401


@pytest.mark.parametrize(
    ("form", "status"),
    [
        ({"username": "rita", "password": "wrong password"}, 401),
        ({"username": "nobody", "password": PASSWORD}, 401),
        ({"username": "nul\u0000", "password": PASSWORD}, 401),
        ({"username": "x" * 500, "password": PASSWORD}, 401),
        ({"username": "rita"}, 422),
    ],
    ids=["wrong password", "unknown user", "nul in name", "long name", "no password"],
)
def test_a_wrong_login_is_refused(api: LiveApi, form: dict[str, str], status: int) -> None:
    api.add_user("rita", "reviewer")

    response = api.client().post("/api/v1/auth/token", data=form)

    assert response.status_code == status
    if status == 401:
        assert response.json() == {"detail": "wrong username or password"}
        assert response.headers["www-authenticate"] == "Bearer"


def test_logging_in_with_json_is_refused_as_the_wrong_content_type(api: LiveApi) -> None:
    response = api.client().post("/api/v1/auth/token", json={"username": "a", "password": "b"})

    assert response.status_code == 415
    assert "application/x-www-form-urlencoded" in response.text


def test_a_login_expires(database_url: str, tmp_path: Path) -> None:
    now = [NOW]

    def clock() -> datetime:
        return now[0]

    with live_api(database_url, tmp_path, clock=clock, session_ttl_s=600) as api:
        reviewer = api.add_user("rita", "reviewer")
        assert reviewer.get("/api/v1/auth/me").status_code == 200
        now[0] = NOW + timedelta(seconds=599)
        assert reviewer.get("/api/v1/auth/me").status_code == 200
        now[0] = NOW + timedelta(seconds=601)
        assert reviewer.get("/api/v1/auth/me").status_code == 401


def test_users_are_listed_and_deleted_and_an_admin_cannot_delete_themself(api: LiveApi) -> None:
    reviewer = api.add_user("rita", "reviewer")

    names = [u["username"] for u in api.admin.get("/api/v1/users").json()]
    assert names == ["rita", "root-admin"]
    assert api.admin.delete("/api/v1/users/root-admin").status_code == 409
    assert api.admin.delete("/api/v1/users/rita").status_code == 204
    assert reviewer.get("/api/v1/auth/me").status_code == 401
    assert api.admin.delete("/api/v1/users/rita").status_code == 404


def test_a_camera_cannot_log_out_or_see_users(api: LiveApi) -> None:
    api.add_machine("loom-1")
    camera = api.add_camera("loom-1", "cam-1")

    assert camera.post("/api/v1/auth/logout").status_code == 403
    assert camera.get("/api/v1/users").status_code == 403
    assert camera.get(ACTIVE_MODEL_PATH).status_code == 404
