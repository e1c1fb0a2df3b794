"""`loomsight calibrate --pending`: the worker on a machine's edge PC runs what a QA engineer asked
for on the API, reports the result there, and with nothing pending says so and exits 0."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from loomsight.article.requests import finite
from tests.api.conftest import fresh_database, live_api
from tests.conftest import REPO_ROOT

AGENT_YAML = """machine_id: loom-7
camera_id: cam-1
source: {type: synthetic, seed: 9, width_px: 256, frame_height_px: 128, mm_per_px: 0.1,
  speed_m_per_min: 30, fps: 10, defects_per_100m: 0}
calibration: {mm_per_px: 0.1, web_width_mm: 25.6, speed_m_per_min: 30}
"""


def test_non_finite_numbers_are_sent_as_null() -> None:
    value = {"a": float("nan"), "b": [1.0, float("inf")], "c": ({"d": -float("inf")},), "e": "x"}
    assert finite(value) == {"a": None, "b": [1.0, None], "c": [{"d": None}], "e": "x"}


@pytest.mark.slow
def test_the_worker_runs_the_requested_calibration_and_reports_it(
    tmp_path: Path, run_cli: Callable[..., Any]
) -> None:
    config = tmp_path / "agent.yaml"
    config.write_text(AGENT_YAML)
    weights = tmp_path / "weights"
    shutil.copytree(REPO_ROOT / "weights" / "default", weights / "default")
    shutil.copy(REPO_ROOT / "weights" / "active.json", weights / "active.json")
    with fresh_database("sqlite", tmp_path) as url, live_api(url, tmp_path) as api:
        api.add_machine("loom-7")
        token = str(api.admin.headers["Authorization"]).removeprefix("Bearer ")
        worker = (
            *("calibrate", "--pending", "--config", str(config), "--api", api.base_url),
            *("--token", token, "--weights-dir", str(weights), "--work-dir", str(tmp_path / "w")),
            *("--epochs", "1", "--train-images", "12", "--test-images", "6", "--tile-px", "128"),
        )
        idle = run_cli(*worker)
        assert idle.returncode == 0 and "no calibration pending for loom-7" in idle.stdout
        reviewer = api.add_user("rita", "reviewer")
        asked = reviewer.post(
            "/api/v1/machines/loom-7/calibrations", json={"article": "plain", "length_m": 0.6}
        )
        assert asked.status_code == 201, asked.text
        ran = run_cli(*worker)
        assert ran.returncode == 0, ran.stderr[-3000:]
        (done,) = reviewer.get("/api/v1/machines/loom-7/calibrations").json()
        assert done["status"] == "done" and done["model_version"].startswith("loom-7-plain-")
        result = done["result"]
        assert set(result["before"]) >= {"false_alarm_rate", "detection_at_fixed_fa"}
        assert result["covered_m"] >= 0.6 and done["message"] in ran.stdout
        json.dumps(result, allow_nan=False)  # what the page reads is plain JSON
