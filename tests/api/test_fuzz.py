"""Hypothesis against the running server: no input makes a 500.

- valid batches built from the wire contract's own limits are stored exactly as sent;
- valid batches with one field replaced by any JSON value are stored or refused with 403/422;
- image uploads with any name, content type and bytes are stored only under their own sha256;
- every operation of the OpenAPI schema, with any path parameters and any JSON body, answers
  below 500.
"""

from __future__ import annotations

import functools
import hashlib
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from loomsight.api.database import make_engine
from loomsight.api.tables import Event
from loomsight.schema import IMAGE_PATH, INGEST_PATH, Identifier, IngestAck
from tests.api.conftest import (
    BACKENDS,
    NOW,
    LiveApi,
    batch,
    event,
    fresh_database,
    heartbeat,
    live_api,
)

FUZZ = settings(
    max_examples=40,
    deadline=None,
    database=None,  # write nothing into the checkout
    derandomize=True,  # the same examples on every run: CI is not flaky
    suppress_health_check=[HealthCheck.too_slow],
)
OK_OR_REFUSED = {200, 201, 204, 307, 401, 403, 404, 405, 409, 413, 415, 422}


@pytest.fixture(scope="module", params=BACKENDS)
def target(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[LiveApi, httpx.Client]]:
    folder = tmp_path_factory.mktemp("fuzz")
    with fresh_database(str(request.param), folder) as url, live_api(url, folder) as api:
        api.add_machine("loom-1")
        api.add_machine("loom-2")
        yield api, api.add_camera("loom-1", "cam-1")


@pytest.fixture(scope="module")
def database(target: tuple[LiveApi, httpx.Client]) -> Iterator[Engine]:
    engine = make_engine(target[0].settings.database_url, pool_size=1)
    yield engine
    engine.dispose()


def _post_json(client: httpx.Client, path: str, body: Any) -> httpx.Response:
    """POST BODY as JSON, NaN and Infinity included (httpx's own encoder refuses them)."""
    content = json.dumps(body, allow_nan=True).encode()
    return client.post(path, content=content, headers={"content-type": "application/json"})


def _assert_clean(response: httpx.Response) -> None:
    assert response.status_code < 500, response.text
    assert response.status_code in OK_OR_REFUSED, response.text
    if response.status_code >= 400 and response.status_code != 405:
        assert response.json()["detail"]


json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(),
    st.text(max_size=40),
    st.sampled_from(
        ["", "\x00", "loom-2", "cam-2", "0001-01-01T00:00:00+23:59", "9999-12-31T23:59:59-23:59"]
    ),
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=10,
)


def _full_batch() -> dict[str, Any]:
    one = event("loom-1", "cam-1", crop_sha256="ab" * 32)
    alarm = {
        "alarm_id": str(uuid.uuid4()),
        "fired_at": NOW.isoformat(),
        "machine_id": "loom-1",
        "camera_id": "cam-1",
        "rule": "r",
        "action": "warning",
        "outputs": ["o"],
        "event_ids": [one["event_id"]],
    }
    mark = {
        "mark_id": str(uuid.uuid4()),
        "machine_id": "loom-1",
        "roll_id": "R1",
        "kind": "start",
        "at": NOW.isoformat(),
        "length_m": None,
    }
    return batch(
        events=[one], heartbeats=[heartbeat("loom-1", "cam-1")], alarms=[alarm], rolls=[mark]
    )


@st.composite
def mutated_batches(draw: st.DrawFn) -> dict[str, Any]:
    body = _full_batch()
    section = draw(st.sampled_from(["events", "heartbeats", "alarms", "rolls", None]))
    target = body if section is None else body[section][0]
    key = draw(st.sampled_from(sorted(target)) | st.text(max_size=6))
    target[key] = draw(json_values)
    return body


@pytest.mark.slow
@FUZZ
@given(body=mutated_batches())
def test_a_batch_with_any_field_replaced_is_stored_or_refused(
    target: tuple[LiveApi, httpx.Client], body: dict[str, Any]
) -> None:
    _api, camera = target

    response = _post_json(camera, INGEST_PATH, body)

    _assert_clean(response)
    assert response.status_code in (200, 403, 422)
    if response.status_code == 200:
        IngestAck.model_validate(response.json())


_IDENTIFIER: TypeAdapter[str] = TypeAdapter(Identifier)


def _is_identifier(text: str) -> bool:
    try:
        _IDENTIFIER.validate_python(text)
    except ValidationError:
        return False
    return True


# Python's \w is wider than the wire's (Rust regex): keep what the wire takes.
identifiers = st.from_regex(r"\A[A-Za-z0-9][\w.:@+-]{0,63}\Z").filter(_is_identifier)
non_negative = st.floats(min_value=0, allow_nan=False, allow_infinity=False)
offsets = st.integers(-(24 * 60 - 1), 24 * 60 - 1).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
times = st.datetimes(timezones=st.just(UTC) | offsets)


