"""The API as cameras and users meet it: the real app on a real uvicorn server on a free loopback
port, over a fresh database: a SQLite file, and a PostgreSQL database of its own when
LOOMSIGHT_TEST_POSTGRES_URL is set (`scripts/postgres` starts one and prints the URL)."""

from __future__ import annotations

import functools
import os
import socket
import ssl
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy.orm import Session

from loomsight.api.app import create_app
from loomsight.api.clock import Clock, utc_now
from loomsight.api.database import make_engine
from loomsight.api.migrate import upgrade_to_head
from loomsight.api.scratch_schema import scratch_schema
from loomsight.api.security import SESSION_TOKEN_PREFIX, hash_password, new_token, token_sha256
from loomsight.api.settings import ApiSettings
from loomsight.api.tables import LoginSession, User
from loomsight.schema import INGEST_PATH

POSTGRES_URL = os.environ.get("LOOMSIGHT_TEST_POSTGRES_URL")
BACKENDS = [
    "sqlite",
    pytest.param(
        "postgresql",
        marks=pytest.mark.skipif(
            not POSTGRES_URL, reason="LOOMSIGHT_TEST_POSTGRES_URL is not set (scripts/postgres)"
        ),
    ),
]
ADMIN = "root-admin"
PASSWORD = "correct horse battery"
NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


def postgres_schema(server_url: str) -> AbstractContextManager[str]:
    """A fresh database for one test: a new, empty schema on the server, dropped afterwards."""
    return scratch_schema(server_url, prefix="test")


@contextmanager
def fresh_database(backend: str, folder: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{folder / 'api.db'}"
    else:
        assert POSTGRES_URL is not None
        with postgres_schema(POSTGRES_URL) as url:
            yield url


def free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@contextmanager
def running(app: FastAPI) -> Iterator[str]:
    """Serve APP with uvicorn in a thread on a free loopback port; yields its base URL."""
    sock = free_socket()
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False, lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.005)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True  # it stops within ~0.2 s; joined at the end of the session
        _stopping.append((thread, sock))


_stopping: list[tuple[threading.Thread, socket.socket]] = []


@pytest.fixture(scope="session", autouse=True)
def _join_stopped_servers() -> Iterator[None]:
    yield
    for thread, sock in _stopping:
        thread.join(timeout=10)
        sock.close()


@functools.cache
def tls_context() -> ssl.SSLContext:
    """One TLS context for every test client: httpx would build one (~20 ms) per client."""
    return ssl.create_default_context()


def http_client(base_url: str, token: str | None = None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=base_url, headers=headers, timeout=30, verify=tls_context())


@functools.cache
def password_hash() -> str:
    return hash_password(PASSWORD)


@dataclass(eq=False)
class LiveApi:
    """A running API with an admin; helpers to add machines, cameras and users through it."""

    base_url: str
    settings: ApiSettings
    app: FastAPI
    admin: httpx.Client
    clients: list[httpx.Client] = field(default_factory=list)

    def client(self, token: str | None = None) -> httpx.Client:
        client = http_client(self.base_url, token)
        self.clients.append(client)
        return client

    def add_machine(self, machine_id: str, **fields: Any) -> dict[str, Any]:
        body = {"id": machine_id, "name": f"Loom {machine_id}", **fields}
        response = self.admin.post("/api/v1/machines", json=body)
        assert response.status_code == 201, response.text
        return dict(response.json())

    def add_camera(self, machine_id: str, camera_id: str) -> httpx.Client:
        """A client that speaks as the new camera (its token in every request)."""
        response = self.admin.post(f"/api/v1/machines/{machine_id}/cameras", json={"id": camera_id})
        assert response.status_code == 201, response.text
        return self.client(response.json()["token"])

    def log_in(self, username: str, password: str = PASSWORD) -> httpx.Client:
        response = self.client().post(
            "/api/v1/auth/token", data={"username": username, "password": password}
        )
        assert response.status_code == 200, response.text
        return self.client(response.json()["access_token"])

    def add_user(self, username: str, role: str) -> httpx.Client:
        body = {"username": username, "password": PASSWORD, "role": role}
        response = self.admin.post("/api/v1/users", json=body)
        assert response.status_code == 201, response.text
        return self.log_in(username)

    def close(self) -> None:
        for client in self.clients:
            client.close()
        self.admin.close()


