"""Rolls through the real server: marks by hand, the report with 4-point grades, the page and
the SVG map.

Roll R7 on loom-r (web 72 in = 1828.8 mm), ended by hand at 100 yd (91.44 m):

    at m   size mm     class        verdict                points (not_rejected / all)  yard
    0.2    10 x 2      slub         -                      1 / 1                         0
    0.5    160 x 2     knot         -                      3 / 3 (6.3 in)                0
    0.6    2 x 2       hole         confirmed              4 / 4                         0
    10.0   80 x 2      slub         -                      2 / 2 (3.15 in)               10
    20.0   300 x 2     broken_pick  false_alarm            - / 4                         21
    30.0   2000 x 2    broken_end   -                      4 in each of yards 31-33      31-33
    40.0   5 x 5       stain        relabelled as hole     4 / 1                         43

not_rejected: yard 0 has 8 points, capped 4; total 4 + 2 + 12 + 4 = 22, uncapped 26;
22 x 3600 / (72 x 100) = 11.0 per 100 sq yd: A. all: 4 + 2 + 4 + 12 + 1 = 23: 11.5.
"""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from loomsight.api.database import make_engine
from loomsight.api.report_deps import get_report_settings
from loomsight.api.report_settings import GradeStep, ReportSettings
from loomsight.api.tables import RollMark
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
INCH = 25.4
ROLL = "/api/v1/machines/loom-r/rolls/R7"
DEFECTS = [  # position m, length mm, width mm, class, verdict, corrected class
    (0.2, 10.0, 2.0, "slub", None, None),
    (0.5, 160.0, 2.0, "knot", None, None),
    (0.6, 2.0, 2.0, "hole", "confirmed", None),
    (10.0, 80.0, 2.0, "slub", None, None),
    (20.0, 300.0, 2.0, "broken_pick", "false_alarm", None),
    (30.0, 2000.0, 2.0, "broken_end", None, None),
    (40.0, 5.0, 5.0, "stain", "relabelled", "hole"),
]


@dataclass
class World:
    api: LiveApi
    reviewer: httpx.Client
    camera: httpx.Client


def _post_roll(api: LiveApi, camera: httpx.Client) -> None:
    events, verdicts = [], {}
    for k, (position_m, length_mm, width_mm, class_name, verdict, corrected) in enumerate(DEFECTS):
        body = event(
            "loom-r",
            "cam-r",
            roll_id="R7",
            detected_at=(T0 + timedelta(minutes=k)).isoformat(),
            position_m=position_m,
            across_mm=100.0 + 200 * k,
            length_mm=length_mm,
            width_mm=width_mm,
            class_name=class_name,
        )
        events.append(body)
        verdicts[uuid.UUID(body["event_id"])] = (verdict, corrected)
    start = {
        "mark_id": str(uuid.uuid4()),
        "machine_id": "loom-r",
        "roll_id": "R7",
        "kind": "start",
        "at": T0.isoformat(),
    }
    assert camera.post("/api/v1/ingest", json=batch(events=events, rolls=[start])).is_success
    set_verdicts(api.settings.database_url, verdicts)


@pytest.fixture(scope="module", params=BACKENDS)
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    folder = tmp_path_factory.mktemp("rolls")
    with fresh_database(str(request.param), folder) as url, live_api(url, folder) as api:
        api.add_machine("loom-r", web_width_mm=72 * INCH, article="twill 3/1")
        api.add_machine("loom-narrow")
        camera = api.add_camera("loom-r", "cam-r")
        _post_roll(api, camera)
        reviewer = api.add_user("rita", "reviewer")
        end = {"kind": "end", "at": (T0 + timedelta(hours=2)).isoformat(), "length_m": 91.44}
        response = reviewer.post(f"{ROLL}/marks", json=end)
        assert response.status_code == 201, response.text
        yield World(api=api, reviewer=reviewer, camera=camera)


def report(world: World, **params: str) -> dict[str, Any]:
    response = world.reviewer.get(ROLL, params=params)
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_a_manual_end_mark_ends_the_roll_with_its_length(world: World) -> None:
    rolls = world.reviewer.get("/api/v1/machines/loom-r/rolls").json()

    assert rolls == [
        {
            "machine_id": "loom-r",
            "roll_id": "R7",
            "started_at": T0.isoformat().replace("+00:00", "Z"),
            "ended_at": (T0 + timedelta(hours=2)).isoformat().replace("+00:00", "Z"),
            "length_m": 91.44,
        }
    ]
    engine = make_engine(world.api.settings.database_url, pool_size=1)
    try:
        with Session(engine) as session:
            marks = session.execute(select(RollMark.kind, RollMark.source, RollMark.entered_by))
            assert sorted(marks) == [("end", "manual", "rita"), ("start", "camera", None)]
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    ("counting", "points", "uncapped", "score", "classes"),
    [
        (
            "not_rejected",
            22,
            26,
            11.0,
            ["slub", "knot", "hole", "slub", "broken_end", "hole"],
        ),
        (
            "all",
            23,
            27,
            11.5,
            ["slub", "knot", "hole", "slub", "broken_pick", "broken_end", "stain"],
        ),
        ("confirmed", 8, 8, 4.0, ["hole", "hole"]),
    ],
)
def test_the_roll_report_scores_and_grades_the_defects(
    world: World, counting: str, points: int, uncapped: int, score: float, classes: list[str]
) -> None:
    body = report(world, counting=counting)

    assert [d["class_name"] for d in body["defects"]] == classes
    positions = [d["position_m"] for d in body["defects"]]
    assert positions == sorted(positions)
    assert (body["points"], body["points_uncapped"]) == (points, uncapped)
    assert body["points_per_100_sq_yd"] == pytest.approx(score)
    assert body["grade"] == "A"
    assert (body["length_m"], body["length_source"]) == (91.44, "end_mark")
    assert (body["unreviewed"], body["false_alarms"]) == (4, 1)