@st.composite
def valid_events(draw: st.DrawFn) -> dict[str, Any]:
    width, height = draw(st.integers(1, 10_000)), draw(st.integers(1, 10_000))
    x1 = draw(st.floats(0, width - 0.01 if width > 1 else 0.5))
    x2 = draw(st.floats(x1, width + 1).filter(lambda x: x > x1))
    y1 = draw(st.floats(0, height - 0.01 if height > 1 else 0.5))
    y2 = draw(st.floats(y1, height + 1).filter(lambda y: y > y1))
    return event(
        "loom-1",
        "cam-1",
        detected_at=draw(times).isoformat(),
        roll_id=draw(st.none() | identifiers),
        position_m=draw(non_negative),
        across_mm=draw(non_negative),
        length_mm=draw(non_negative.filter(lambda v: v > 0)),
        width_mm=draw(non_negative.filter(lambda v: v > 0)),
        class_name=draw(identifiers),
        confidence=draw(st.floats(0, 1)),
        box_xyxy_px=[x1, y1, x2, y2],
        frame_wh_px=[width, height],
        model_version=draw(identifiers),
    )


def _utc_fits(text: str) -> bool:
    try:
        datetime.fromisoformat(text).astimezone(UTC)
    except OverflowError:
        return False
    return True


@pytest.mark.slow
@FUZZ
@given(events=st.lists(valid_events(), min_size=1, max_size=5))
def test_valid_batches_are_stored_exactly_as_sent(
    target: tuple[LiveApi, httpx.Client], database: Engine, events: list[dict[str, Any]]
) -> None:
    _api, camera = target

    response = camera.post(INGEST_PATH, json=batch(events=events))

    if not all(_utc_fits(e["detected_at"]) for e in events):
        assert response.status_code == 422
        assert "out of range in UTC" in response.text
        return
    assert response.status_code == 200, response.text
    assert response.json()["events_stored"] == len(events)
    with Session(database) as session:
        for sent in events:
            stored = session.get(Event, uuid.UUID(sent["event_id"]))
            assert stored is not None
            assert stored.detected_at == datetime.fromisoformat(sent["detected_at"])
            assert stored.position_m == sent["position_m"]
            assert stored.class_name == sent["class_name"]
            assert stored.roll_id == sent["roll_id"]
            assert [stored.box_x1_px, stored.box_y2_px] == sent["box_xyxy_px"][::3]


@pytest.mark.slow
@FUZZ
@given(
    data=st.binary(max_size=3000) | st.binary(max_size=3000).map(lambda b: b"\xff\xd8\xff" + b),
    name=st.none() | st.text(max_size=70) | st.from_regex(r"\A[0-9a-f]{64}\Z"),
    content_type=st.sampled_from(["image/jpeg", "image/png", "IMAGE/JPEG; q=1", "text/plain", ""])
    | st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=20).map(
        str.strip  # h11 refuses header values with surrounding spaces before they are sent
    ),
)
def test_any_image_upload_is_stored_only_under_its_own_hash(
    target: tuple[LiveApi, httpx.Client], data: bytes, name: str | None, content_type: str
) -> None:
    api, camera = target
    sha256 = hashlib.sha256(data).hexdigest()
    path = IMAGE_PATH.format(sha256=quote(name if name is not None else sha256, safe=""))

    response = camera.put(path, content=data, headers={"content-type": content_type})

    _assert_clean(response)
    if response.status_code == 200:
        assert response.json()["sha256"] == sha256
        assert api.admin.get(IMAGE_PATH.format(sha256=sha256)).content == data


@functools.cache
def _operations(api: LiveApi) -> list[tuple[str, str, str | None]]:
    schema = api.admin.get("/openapi.json").json()
    found = []
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            content = operation.get("requestBody", {}).get("content", {})
            found.append((method.upper(), path, next(iter(content), None)))
    return sorted(found)


@pytest.mark.slow
@FUZZ
@given(data=st.data())
def test_every_operation_answers_below_500_whatever_it_is_sent(
    target: tuple[LiveApi, httpx.Client], data: st.DataObject
) -> None:
    api, camera = target
    method, template, content_type = data.draw(st.sampled_from(_operations(api)))
    path = template
    while "{" in path:
        start, end = path.index("{"), path.index("}")
        value = data.draw(st.text(max_size=70) | identifiers)
        path = path[:start] + quote(value, safe="") + path[end + 1 :]
    client = data.draw(st.sampled_from([api.admin, camera]))
    request: dict[str, Any] = {}
    if content_type == "application/json":
        request["content"] = json.dumps(data.draw(json_values), allow_nan=True).encode()
        request["headers"] = {"content-type": content_type}
    elif content_type == "multipart/form-data":
        request["files"] = {
            name: (name, data.draw(st.binary(max_size=200)), "application/octet-stream")
            for name in data.draw(st.lists(st.sampled_from(["onnx", "card", "x"]), unique=True))
        } or {"x": ("x", b"", "text/plain")}
    elif content_type is not None:
        request["content"] = data.draw(st.binary(max_size=200))
        request["headers"] = {"content-type": content_type}
    elif template == "/api/v1/auth/token":
        request["data"] = data.draw(
            st.dictionaries(
                st.sampled_from(["username", "password", "scope"]), st.text(max_size=20)
            )
        )

    response = client.request(method, path, **request)

    _assert_clean(response)
