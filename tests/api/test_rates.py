"""Defect rates through the real server, checked against hand-computed fixtures.

loom-1 (camera cam-1), 2026-11-26 06:00-09:00 UTC, one heartbeat a minute (10 m and 18 m² each,
06:00-08:00 model m@1, 08:00-09:00 model m@2 with 1 m and 1.8 m² skipped each), none from 07:20
to 07:35 (a 900 s gap; threshold 3 x 60 s). Inspected: 06h 600 m, 07h 450 m, 08h 600 m.

    time   class        verdict (written in the database)   model
    06:10  broken_pick  -                                   m@1
    06:40  broken_pick  -                                   m@1
    06:45  hole         confirmed                           m@1
    06:50  broken_pick  -                                   m@1
    07:05  stain        false_alarm                         m@1
    07:40  stain        relabelled as knot                  m@1
    07:50  slub         confirmed                           m@1
    08:15  broken_pick  false_alarm                         m@2
    08:20  knot         confirmed                           m@2
    08:45  knot         confirmed                           m@2

loom-2: heartbeats 06:00-06:50 and 07:10-08:00 (a gap across the hour), 2 stains at 06:30.
loom-3: cam-3a 06:00-07:00 and cam-3b 06:30-07:30: covered together until 07:30 only.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from loomsight.api.database import make_engine
from loomsight.api.report_deps import get_report_settings
from loomsight.api.report_settings import ReportSettings, Shift
from loomsight.api.tables import Event, EventHour, Heartbeat, HeartbeatHour
from tests.api.conftest import (
    BACKENDS,
    LiveApi,
    batch,
    event,
    fresh_database,
    heartbeat,
    live_api,
    set_verdicts,
)

T0 = datetime(2026, 11, 26, 6, 0, tzinfo=UTC)
CLOCK_NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
RATES = "/api/v1/machines/{}/rates"
EVENTS = [  # minutes after 06:00, class, verdict, corrected class
    (10, "broken_pick", None, None),
    (40, "broken_pick", None, None),
    (45, "hole", "confirmed", None),
    (50, "broken_pick", None, None),
    (65, "stain", "false_alarm", None),
    (100, "stain", "relabelled", "knot"),
    (110, "slub", "confirmed", None),
    (135, "broken_pick", "false_alarm", None),
    (140, "knot", "confirmed", None),
    (165, "knot", "confirmed", None),
]


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def minute_heartbeats(machine: str, camera: str, minutes: range, **fields: Any) -> list[Any]:
    return [
        heartbeat(
            machine,
            camera,
            period_start=iso(at(k)),
            period_end=iso(at(k + 1)),
            inspected_m=10.0,
            inspected_m2=18.0,
            skipped_m=0.0,
            skipped_m2=0.0,
            **fields,
        )
        for k in minutes
    ]


@dataclass
class World:
    api: LiveApi
    reviewer: httpx.Client


def _loom_1(api: LiveApi) -> None:
    camera = api.add_camera("loom-1", "cam-1")
    beats = minute_heartbeats("loom-1", "cam-1", range(80), model_version="m@1")
    beats += minute_heartbeats("loom-1", "cam-1", range(95, 120), model_version="m@1")
    beats += [
        {**b, "skipped_m": 1.0, "skipped_m2": 1.8}
        for b in minute_heartbeats("loom-1", "cam-1", range(120, 180), model_version="m@2")
    ]
    events, verdicts = [], {}
    for minutes, class_name, verdict, corrected in EVENTS:
        body = event(
            "loom-1",
            "cam-1",
            detected_at=iso(at(minutes)),
            class_name=class_name,
            model_version="m@2" if minutes >= 120 else "m@1",
        )
        events.append(body)
        verdicts[uuid.UUID(body["event_id"])] = (verdict, corrected)
    response = camera.post("/api/v1/ingest", json=batch(events=events, heartbeats=beats))
    assert response.status_code == 200, response.text
    set_verdicts(api.settings.database_url, verdicts)


def _others(api: LiveApi) -> None:
    camera = api.add_camera("loom-2", "cam-2")
    beats = minute_heartbeats("loom-2", "cam-2", range(50))
    beats += minute_heartbeats("loom-2", "cam-2", range(70, 120))
    stains = [event("loom-2", "cam-2", detected_at=iso(at(30)), class_name="stain") for _ in "ab"]
    assert camera.post("/api/v1/ingest", json=batch(events=stains, heartbeats=beats)).is_success
    for camera_id, minutes in (("cam-3a", range(60)), ("cam-3b", range(30, 90))):
        client = api.add_camera("loom-3", camera_id)
        beats = minute_heartbeats("loom-3", camera_id, minutes)
        assert client.post("/api/v1/ingest", json=batch(heartbeats=beats)).is_success


@pytest.fixture(scope="module", params=BACKENDS)
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    folder = tmp_path_factory.mktemp("rates")
    with (
        fresh_database(str(request.param), folder) as url,
        live_api(url, folder, clock=lambda: CLOCK_NOW) as api,
    ):
        for machine in ("loom-1", "loom-2", "loom-3", "loom-idle"):
            api.add_machine(machine)
        _loom_1(api)
        _others(api)
        yield World(api=api, reviewer=api.add_user("rita", "reviewer"))


def rates(world: World, machine: str = "loom-1", **params: Any) -> dict[str, Any]:
    params = {"start": iso(T0), "end": iso(at(180)), **params}
    response = world.reviewer.get(RATES.format(machine), params=params)
    assert response.status_code == 200, response.text
    return dict(response.json())


def per_bucket(body: dict[str, Any], *fields: str) -> list[tuple[Any, ...]]:
    return [tuple(b[f] for f in fields) for b in body["buckets"]]


def classes(figures: dict[str, Any]) -> dict[str, int]:
    return {name: c["events"] for name, c in figures["classes"].items()}


@pytest.mark.parametrize(
    ("counting", "events", "by_class"),
    [
        (
            "all",
            [4, 3, 3],
            [{"broken_pick": 3, "hole": 1}, {"stain": 2, "slub": 1}, {"broken_pick": 1, "knot": 2}],
        ),
        ("confirmed", [1, 2, 2], [{"hole": 1}, {"knot": 1, "slub": 1}, {"knot": 2}]),
        (
            "not_rejected",
            [4, 2, 2],
            [{"broken_pick": 3, "hole": 1}, {"knot": 1, "slub": 1}, {"knot": 2}],
        ),
    ],
)
def test_hourly_rates_count_as_asked(
    world: World, counting: str, events: list[int], by_class: list[dict[str, int]]
) -> None:
    body = rates(world, bucket="hour", counting=counting)

    assert per_bucket(body, "start", "end") == [
        (iso(at(0)), iso(at(60))),
        (iso(at(60)), iso(at(120))),
        (iso(at(120)), iso(at(180))),
    ]
    assert per_bucket(body, "events") == [(n,) for n in events]
    assert [classes(b) for b in body["buckets"]] == by_class
    assert per_bucket(body, "inspected_m", "inspected_m2") == [(600, 1080), (450, 810), (600, 1080)]
    inspected = [600, 450, 600]
    assert per_bucket(body, "per_100_m") == [
        (pytest.approx(100 * n / m),) for n, m in zip(events, inspected, strict=True)
    ]
    assert body["total"]["events"] == sum(events)
    assert body["total"]["per_100_m"] == pytest.approx(100 * sum(events) / 1650)
    assert body["total"]["per_100_m2"] == pytest.approx(100 * sum(events) / 2970)
    assert per_bucket(body, "unreviewed", "false_alarms") == [(3, 0), (0, 1), (0, 1)]


def test_class_rates_are_per_100_m_and_m2_of_inspected_fabric(world: World) -> None:
    hour_8 = rates(world, counting="confirmed")["buckets"][2]

    assert hour_8["classes"]["knot"] == {
        "events": 2,
        "per_100_m": pytest.approx(2 / 600 * 100),
        "per_100_m2": pytest.approx(2 / 1080 * 100),
    }
    assert (hour_8["skipped_m"], hour_8["skipped_m2"]) == (pytest.approx(60), pytest.approx(108))


def test_coverage_gaps_and_skipped_fabric_are_shown(world: World) -> None:
    body = rates(world)

    coverage = body["coverage"]
    assert coverage["gaps"] == [
        {"start": iso(at(80)), "end": iso(at(95)), "duration_s": pytest.approx(900)}
    ]
    assert coverage["gap_threshold_s"] == pytest.approx(180)
    assert coverage["median_heartbeat_s"] == pytest.approx(60)
    assert coverage["uncovered_s"] == pytest.approx(900)
    assert per_bucket(body, "uncovered_s") == [(0,), (pytest.approx(900),), (0,)]
    assert (coverage["skipped_m"], coverage["skipped_m2"]) == (
        pytest.approx(60),
        pytest.approx(108),
    )
    assert coverage["inspected_share"] == pytest.approx(1650 / 1710)


def test_a_range_inside_hours_reads_rows_at_the_edges_and_hours_between(world: World) -> None:
    body = rates(world, start=iso(at(30)), end=iso(at(150)))

    assert per_bucket(body, "start", "events", "inspected_m") == [
        (iso(at(30)), 3, 300),
        (iso(at(60)), 3, 450),
        (iso(at(120)), 2, 300),
    ]
    assert body["buckets"][-1]["end"] == iso(at(150))


@pytest.mark.parametrize("counting", ["all", "confirmed", "not_rejected"])
def test_hours_from_the_rollups_agree_with_minutes_from_the_rows(
    world: World, counting: str
) -> None:
    hours = rates(world, bucket="hour", counting=counting, by_model="true")
    minutes = rates(world, bucket="minute", counting=counting, by_model="true")

    for field in ("events", "inspected_m", "skipped_m2", "heartbeats", "unreviewed"):
        assert hours["total"][field] == pytest.approx(minutes["total"][field]), field
    assert hours["total"]["classes"] == minutes["total"]["classes"]
    assert hours["total"]["models"] == minutes["total"]["models"]
    assert len(minutes["buckets"]) == 180


def test_shifts_from_the_settings_and_minute_buckets(world: World) -> None:
    shifts = (Shift(name="a", start="06:00"), Shift(name="b", start="07:30"))  # type: ignore[arg-type]
    app = world.api.app
    app.dependency_overrides[get_report_settings] = lambda: ReportSettings(shifts=shifts)
    try:
        body = rates(world, bucket="shift")
    finally:
        app.dependency_overrides.clear()

    assert per_bucket(body, "shift", "start", "end", "events", "inspected_m") == [
        ("a", iso(at(0)), iso(at(90)), 5, 800),
        ("b", iso(at(90)), iso(at(180)), 5, 850),
    ]
    default = rates(world, bucket="shift", start=iso(at(-60)), end=iso(at(180)))
    assert per_bucket(default, "shift", "start", "events") == [
        ("night", iso(at(-60)), 0),
        ("early", iso(at(0)), 10),
    ]
    minutes = rates(world, bucket="minute", start=iso(at(40)), end=iso(at(46)))
    assert per_bucket(minutes, "events") == [(1,), (0,), (0,), (0,), (0,), (1,)]
    assert {b["inspected_m"] for b in minutes["buckets"]} == {10}
    day = rates(world, bucket="day", start=iso(at(-360)), end=iso(at(1080)))
    assert per_bucket(day, "events", "inspected_m") == [(10, 1650)]


def test_rates_split_by_model_version(world: World) -> None:
    body = rates(world, by_model="true")

    models = {m["model_version"]: m for m in body["total"]["models"]}
    assert set(models) == {"m@1", "m@2"}
    assert (models["m@1"]["events"], models["m@1"]["inspected_m"]) == (7, 1050)
    assert (models["m@2"]["events"], models["m@2"]["inspected_m"]) == (3, 600)
    assert models["m@2"]["per_100_m"] == pytest.approx(0.5)
    assert [m["model_version"] for m in body["buckets"][2]["models"]] == ["m@2"]
    assert rates(world)["buckets"][0]["models"] is None


def test_machines_side_by_side_and_gaps_across_hours_and_cameras(world: World) -> None:
    response = world.reviewer.get(
        "/api/v1/rates",
        params=[
            ("machine", "loom-2"),
            ("machine", "loom-1"),
            ("machine", "loom-3"),
            ("start", iso(T0)),
            ("end", iso(at(120))),
        ],
    )

    assert response.status_code == 200, response.text
    loom_2, loom_1, loom_3 = response.json()["machines"]
    assert [loom_2["machine_id"], loom_1["machine_id"]] == ["loom-2", "loom-1"]
    assert loom_2["total"]["events"] == 2
    assert loom_2["total"]["per_100_m"] == pytest.approx(2 / 1000 * 100)
    assert [(g["start"], g["end"]) for g in loom_2["coverage"]["gaps"]] == [
        (iso(at(50)), iso(at(70)))
    ]
    assert per_bucket(loom_2, "uncovered_s") == [(600,), (600,)]
    assert [(g["start"], g["end"]) for g in loom_3["coverage"]["gaps"]] == [
        (iso(at(90)), iso(at(120)))
    ]
    assert loom_1["total"]["events"] == 7


def test_a_machine_without_heartbeats_has_no_rate_and_one_gap(world: World) -> None:
    body = rates(world, "loom-idle")

    assert body["total"]["per_100_m"] is None
    assert body["coverage"]["gap_threshold_s"] is None
    assert body["coverage"]["uncovered_s"] == pytest.approx(3 * 3600)


def test_gaps_are_checked_until_now_only(world: World) -> None:
    body = rates(
        world,
        "loom-idle",
        start=iso(CLOCK_NOW - timedelta(hours=1)),
        end=iso(CLOCK_NOW + timedelta(hours=5)),
    )

    assert body["coverage"]["checked_until"] == iso(CLOCK_NOW)
    assert body["coverage"]["uncovered_s"] == pytest.approx(3600)


@pytest.mark.parametrize(
    ("path", "params", "status", "message"),
    [
        (
            RATES.format("loom-1"),
            {"start": "2026-11-26T09:00:00Z", "end": "2026-11-26T08:00:00Z"},
            422,
            "must be after",
        ),
        (RATES.format("loom-1"), {"start": "2026-11-26T09:00:00"}, 422, "time zone"),
        (RATES.format("loom-1"), {"bucket": "week"}, 422, "minute"),
        (RATES.format("loom-1"), {"counting": "some"}, 422, "confirmed"),
        (RATES.format("loom-1"), {"colour": "red"}, 422, "Extra inputs"),
        (
            RATES.format("loom-1"),
            {"bucket": "minute", "start": "2026-10-01T00:00:00Z", "end": "2026-11-01T00:00:00Z"},
            422,
            "larger bucket",
        ),
        (RATES.format("loom-1"), {"start": "0001-01-01T00:00:00+01:00"}, 422, "out of range"),
        (RATES.format("loom-1"), {"end": "9999-12-31T23:00:00Z"}, 422, "between 1970"),
        (RATES.format("nowhere"), {}, 404, "no machine"),
        ("/api/v1/rates", {}, 422, "machine"),
        ("/api/v1/rates", {"machine": "nowhere"}, 404, "no machine"),
    ],
)
def test_bad_rate_queries_are_refused_clearly(
    world: World, path: str, params: dict[str, str], status: int, message: str
) -> None:
    response = world.reviewer.get(path, params=params)

    assert response.status_code == status, response.text
    assert message in response.text


def _recount(session: Session) -> tuple[set[tuple[Any, ...]], set[tuple[Any, ...]]]:
    rolled = {
        (r.machine_id, r.model_version, r.class_name, r.review_state, r.review_class, r.events)
        for r in session.scalars(select(EventHour).where(EventHour.events > 0))
    }
    state = func.coalesce(Event.verdict, "unreviewed")
    review_class = func.coalesce(Event.corrected_class, Event.class_name)
    raw_query = select(
        Event.machine_id, Event.model_version, Event.class_name, state, review_class, func.count()
    ).group_by(Event.machine_id, Event.model_version, Event.class_name, state, review_class)
    raw = {tuple(row) for row in session.execute(raw_query)}
    return rolled, raw


def test_the_hourly_rollups_follow_inserts_verdicts_and_deletes(
    backend: str, tmp_path: Path
) -> None:
    with (
        fresh_database(backend, tmp_path) as url,
        live_api(url, tmp_path, clock=lambda: CLOCK_NOW) as api,
    ):
        api.add_machine("loom-1")
        _loom_1(api)
        engine = make_engine(url, pool_size=1)
        try:
            with Session(engine) as session:
                rolled, raw = _recount(session)
                assert rolled == raw and sum(r[-1] for r in raw) == len(EVENTS)
                first = session.scalars(select(Event).order_by(Event.detected_at)).first()
                assert first is not None
                first.verdict, first.corrected_class = "relabelled", "slub"
                session.commit()
                session.execute(delete(Event).where(Event.class_name == "knot"))
                session.execute(delete(Heartbeat).where(Heartbeat.model_version == "m@2"))
                session.commit()
                rolled, raw = _recount(session)
                assert rolled == raw and sum(r[-1] for r in raw) == len(EVENTS) - 2
                inspected = session.scalar(select(func.sum(HeartbeatHour.inspected_m)))
                assert inspected == pytest.approx(1050)
                assert session.scalar(select(func.count()).select_from(HeartbeatHour)) == 2
        finally:
            engine.dispose()
        body = api.admin.get(
            RATES.format("loom-1"), params={"start": iso(T0), "end": iso(at(180))}
        ).json()
        assert per_bucket(body, "events", "inspected_m") == [(4, 600), (3, 450), (1, 0)]
