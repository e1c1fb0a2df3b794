"""Bad input gets a clear 4xx, never a 500: oversized bodies, wrong content types, malformed JSON,
values no database can hold, path tricks in names."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from loomsight.schema import IMAGE_PATH, INGEST_PATH
from tests.api.conftest import BACKENDS, LiveApi, batch, event, fresh_database, heartbeat, live_api
from tests.api.test_images import jpeg

MAX_BODY_BYTES = 64 * 1024
MAX_IMAGE_BYTES = 16 * 1024


@pytest.fixture(scope="module", params=BACKENDS)
def small_api(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[LiveApi, httpx.Client]]:
    """A server with small body limits and one camera (cam-1 of loom-1)."""
    folder = tmp_path_factory.mktemp("limits")
    with (
        fresh_database(str(request.param), folder) as url,
        live_api(
            url, folder, max_body_bytes=MAX_BODY_BYTES, max_image_bytes=MAX_IMAGE_BYTES
        ) as api,
    ):
        api.add_machine("loom-1")
        yield api, api.add_camera("loom-1", "cam-1")


def _chunks(total: int, size: int = 8192) -> Iterator[bytes]:
    for start in range(0, total, size):
        yield b" " * min(size, total - start)


@pytest.mark.parametrize("streamed", [False, True], ids=["content-length", "chunked"])
def test_an_oversized_batch_is_413_naming_the_limit(
    small_api: tuple[LiveApi, httpx.Client], streamed: bool
) -> None:
    _api, camera = small_api
    size = MAX_BODY_BYTES * 3
    content: Any = _chunks(size) if streamed else b" " * size

    response = camera.post(
        INGEST_PATH, content=content, headers={"content-type": "application/json"}
    )

    assert response.status_code == 413
    detail = response.json()["detail"]
    assert f"over the limit of {MAX_BODY_BYTES} bytes" in detail
    assert "LOOMSIGHT_API_MAX_BODY_BYTES" in detail


def test_an_oversized_image_is_413_naming_the_image_limit(
    small_api: tuple[LiveApi, httpx.Client],
) -> None:
    _api, camera = small_api
    data = b"\xff\xd8\xff" + bytes(MAX_IMAGE_BYTES)

    response = camera.put(
        IMAGE_PATH.format(sha256=hashlib.sha256(data).hexdigest()),
        content=data,
        headers={"content-type": "image/jpeg"},
    )

    assert response.status_code == 413
    assert "LOOMSIGHT_API_MAX_IMAGE_BYTES" in response.json()["detail"]


def test_a_batch_just_under_the_limit_is_stored(small_api: tuple[LiveApi, httpx.Client]) -> None:
    _api, camera = small_api
    body = json.dumps(batch(events=[event("loom-1", "cam-1") for _ in range(60)])).encode()
    assert len(body) < MAX_BODY_BYTES

    response = camera.post(INGEST_PATH, content=body, headers={"content-type": "application/json"})

    assert response.status_code == 200
    assert response.json()["events_stored"] == 60


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("text/plain", b"{}"),
        ("application/x-www-form-urlencoded", b"a=1"),
        ("multipart/form-data; boundary=x", b"--x--"),
        ("application/xml", b"<batch/>"),
        (None, b"{}"),
    ],
)
def test_a_batch_that_is_not_json_is_415(
    small_api: tuple[LiveApi, httpx.Client], content_type: str | None, body: bytes
) -> None:
    _api, camera = small_api
    headers = {"content-type": content_type} if content_type else {}

    response = camera.post(INGEST_PATH, content=body, headers=headers)

    assert response.status_code == 415
    assert "application/json" in response.json()["detail"]


def _event_with(**changes: Any) -> dict[str, Any]:
    return batch(events=[event("loom-1", "cam-1", **changes)])


@pytest.mark.parametrize(
    ("body", "where", "message"),
    [
        (b"{", ["body", 1], "JSON decode error"),
        (b"[]", ["body"], "valid dictionary"),
        (b'"text"', ["body"], "valid dictionary"),
        (b"null", ["body"], "valid dictionary"),
        (json.dumps({"schema_version": 2}).encode(), ["body", "schema_version"], "1"),
        (json.dumps({"events": "many"}).encode(), ["body", "events"], "valid list"),
        (json.dumps({"surprise": 1}).encode(), ["body", "surprise"], "Extra inputs"),
        (
            json.dumps(_event_with(confidence=2)).encode(),
            ["body", "events", 0, "confidence"],
            "less than or equal to 1",
        ),
        (
            json.dumps(_event_with(detected_at="2026-11-26T10:00:00")).encode(),
            ["body", "events", 0, "detected_at"],
            "time zone",
        ),
        (
            json.dumps({"events": [{}] * 1001}).encode(),
            ["body", "events"],
            "at most 1000",
        ),
        (b'{"events": [NaN]}', ["body", "events", 0], "valid dictionary"),
        (b'{"events": [{"event_id": "\\ud800"}]}', ["body", "events", 0, "event_id"], "unicode"),
    ],
    ids=[
        "truncated",
        "array",
        "string",
        "null",
        "schema version 2",
        "events not a list",
        "unknown field",
        "confidence 2",
        "naive time",
        "1001 events",
        "NaN",
        "lone surrogate",
    ],
)
def test_malformed_batches_are_422_saying_where(
    small_api: tuple[LiveApi, httpx.Client], body: bytes, where: list[Any], message: str
) -> None:
    _api, camera = small_api

    response = camera.post(INGEST_PATH, content=body, headers={"content-type": "application/json"})

    assert response.status_code == 422, response.text
    errors = response.json()["detail"]
    assert any(e["loc"] == where and message in e["msg"] for e in errors), errors
    assert all(set(e) == {"loc", "msg", "type"} for e in errors)  # the input is not echoed


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (_event_with(frame_wh_px=[2**64, 512], box_xyxy_px=[1, 1, 2, 2]), "larger than"),
        (batch(heartbeats=[heartbeat("loom-1", "cam-1", frames_processed=2**63)]), "larger than"),
        (_event_with(detected_at="0001-01-01T00:30:00+05:00"), "out of range in UTC"),
        (_event_with(detected_at="9999-12-31T23:30:00-05:00"), "out of range in UTC"),
        (
            batch(
                alarms=[
                    {
                        "alarm_id": "6f1c0b8e-2f1e-4d2a-9a7b-1c2d3e4f5a6b",
                        "fired_at": "2026-11-26T10:00:00Z",
                        "machine_id": "loom-1",
                        "camera_id": "cam-1",
                        "rule": "holes\u0000",
                        "action": "stop",
                        "outputs": [],
                        "event_ids": [],
                    }
                ]
            ),
            "NUL",
        ),
    ],
    ids=["frame 2**64", "frames 2**63", "year 0", "year 10000", "NUL in rule"],
)
def test_values_no_database_can_hold_are_422_before_the_database(
    small_api: tuple[LiveApi, httpx.Client], body: dict[str, Any], message: str
) -> None:
    _api, camera = small_api

    response = camera.post(INGEST_PATH, json=body)

    assert response.status_code == 422, response.text
    assert message in response.text


@pytest.mark.parametrize(
    "name",
    [
        "..",
        "..%2F..%2Fetc%2Fpasswd",
        "%2e%2e%2f%2e%2e%2fetc",
        "../../etc/passwd",
        "A" * 64,
        "a" * 63,
        "a" * 65,
        "a" * 63 + "%00",
        "a" * 63 + "/",
        "%00",
        "~root",
        "a" * 64 + "%2F..",
    ],
)
def test_path_tricks_in_image_names_go_nowhere(
    small_api: tuple[LiveApi, httpx.Client], name: str
) -> None:
    api, camera = small_api
    data = jpeg(3)
    path = f"/api/v1/images/{name}"

    put = camera.put(path, content=data, headers={"content-type": "image/jpeg"})
    got = api.admin.get(path)

    assert put.status_code in (307, 404, 405, 422), put.text  # 307: to the name without "/"
    assert got.status_code in (307, 404, 405, 422), got.text
    outside = Path(api.settings.storage_dir).parent
    assert not [p for p in outside.rglob("*") if p.is_file() and p.read_bytes() == data]


@pytest.mark.parametrize("machine_id", ["%00", "a%00b", "..", "x" * 65, "%F0%9F%92%A9"])
def test_path_tricks_in_ids_are_422_or_404(
    small_api: tuple[LiveApi, httpx.Client], machine_id: str
) -> None:
    api, _camera = small_api

    response = api.admin.get(f"/api/v1/machines/{machine_id}")

    assert response.status_code in (404, 422), response.text
