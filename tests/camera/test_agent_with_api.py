"""The agent against the real API (uvicorn on loopback, SQLite): events and heartbeats stored
once, images stored, and a model uploaded and activated by an admin picked up between frames."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, func, select

from loomsight.api.tables import Event, Heartbeat, Image
from loomsight.camera.assemble import build_agent
from loomsight.camera.settings import load_settings
from tests.api.conftest import LiveApi, fresh_database, live_api
from tests.camera.test_agent import (
    MODEL,
    _settings,
    _start_cli,
    _wait_for_events,
    _write_config,
    wait_for_events_after_swap,
)

INT8 = MODEL.parent / "model.int8.onnx"


def _count(database_url: str, table: Any) -> int:
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            return int(connection.execute(select(func.count()).select_from(table)).scalar_one())
    finally:
        engine.dispose()


def _stored_ids(database_url: str) -> list[str]:
    """The ids of the events the API stored, one per row (a doubled event appears twice)."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            return [str(i) for i in connection.execute(select(Event.event_id)).scalars()]
    finally:
        engine.dispose()


def _camera_token(api: LiveApi) -> str:
    api.add_machine("loom-1", web_width_mm=83.2)
    response = api.admin.post("/api/v1/machines/loom-1/cameras", json={"id": "cam-1"})
    assert response.status_code == 201, response.text
    return str(response.json()["token"])


def _upload_int8(api: LiveApi, version: str) -> None:
    card = json.loads((MODEL.parent / "model.json").read_text())
    onnx = INT8.read_bytes()
    card["version"] = version
    card["onnx"] = {**card["onnx"], "sha256": hashlib.sha256(onnx).hexdigest()}
    card["onnx"]["size_bytes"] = len(onnx)
    files = {
        "onnx": ("model.onnx", onnx, "application/octet-stream"),
        "card": ("model.json", json.dumps(card).encode(), "application/json"),
    }
    assert api.admin.post("/api/v1/models", files=files).status_code == 201
    activated = api.admin.post(f"/api/v1/models/{version}/activate", json={"machines": None})
    assert activated.status_code == 200, activated.text


@pytest.mark.slow
def test_the_agent_feeds_the_real_api_and_takes_its_model(tmp_path: Path) -> None:
    with (
        fresh_database("sqlite", tmp_path) as database_url,
        live_api(database_url, tmp_path) as api,
    ):
        token = _camera_token(api)
        settings = load_settings(
            None,
            _settings(
                tmp_path,
                frames=None,
                api={
                    "url": api.base_url,
                    "token": token,
                    "model_poll_s": 0.3,
                    "models_dir": str(tmp_path / "models"),
                    "uploader": {"idle_poll_s": 0.2},
                },
            ),
        )
        stop = threading.Event()
        with ExitStack() as stack:
            agent = build_agent(settings, stack)
            runner = threading.Thread(target=agent.run, args=(stop,))
            runner.start()
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and agent.report.events < 5:
                time.sleep(0.1)
            _upload_int8(api, "default@calibrated")
            wait_for_events_after_swap(agent, events_after=4)
            stop.set()
            runner.join(timeout=60)
        report = agent.report
        assert report.flushed and report.model_swaps == 1
        assert _count(database_url, Event) == report.events
        assert _count(database_url, Heartbeat) == report.heartbeats
        assert _count(database_url, Image) >= report.events  # a crop each, frames shared
        engine = create_engine(database_url)
        with engine.connect() as connection:
            versions = set(connection.execute(select(Event.model_version).distinct()).scalars())
        engine.dispose()
        assert "default@calibrated" in versions and len(versions) == 2


@pytest.mark.slow
def test_kill_9_and_restart_against_the_real_api_loses_and_doubles_nothing(
    tmp_path: Path,
) -> None:
    outbox = tmp_path / "outbox" / "agent.sqlite"
    with (
        fresh_database("sqlite", tmp_path) as database_url,
        live_api(database_url, tmp_path) as api,
    ):
        token = _camera_token(api)
        settings = _settings(tmp_path, frames=None, api={"url": api.base_url, "model_poll_s": 0})
        config = _write_config(tmp_path, settings)
        process = _start_cli(config, tmp_path, token)
        _wait_for_events(outbox, 8, lambda: set(_stored_ids(database_url)))
        process.kill()
        process.wait(timeout=30)
        with sqlite3.connect(outbox) as db:
            pending = {row[0] for row in db.execute("SELECT event_id FROM events")}
        stored_before = set(_stored_ids(database_url))
        settings["source"]["max_frames"] = 4
        process = _start_cli(_write_config(tmp_path, settings), tmp_path, token)
        output, _ = process.communicate(timeout=120)
        assert process.returncode == 0, output
        ids = _stored_ids(database_url)
        assert len(ids) == len(set(ids))  # stored once each
        assert (pending | stored_before) <= set(ids)  # nothing written before the kill is lost
        assert len(pending | stored_before) >= 8
