"""The retraining round trip, end to end: a camera's detections are reviewed through the API,
pulled as a dataset, the active model is fine-tuned on it, exported, evaluated, uploaded and
promoted, and the running agent switches to it without a restart."""

from __future__ import annotations

import json
import threading
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select

from loomsight.api.tables import Event
from loomsight.camera.assemble import build_agent
from loomsight.camera.settings import load_settings
from tests.api.conftest import fresh_database, live_api
from tests.camera.test_agent import MODEL, _settings, wait_for_events_after_swap

CLASSES = json.loads((MODEL.parent / "model.json").read_text())["classes"]


def _wait(condition: Any, what: str, timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


@pytest.mark.slow
def test_review_pull_fine_tune_export_promote_and_the_agent_switches(
    tmp_path: Path, run_cli: Any
) -> None:
    with (
        fresh_database("sqlite", tmp_path) as database_url,
        live_api(database_url, tmp_path) as api,
    ):
        api.add_machine("loom-1", web_width_mm=83.2)
        made = api.admin.post("/api/v1/machines/loom-1/cameras", json={"id": "cam-1"})
        reviewer = api.add_user("rita", "reviewer")
        agent_api = {"url": api.base_url, "token": made.json()["token"], "model_poll_s": 0.3}
        agent_api["models_dir"] = str(tmp_path / "models")
        settings = load_settings(None, _settings(tmp_path, frames=None, api=agent_api))
        stop = threading.Event()
        with ExitStack() as stack:
            agent = build_agent(settings, stack)
            first_version = agent.pipeline.model_version
            runner = threading.Thread(target=agent.run, args=(stop,))
            runner.start()
            stack.callback(runner.join, 60)
            stack.callback(stop.set)

            # 1. QA reviews what the camera flagged: confirmed, and one false alarm.
            def queue() -> list[dict[str, Any]]:
                answer = reviewer.get("/api/v1/review/queue", params={"limit": 50})
                return [i for i in answer.json()["items"] if i["frame_url"]]

            _wait(lambda: len(queue()) >= 8, "eight detections with their frames")
            items = queue()[:8]
            for number, item in enumerate(items):
                verdict = "false_alarm" if number == 0 else "confirmed"
                path = f"/api/v1/review/events/{item['event_id']}/verdict"
                assert reviewer.put(path, json={"verdict": verdict}).is_success

            # 2. Pull the reviewed set; 3. fine-tune the active model on it; 4. export; evaluate.
            token = reviewer.headers["Authorization"].removeprefix("Bearer ")
            data = tmp_path / "reviewed"
            pulled = run_cli(
                *("dataset", "pull", "--api", api.base_url, "--token", token),
                *("--out", str(data), "--names", ",".join(CLASSES)),
            )
            assert pulled.returncode == 0, pulled.stderr
            weights = tmp_path / "weights"
            trained = run_cli(
                *("train", "--data", str(data / "data.yaml")),
                *("--model", str(MODEL.parent / "model.pt")),
                *("--epochs", "1", "--imgsz", "160", "--batch", "4"),
                *("--name", "rt", "--runs", str(tmp_path / "runs")),
            )
            assert trained.returncode == 0, trained.stderr[-2000:]
            checkpoint = tmp_path / "runs" / "rt" / "weights" / "best.pt"
            exported = run_cli(
                *("export", str(checkpoint), "--name", "retrained", "--weights", str(weights)),
                *("--samples", str(data / "images")),
            )
            assert exported.returncode == 0, exported.stderr[-2000:]
            report = tmp_path / "eval.json"
            evaluated = run_cli(
                *("evaluate", "--model", "retrained", "--weights", str(weights)),
                *("--data", str(data / "data.yaml"), "--split", "val", "--json", str(report)),
            )
            assert evaluated.returncode == 0, evaluated.stderr[-2000:]
            assert json.loads(report.read_text())["images"] >= 1

            # 5. Upload and promote; 6. the running agent switches between frames.
            card = json.loads((weights / "retrained" / "model.json").read_text())
            files = {
                "onnx": (
                    "model.onnx",
                    (weights / "retrained" / "model.onnx").read_bytes(),
                    "application/octet-stream",
                ),
                "card": ("model.json", json.dumps(card).encode(), "application/json"),
            }
            assert api.admin.post("/api/v1/models", files=files).status_code == 201
            promoted = api.admin.post(f"/api/v1/models/{card['version']}/activate", json={})
            assert promoted.status_code == 200, promoted.text
            wait_for_events_after_swap(agent, events_after=3, timeout_s=90)
        engine = create_engine(database_url)
        with engine.connect() as connection:
            versions = set(connection.execute(select(Event.model_version).distinct()).scalars())
        engine.dispose()
        assert card["version"] in versions and first_version in versions
