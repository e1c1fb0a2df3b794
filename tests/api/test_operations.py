"""Operations: /healthz, /readyz, Prometheus /metrics (a registry per app), structured logs, and
an OpenAPI schema that documents the wire contract."""

from __future__ import annotations

import json
import logging
import re
import time
from pathlib import Path

import pytest

from loomsight.api.app import create_app
from loomsight.api.logs import JsonLogFormatter
from loomsight.api.settings import ApiSettings
from loomsight.schema import INGEST_PATH
from tests.api.conftest import LiveApi, batch, event, free_socket, http_client, live_api, running


def _metric(text: str, name: str, **labels: str) -> float:
    """The value of the sample NAME{LABELS} in Prometheus text, 0 when absent."""
    for line in text.splitlines():
        named = line.startswith(name) and line[len(name) : len(name) + 1] in (" ", "{")
        if named and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_healthz_and_readyz_on_a_migrated_database(api: LiveApi) -> None:
    anonymous = api.client()

    assert anonymous.get("/healthz").json() == {"status": "ok"}
    ready = anonymous.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"
    assert ready.json()["revision"] == ready.json()["head"]


def test_readyz_is_503_on_a_database_never_migrated(tmp_path: Path) -> None:
    settings = ApiSettings(database_url=f"sqlite:///{tmp_path / 'empty.db'}", data_dir=tmp_path)

    with running(create_app(settings)) as base_url:
        response = http_client(base_url).get("/readyz")

    assert response.status_code == 503
    assert response.json()["status"] == "not ready"
    assert response.json()["revision"] is None
    assert "loomsight api migrate" in response.json()["detail"]


def test_readyz_is_503_when_the_database_is_unreachable(tmp_path: Path) -> None:
    closed = free_socket()  # bound, never listening: connections are refused
    port = closed.getsockname()[1]
    settings = ApiSettings(
        database_url=f"postgresql+psycopg://nobody@127.0.0.1:{port}/none?connect_timeout=2",
        data_dir=tmp_path,
    )

    with running(create_app(settings)) as base_url:
        client = http_client(base_url)
        ready = client.get("/readyz")
        healthy = client.get("/healthz")
    closed.close()

    assert ready.status_code == 503
    assert ready.json()["database"] == "unreachable"
    assert healthy.status_code == 200


def test_metrics_count_requests_by_route_and_events_stored(api: LiveApi) -> None:
    api.add_machine("loom-1")
    camera = api.add_camera("loom-1", "cam-1")
    body = batch(events=[event("loom-1", "cam-1") for _ in range(3)])
    camera.post(INGEST_PATH, json=body)
    camera.post(INGEST_PATH, json=body)
    camera.post(INGEST_PATH, content=b"{", headers={"content-type": "application/json"})
    camera.get("/no/such/route")

    text = api.client().get("/metrics").text

    assert _metric(text, "loomsight_events_stored_total", machine="loom-1") == 3
    assert _metric(text, "loomsight_events_duplicate_total") == 3
    assert _metric(text, "loomsight_ingest_batches_total") == 2
    requests = "loomsight_http_requests_total"
    assert _metric(text, requests, route=INGEST_PATH, method="POST", status="200") == 2
    assert _metric(text, requests, route=INGEST_PATH, method="POST", status="422") == 1
    assert _metric(text, requests, route="unmatched", method="GET", status="404") == 1
    histogram = "loomsight_http_request_duration_seconds_count"
    assert _metric(text, histogram, route=INGEST_PATH, method="POST") == 3


def test_two_apps_count_in_registries_of_their_own(tmp_path: Path) -> None:
    first = create_app(ApiSettings(data_dir=tmp_path / "a"))
    second = create_app(ApiSettings(data_dir=tmp_path / "b"))

    with running(first) as url_first, running(second) as url_second:
        http_client(url_first).get("/healthz")
        text_first = http_client(url_first).get("/metrics").text
        text_second = http_client(url_second).get("/metrics").text

    name = "loomsight_http_requests_total"
    assert _metric(text_first, name, route="/healthz", status="200") == 1
    assert _metric(text_second, name, route="/healthz", status="200") == 0


def test_metrics_can_require_a_token(database_url: str, tmp_path: Path) -> None:
    with live_api(database_url, tmp_path, metrics_token="s" * 20) as api:
        assert api.client().get("/metrics").status_code == 401
        assert api.client("wrong-token-wrong-token").get("/metrics").status_code == 401
        assert api.client("s" * 20).get("/metrics").status_code == 200


def test_each_request_is_logged_with_structured_fields(
    api: LiveApi, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="loomsight.api.access"):
        api.client().get("/healthz")
        deadline = time.monotonic() + 5  # the line is written just after the answer is sent
        while not [r for r in caplog.records if r.name == "loomsight.api.access"]:
            assert time.monotonic() < deadline, "no access log line"
            time.sleep(0.01)

    record = next(r for r in caplog.records if r.name == "loomsight.api.access")
    line = json.loads(JsonLogFormatter().format(record))
    assert line["route"] == "/healthz"
    assert line["status"] == 200
    assert line["method"] == "GET"
    assert line["duration_ms"] >= 0
    assert line["level"] == "info"
    assert re.match(r"GET /healthz -> 200 in [\d.]+ ms", line["message"])


def test_the_openapi_schema_documents_the_wire_contract(api: LiveApi) -> None:
    schema = api.client().get("/openapi.json").json()

    ingest = schema["paths"][INGEST_PATH]["post"]
    body_ref = ingest["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    answer_ref = ingest["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    assert body_ref.endswith("/IngestBatch")
    assert answer_ref.endswith("/IngestAck")
    assert {"401", "403", "413", "415", "422"} <= set(ingest["responses"])
    components = schema["components"]["schemas"]
    assert {"DefectEvent", "Heartbeat", "ActiveModel", "ModelCard"} <= set(components)
    image_put = schema["paths"]["/api/v1/images/{sha256}"]["put"]
    assert set(image_put["requestBody"]["content"]) == {"image/jpeg", "image/png"}
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            assert operation.get("description") or operation.get("summary"), (method, path)
