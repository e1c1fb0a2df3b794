"""Ingest through the real server: stored once per UUID, also under concurrent duplicate posts."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from loomsight.api.database import make_engine
from loomsight.api.tables import Alarm, Event, Heartbeat, Roll, RollMark
from loomsight.schema import IngestAck
from tests.api.conftest import NOW, LiveApi, batch, event, heartbeat, post_batch


def _count(api: LiveApi, table: type[Any], **where: Any) -> int:
    engine = make_engine(api.settings.database_url, pool_size=1)
    try:
        with Session(engine) as session:
            query = select(func.count()).select_from(table).filter_by(**where)
            return int(session.scalar(query) or 0)
    finally:
        engine.dispose()


def test_a_batch_is_stored_once_and_answered_with_counts(api: LiveApi) -> None:
    api.add_machine("loom-1")
    camera = api.add_camera("loom-1", "cam-1")
    body = batch(
        events=[event("loom-1", "cam-1", crop_sha256="ab" * 32) for _ in range(5)],
        heartbeats=[heartbeat("loom-1", "cam-1")],
    )

    first = post_batch(camera, body)
    second = post_batch(camera, body)

    assert first.status_code == 200, first.text
    assert IngestAck.model_validate(first.json()) == IngestAck(
        events_stored=5,
        events_duplicate=0,
        heartbeats_stored=1,
        heartbeats_duplicate=0,
        alarms_stored=0,
        rolls_stored=0,
        missing_images=["ab" * 32],
    )
    assert second.status_code == 200
    assert second.json()["events_stored"] == 0
    assert second.json()["events_duplicate"] == 5
    assert second.json()["heartbeats_duplicate"] == 1
    assert _count(api, Event) == 5
    assert _count(api, Heartbeat) == 1


def test_the_same_event_twice_in_one_batch_is_stored_once(api: LiveApi) -> None:
    api.add_machine("loom-1")
    camera = api.add_camera("loom-1", "cam-1")
    one = event("loom-1", "cam-1")

    response = post_batch(camera, batch(events=[one, one, event("loom-1", "cam-1")]))

    assert response.json()["events_stored"] == 2
    assert response.json()["events_duplicate"] == 1
    assert _count(api, Event) == 2


def test_concurrent_duplicate_posts_store_each_event_once(api: LiveApi) -> None:
    api.add_machine("loom-1")
    camera = api.add_camera("loom-1", "cam-1")
    body = batch(
        events=[event("loom-1", "cam-1") for _ in range(200)],
        heartbeats=[heartbeat("loom-1", "cam-1") for _ in range(20)],
    )
    posts = 8

    with ThreadPoolExecutor(posts) as pool:
        responses = list(pool.map(lambda _: post_batch(camera, body), range(posts)))

    assert [r.status_code for r in responses] == [200] * posts, [r.text for r in responses]
    acks = [IngestAck.model_validate(r.json()) for r in responses]
    assert sum(ack.events_stored for ack in acks) == 200
    assert all(ack.events_stored + ack.events_duplicate == 200 for ack in acks)
    assert sum(ack.heartbeats_stored for ack in acks) == 20
    assert _count(api, Event) == 200
    assert _count(api, Heartbeat) == 20


def test_overlapping_batches_in_opposite_orders_do_not_deadlock(api: LiveApi) -> None:
    api.add_machine("loom-1")
    camera = api.add_camera("loom-1", "cam-1")
    events = [event("loom-1", "cam-1") for _ in range(1000)]
    bodies = [batch(events=events), batch(events=events[::-1])] * 4

    with ThreadPoolExecutor(len(bodies)) as pool:
        responses = list(pool.map(lambda body: post_batch(camera, body), bodies))

    assert [r.status_code for r in responses] == [200] * len(bodies)
    assert sum(r.json()["events_stored"] for r in responses) == 1000


def test_every_field_of_an_event_is_kept(api: LiveApi) -> None:
    api.add_machine("loom-1")
    camera = api.add_camera("loom-1", "cam-1")
    sent = event(
        "loom-1",
        "cam-1",
        detected_at="2026-11-26T12:30:00.250+02:00",
        frame_sha256="cd" * 32,
        box_xyxy_px=[1.5, 2.5, 30.25, 40.75],
    )

    post_batch(camera, batch(events=[sent]))

    engine = make_engine(api.settings.database_url, pool_size=1)
    with Session(engine) as session:
        stored = session.get(Event, uuid.UUID(sent["event_id"]))
        assert stored is not None
        assert stored.detected_at == NOW.replace(hour=10, minute=30, microsecond=250_000)
        assert stored.detected_at.utcoffset() == timedelta(0)
        assert (stored.box_x1_px, stored.box_y1_px, stored.box_x2_px, stored.box_y2_px) == (
            1.5,
            2.5,
            30.25,
            40.75,
        )
        assert (stored.frame_w_px, stored.frame_h_px) == (1024, 512)
        assert stored.frame_sha256 == "cd" * 32
        assert stored.verdict is None
        assert stored.model_version == sent["model_version"]
    engine.dispose()


def test_alarms_and_roll_marks_are_stored_once_and_describe_the_roll(api: LiveApi) -> None:
    api.add_machine("loom-1")
    camera = api.add_camera("loom-1", "cam-1")
    one = event("loom-1", "cam-1")
    alarm = {
        "alarm_id": str(uuid.uuid4()),
        "fired_at": NOW.isoformat(),
        "machine_id": "loom-1",
        "camera_id": "cam-1",
        "rule": "3 holes in 10 m",
        "action": "stop",
        "outputs": ["relay:1"],
        "event_ids": [one["event_id"]],
    }

    def mark(kind: str, minutes: int, length_m: float | None = None) -> dict[str, Any]:
        at = (NOW + timedelta(minutes=minutes)).isoformat()
        return {
            "mark_id": str(uuid.uuid4()),
            "machine_id": "loom-1",
            "roll_id": "R1",
            "kind": kind,
            "at": at,
            "length_m": length_m,
        }

    late_end, early_end = mark("end", 90, 120.0), mark("end", 60, 80.0)
    body = batch(events=[one], alarms=[alarm], rolls=[mark("start", 0), late_end])

    first = post_batch(camera, body).json()
    again = post_batch(camera, body).json()
    older = post_batch(camera, batch(rolls=[early_end, mark("start", -5)])).json()

    assert (first["alarms_stored"], first["rolls_stored"]) == (1, 2)
    assert (again["alarms_stored"], again["rolls_stored"]) == (0, 0)
    assert older["rolls_stored"] == 2
    assert _count(api, Alarm) == 1
    assert _count(api, RollMark) == 4
    engine = make_engine(api.settings.database_url, pool_size=1)
    with Session(engine) as session:
        roll = session.get(Roll, ("loom-1", "R1"))
        assert roll is not None
        assert roll.started_at == NOW - timedelta(minutes=5)
        assert roll.ended_at == NOW + timedelta(minutes=90)
        assert roll.length_m == 120.0  # the latest end mark's, not the one that came last
    engine.dispose()
