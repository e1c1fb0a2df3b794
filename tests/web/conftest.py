"""The pages in a real headless Chromium (Debian's, driven by Playwright) against the real API on
uvicorn, seeded as cameras would seed it: JPEG crops and frames of synthetic fabric through the
image route, events, heartbeats and roll marks through ingest."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
import pytest

from loomsight.datasets.synth.dataset import SynthOptions, make_image
from loomsight.schema import IMAGE_PATH, INGEST_PATH
from tests.api.conftest import LiveApi, batch, fresh_database, heartbeat, live_api
from tests.conftest import REPO_ROOT

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
SCREENSHOTS = REPO_ROOT / "docs" / "screenshots"
VIEWPORT = {"width": 1366, "height": 768}
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
REVIEWER = "rita"
MODEL_VERSION = "default@20261126T110056Z"
INSPECTED_M_PER_BEAT = 50.0
BEATS = 12  # 10-minute heartbeats from 10:00 to 12:00
LOOM_1_EVENTS = 14


@dataclass
class Plant:
    api: LiveApi
    reviewer: httpx.Client
    cameras: dict[str, httpx.Client]

    @property
    def inspected_m(self) -> float:
        return BEATS * INSPECTED_M_PER_BEAT


def _jpeg(pixels: np.ndarray[Any, Any]) -> bytes:
    ok, encoded = cv2.imencode(".jpg", pixels, [cv2.IMWRITE_JPEG_QUALITY, 85])
    assert ok
    return bytes(encoded.tobytes())


def _put(camera: httpx.Client, data: bytes) -> str:
    sha256 = hashlib.sha256(data).hexdigest()
    response = camera.put(
        IMAGE_PATH.format(sha256=sha256), content=data, headers={"content-type": "image/jpeg"}
    )
    assert response.status_code == 200, response.text
    return sha256


def fabric_events(
    camera: httpx.Client, machine_id: str, camera_id: str, roll_id: str, count: int, seed: int
) -> list[dict[str, Any]]:
    """COUNT events of synthetic fabric frames with their planted defects, images uploaded."""
    options = SynthOptions(
        count=count, seed=seed, size_wh=(384, 288), defect_free_share=0.0, max_defects=1
    )
    events = []
    for index in range(count):
        image = make_image(options, index)
        x1, y1, x2, y2 = (float(v) for v in image.labels.xyxy_px[0])
        class_name = options.classes[int(image.labels.class_id[0])]
        pad = 24
        crop = image.image[
            max(int(y1) - pad, 0) : int(y2) + pad, max(int(x1) - pad, 0) : int(x2) + pad
        ]
        frame_sha, crop_sha = _put(camera, _jpeg(image.image)), _put(camera, _jpeg(crop))
        events.append(
            {
                "event_id": str(uuid.uuid4()),
                "detected_at": (NOW - timedelta(minutes=115 - 8 * index)).isoformat(),
                "machine_id": machine_id,
                "camera_id": camera_id,
                "roll_id": roll_id,
                "position_m": 5.0 + 40.0 * index,
                "across_mm": (x1 + x2) / 2 * 4.0,
                "length_mm": max((y2 - y1) * 0.4, 1.0),
                "width_mm": max((x2 - x1) * 0.4, 1.0),
                "class_name": class_name,
                "confidence": round(0.35 + 0.6 * ((index * 7) % 10) / 10, 2),
                "box_xyxy_px": [x1, y1, x2, y2],
                "frame_wh_px": [384, 288],
                "model_version": MODEL_VERSION,
                "crop_sha256": crop_sha,
                "frame_sha256": frame_sha,
            }
        )
    return events


def heartbeats(
    machine_id: str, camera_id: str, roll_id: str, until: datetime, **changes: Any
) -> list[dict[str, Any]]:
    start = NOW - timedelta(minutes=10 * BEATS)
    beats = []
    at = start
    while at < until:
        body = heartbeat(machine_id, camera_id, roll_id=roll_id, **changes)
        body.update(
            period_start=at.isoformat(),
            period_end=(at + timedelta(minutes=10)).isoformat(),
            inspected_m=INSPECTED_M_PER_BEAT,
            inspected_m2=INSPECTED_M_PER_BEAT * 1.6,
            model_version=MODEL_VERSION,
        )
        beats.append(body)
        at += timedelta(minutes=10)
    return beats


def roll_start(machine_id: str, roll_id: str) -> dict[str, Any]:
    return {
        "mark_id": str(uuid.uuid4()),
        "machine_id": machine_id,
        "roll_id": roll_id,
        "kind": "start",
        "at": (NOW - timedelta(hours=2)).isoformat(),
    }


def seed(api: LiveApi) -> Plant:
    """loom-1 healthy with 14 detections on roll R-101; loom-2 silent for 90 minutes; loom-3
    skipping a fifth of its frames with a deep outbox (degraded)."""
    cameras = {}
    plan = {
        "loom-1": ("cam-1", "R-101", LOOM_1_EVENTS, NOW, {}),
        "loom-2": ("cam-2", "R-201", 3, NOW - timedelta(minutes=90), {}),
        "loom-3": (
            "cam-3",
            "R-301",
            2,
            NOW,
            {"frames_processed": 240, "frames_skipped": 60, "outbox_depth": 500},
        ),
    }
    for number, (machine_id, (camera_id, roll_id, count, until, changes)) in enumerate(
        plan.items()
    ):
        api.add_machine(machine_id, line="Hall A", article="twill 240", web_width_mm=1600.0)
        camera = cameras[machine_id] = api.add_camera(machine_id, camera_id)
        body = batch(
            events=fabric_events(camera, machine_id, camera_id, roll_id, count, seed=number),
            heartbeats=heartbeats(machine_id, camera_id, roll_id, until, **changes),
            rolls=[roll_start(machine_id, roll_id)],
        )
        response = camera.post(INGEST_PATH, json=body)
        assert response.status_code == 200, response.text
    reviewer = api.add_user(REVIEWER, "reviewer")
    return Plant(api=api, reviewer=reviewer, cameras=cameras)


@pytest.fixture(scope="module")
def plant(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Plant]:
    folder: Path = tmp_path_factory.mktemp("plant")
    with fresh_database("sqlite", folder) as url, live_api(url, folder, clock=lambda: NOW) as api:
        yield seed(api)
