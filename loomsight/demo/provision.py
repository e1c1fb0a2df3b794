"""The demo's accounts and machines: an admin (through `loomsight api create-admin`, the first
admin's only way in), then through the running API as that admin: a reviewer, the machines and
one camera each, whose tokens the agents get."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from loomsight.demo.plan import MachinePlan
from loomsight.demo.runner import DemoError

ADMIN = "demo-admin"
REVIEWER = "demo-reviewer"
API = "/api/v1"


@dataclass(frozen=True)
class Login:
    username: str
    password: str
    role: str


def new_login(username: str, role: str) -> Login:
    """A login with a generated password (16 URL-safe characters)."""
    return Login(username, secrets.token_urlsafe(12), role)


def write_credentials(path: Path, api_url: str, logins: Sequence[Login]) -> None:
    """The logins in a file only the owner can read."""
    lines = [f"API: {api_url}"] + [f"{x.role}: {x.username} / {x.password}" for x in logins]
    path.touch(mode=0o600)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _checked(response: httpx.Response, what: str) -> httpx.Response:
    if response.status_code not in (200, 201):
        raise DemoError(f"{what}: expected 200 or 201, got {response.status_code}: {response.text}")
    return response


def log_in(client: httpx.Client, login: Login) -> str:
    """A bearer token for LOGIN."""
    form = {"username": login.username, "password": login.password}
    response = _checked(client.post(f"{API}/auth/token", data=form), f"log in {login.username}")
    return str(response.json()["access_token"])


def register(
    api_url: str, admin: Login, reviewer: Login, plans: Sequence[MachinePlan]
) -> dict[str, str]:
    """Create REVIEWER and the machines of PLANS with a camera each; camera tokens by machine."""
    try:
        return _register(api_url, admin, reviewer, plans)
    except httpx.HTTPError as error:
        raise DemoError(f"setting up the API at {api_url} failed: {error}") from None


def _register(
    api_url: str, admin: Login, reviewer: Login, plans: Sequence[MachinePlan]
) -> dict[str, str]:
    tokens = {}
    with httpx.Client(base_url=api_url, timeout=30.0) as client:
        client.headers["Authorization"] = f"Bearer {log_in(client, admin)}"
        user = {"username": reviewer.username, "password": reviewer.password, "role": "reviewer"}
        _checked(client.post(f"{API}/users", json=user), f"create {reviewer.username}")
        for plan in plans:
            machine = {
                "id": plan.machine_id,
                "name": plan.name,
                "line": plan.line,
                "article": plan.article,
                "web_width_mm": plan.web_width_mm,
            }
            _checked(client.post(f"{API}/machines", json=machine), f"add {plan.machine_id}")
            camera = client.post(
                f"{API}/machines/{plan.machine_id}/cameras", json={"id": plan.camera_id}
            )
            tokens[plan.machine_id] = str(_checked(camera, f"add {plan.camera_id}").json()["token"])
    return tokens