@contextmanager
def live_api(
    database_url: str, folder: Path, clock: Clock = utc_now, **settings_fields: Any
) -> Iterator[LiveApi]:
    """Migrate DATABASE_URL, create the first admin (logged in), serve the app with CLOCK and
    SETTINGS_FIELDS; yields the LiveApi."""
    settings = ApiSettings(
        database_url=database_url, storage_dir=folder / "storage", **settings_fields
    )
    token = new_token(SESSION_TOKEN_PREFIX)
    engine = make_engine(database_url, pool_size=1)
    try:
        upgrade_to_head(engine)
        with Session(engine) as session:  # the first admin, logged in (saves two scrypts)
            now = clock()
            session.add(
                User(username=ADMIN, password_hash=password_hash(), role="admin", created_at=now)
            )
            session.flush()
            session.add(
                LoginSession(
                    token_sha256=token_sha256(token),
                    username=ADMIN,
                    created_at=now,
                    expires_at=now + timedelta(hours=1),
                )
            )
            session.commit()
    finally:
        engine.dispose()
    app = create_app(settings, clock=clock)
    with running(app) as base_url:
        admin = http_client(base_url, token)
        api = LiveApi(base_url=base_url, settings=settings, app=app, admin=admin)
        try:
            yield api
        finally:
            api.close()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url(backend: str, tmp_path: Path) -> Iterator[str]:
    with fresh_database(backend, tmp_path) as url:
        yield url


@pytest.fixture
def api(database_url: str, tmp_path: Path, no_network: list[str]) -> Iterator[LiveApi]:
    with live_api(database_url, tmp_path) as live:
        yield live
    assert no_network == []


def event(machine_id: str, camera_id: str, **changes: Any) -> dict[str, Any]:
    """A valid DefectEvent as JSON, with a new UUID."""
    body: dict[str, Any] = {
        "event_id": str(uuid.uuid4()),
        "detected_at": NOW.isoformat(),
        "machine_id": machine_id,
        "camera_id": camera_id,
        "roll_id": "R1",
        "position_m": 12.5,
        "across_mm": 830.0,
        "length_mm": 14.0,
        "width_mm": 3.0,
        "class_name": "broken_pick",
        "confidence": 0.81,
        "box_xyxy_px": [100, 40, 128, 46],
        "frame_wh_px": [1024, 512],
        "model_version": "default@20261126T105647Z",
    }
    body.update(changes)
    return body


def heartbeat(machine_id: str, camera_id: str, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "heartbeat_id": str(uuid.uuid4()),
        "machine_id": machine_id,
        "camera_id": camera_id,
        "roll_id": "R1",
        "period_start": NOW.isoformat(),
        "period_end": (NOW + timedelta(seconds=10)).isoformat(),
        "frames_processed": 300,
        "frames_skipped": 2,
        "inspected_m": 5.0,
        "inspected_m2": 9.0,
        "skipped_m": 0.1,
        "skipped_m2": 0.18,
        "fps": 30.0,
        "inference_ms": 12.0,
        "outbox_depth": 0,
    }
    body.update(changes)
    return body


def batch(**parts: list[dict[str, Any]]) -> dict[str, Any]:
    return {"schema_version": 1, **parts}


def post_batch(client: httpx.Client, body: dict[str, Any]) -> httpx.Response:
    return client.post(INGEST_PATH, json=body)


def set_verdicts(
    database_url: str, verdicts: dict[uuid.UUID, tuple[str | None, str | None]]
) -> None:
    """Write QA verdicts (verdict, corrected class) straight into the events table."""
    from sqlalchemy import update

    from loomsight.api.tables import Event

    engine = make_engine(database_url, pool_size=1)
    try:
        with Session(engine) as session:
            for event_id, (verdict, corrected) in verdicts.items():
                session.execute(
                    update(Event)
                    .where(Event.event_id == event_id)
                    .values(verdict=verdict, corrected_class=corrected)
                )
            session.commit()
    finally:
        engine.dispose()