def test_points_per_yard_are_capped_and_long_defects_score_every_yard(world: World) -> None:
    body = report(world)

    assert [(y["yard"], y["raw_points"], y["points"]) for y in body["yards"]] == [
        (0, 8, 4),
        (10, 2, 2),
        (31, 4, 4),
        (32, 4, 4),
        (33, 4, 4),
        (43, 4, 4),
    ]
    long = next(d for d in body["defects"] if d["class_name"] == "broken_end")
    assert (long["points"], long["yards"], long["length_in"]) == (
        4,
        [31, 32, 33],
        pytest.approx(2000 / INCH),
    )


def test_the_grade_follows_the_limits_in_the_settings(world: World) -> None:
    strict = ReportSettings(grades=(GradeStep(grade="A", max_points_per_100_sq_yd=10),))
    world.api.app.dependency_overrides[get_report_settings] = lambda: strict
    try:
        body = report(world)
    finally:
        world.api.app.dependency_overrides.clear()

    assert (body["points_per_100_sq_yd"], body["grade"]) == (pytest.approx(11.0), "rejected")


def test_the_printable_page_lists_every_defect_and_the_grade(world: World) -> None:
    response = world.reviewer.get(f"{ROLL}/report.html")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    assert "<svg" in page and "<script" not in page
    assert "twill 3/1" in page and "11.0" in page and ">A<" in page
    for position_m, *_rest in DEFECTS:
        if position_m != 20.0:  # the false alarm is not on the page
            assert f'<td class="number">{position_m:.2f}</td>' in page
    assert page.count("<tr><td") == 6


def test_the_roll_map_is_svg_with_one_mark_per_defect_and_a_legend(world: World) -> None:
    response = world.reviewer.get(f"{ROLL}/map.svg", params={"counting": "all"})

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("image/svg+xml")
    root = ET.fromstring(response.content)
    svg = "{http://www.w3.org/2000/svg}"
    assert root.tag == f"{svg}svg"
    marks = [r for r in root.iter(f"{svg}rect") if r.get("class") == "defect"]
    ids = {d["event_id"] for d in report(world, counting="all")["defects"]}
    assert {m.get("data-event-id") for m in marks} == ids and len(marks) == 7
    xs = [float(m.get("x", 0)) + float(m.get("width", 0)) / 2 for m in marks]
    assert xs == sorted(xs)  # along the roll, left to right
    assert len([r for r in root.iter(f"{svg}rect") if r.get("class") == "legend"]) == 6
    colours = {m.get("data-class"): m.get("fill") for m in marks}
    assert len(set(colours.values())) == len(colours) == 6


def test_a_running_roll_takes_its_length_from_heartbeats(world: World) -> None:
    beats = [
        heartbeat("loom-r", "cam-r", roll_id="R8", inspected_m=5.0, skipped_m=0.5) for _ in range(4)
    ]
    defect = event("loom-r", "cam-r", roll_id="R8", position_m=3.0)
    assert world.camera.post(
        "/api/v1/ingest", json=batch(events=[defect], heartbeats=beats)
    ).is_success

    body = world.reviewer.get("/api/v1/machines/loom-r/rolls/R8").json()

    assert (body["length_m"], body["length_source"]) == (pytest.approx(22.0), "heartbeats")
    assert body["ended_at"] is None and body["grade"] == "A"
    assert body["points_per_100_sq_yd"] == pytest.approx(1 * 3600 / (72 * 22.0 / 0.9144))


def test_marks_by_hand_are_idempotent_by_mark_id_and_checked(world: World) -> None:
    admin = world.api.admin
    mark = {"kind": "start", "at": T0.isoformat(), "mark_id": str(uuid.uuid4())}
    first = admin.post("/api/v1/machines/loom-narrow/rolls/N1/marks", json=mark)
    again = admin.post("/api/v1/machines/loom-narrow/rolls/N1/marks", json=mark)
    other = admin.post("/api/v1/machines/loom-narrow/rolls/N2/marks", json=mark)

    assert first.status_code == again.status_code == 201, first.text
    assert first.json() == again.json()
    assert other.status_code == 409 and "held already" in other.json()["detail"]
    ungraded = admin.get("/api/v1/machines/loom-narrow/rolls/N1").json()
    assert ungraded["grade"] is None and "web width" in ungraded["ungraded_reason"]


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "message"),
    [
        ("get", "/api/v1/machines/loom-r/rolls/R99", None, 404, "no roll"),
        ("get", "/api/v1/machines/nowhere/rolls/R7", None, 404, "no machine"),
        ("get", f"{ROLL}/map.svg?counting=most", None, 422, "not_rejected"),
        ("post", "/api/v1/machines/nowhere/rolls/R1/marks", {"kind": "end"}, 404, "no machine"),
        ("post", f"{ROLL}/marks", {"kind": "middle"}, 422, "start"),
        ("post", f"{ROLL}/marks", {"kind": "end", "length_m": -1}, 422, "greater than or equal"),
        ("post", f"{ROLL}/marks", {"kind": "end", "at": "2026-11-26T10:00:00"}, 422, "time zone"),
        ("post", f"{ROLL}/marks", {"kind": "end", "at": "9999-12-31T23:00:00-05:00"}, 422, "range"),
    ],
)
def test_bad_roll_requests_are_refused_clearly(
    world: World, method: str, path: str, body: Any, status: int, message: str
) -> None:
    response = world.reviewer.request(method.upper(), path, json=body)

    assert response.status_code == status, response.text
    assert message in response.text
