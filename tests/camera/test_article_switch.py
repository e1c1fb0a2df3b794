"""A running agent (`loomsight inspect`, a real process) against the real API switches to the model
set for its machine and article when an admin changes the article the machine weaves."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select

from loomsight.api.tables import Event
from tests.api.conftest import fresh_database, live_api
from tests.api.test_article_models import GLOBAL, set_article, set_article_model
from tests.api.test_models import CARD, ONNX_BYTES, other_version, upload
from tests.camera.test_agent import _settings, _start_cli, _write_config
from tests.test_round_trip import _wait

TWILL = "default@twill-calibrated"


def _event_versions(database_url: str) -> list[str]:
    """Each stored event's model version, in the order they were detected."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            query = select(Event.model_version).order_by(Event.detected_at)
            return list(connection.execute(query).scalars())
    finally:
        engine.dispose()


@pytest.mark.slow
def test_the_running_agent_takes_the_articles_model_when_the_article_changes(
    tmp_path: Path,
) -> None:
    with (
        fresh_database("sqlite", tmp_path) as database_url,
        live_api(database_url, tmp_path) as api,
    ):
        api.add_machine("loom-1", web_width_mm=83.2, article="plain")
        made = api.admin.post("/api/v1/machines/loom-1/cameras", json={"id": "cam-1"})
        assert upload(api.admin, CARD).status_code == 201  # the agent's own model, for all
        assert api.admin.post(f"/api/v1/models/{GLOBAL}/activate", json={}).is_success
        twill_card = other_version(CARD, TWILL, ONNX_BYTES)  # same file, calibrated "for twill"
        assert upload(api.admin, twill_card).status_code == 201
        assert set_article_model(api.admin, "loom-1", "twill", TWILL).status_code == 200
        agent_api = {
            "url": api.base_url,
            "model_poll_s": 0.3,
            "models_dir": str(tmp_path / "models"),
            "uploader": {"idle_poll_s": 0.2},
        }
        settings = _settings(tmp_path, frames=None, api=agent_api)
        # Frames at the camera's pace, as on a loom: a source as fast as the CPU allows once piled
        # up more events than the uploader sent, and the twill model's first event waited behind
        # them past the timeout on a loaded CI machine.
        settings["source"]["realtime"] = True
        config = _write_config(tmp_path, settings)
        process = _start_cli(config, tmp_path, made.json()["token"])

        _wait(lambda: len(_event_versions(database_url)) >= 4, "four events", timeout_s=30)
        time.sleep(1.0)  # a few more polls: the article's model must not be taken yet
        assert set(_event_versions(database_url)) == {GLOBAL}
        set_article(api, "loom-1", "twill")
        switched_at = time.monotonic()
        _wait(lambda: TWILL in _event_versions(database_url), "an event by the twill model", 30)
        switch_s = time.monotonic() - switched_at

        assert process.poll() is None  # the same process all along: no restart
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=60)
    assert process.returncode == 0, output
    versions = _event_versions(database_url)
    first_twill = versions.index(TWILL)
    assert set(versions[:first_twill]) == {GLOBAL} and set(versions[first_twill:]) == {TWILL}
    assert switch_s < 30
