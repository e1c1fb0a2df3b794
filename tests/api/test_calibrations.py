"""Calibration requests: a QA engineer asks for a machine's model to be calibrated for a new
article; the calibration worker (an admin token) claims the oldest pending request of its machine,
each request exactly once, and reports the result."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.orm import Session

from loomsight.api.calibration_models import MAX_LISTED_CALIBRATIONS
from loomsight.api.database import make_engine
from loomsight.api.tables import Calibration
from tests.api.conftest import BACKENDS, LiveApi, fresh_database, live_api

CLAIM = "/api/v1/calibrations/claim"
FIGURES: dict[str, Any] = {
    "before": {"false_alarm_rate": 0.42, "detection_at_fixed_fa": 0.31, "detection_rate": 0.9},
    "after": {"false_alarm_rate": 0.03, "detection_at_fixed_fa": 0.88, "detection_rate": 0.93},
    "beats": True,
    "registered": True,
    "quality_problems": {"blur": 2},
}


def calibrations_path(machine_id: str) -> str:
    return f"/api/v1/machines/{machine_id}/calibrations"


def result_path(calibration_id: object) -> str:
    return f"/api/v1/calibrations/{calibration_id}/result"


def request(client: httpx.Client, machine_id: str, article: str, **body: Any) -> dict[str, Any]:
    response = client.post(calibrations_path(machine_id), json={"article": article, **body})
    assert response.status_code == 201, response.text
    return dict(response.json())


def claim(client: httpx.Client, machine_id: str) -> dict[str, Any] | None:
    response = client.post(CLAIM, json={"machine_id": machine_id})
    assert response.status_code in (200, 204), response.text
    return dict(response.json()) if response.status_code == 200 else None


def listed(client: httpx.Client, machine_id: str) -> list[dict[str, Any]]:
    response = client.get(calibrations_path(machine_id))
    assert response.status_code == 200, response.text
    return list(response.json())


def test_a_request_is_pending_until_claimed_then_running_then_done(api: LiveApi) -> None:
    api.add_machine("loom-1")
    reviewer = api.add_user("rita", "reviewer")

    made = request(reviewer, "loom-1", "twill 260 printed")

    assert made["status"] == "pending"
    assert made["machine_id"] == "loom-1" and made["article"] == "twill 260 printed"
    assert made["length_m"] == 30.0  # the default
    assert made["requested_by"] == "rita"
    assert datetime.fromisoformat(made["requested_at"]).tzinfo is not None
    assert made["started_at"] is made["finished_at"] is made["model_version"] is None
    assert made["result"] is made["message"] is None
    assert listed(reviewer, "loom-1") == [made]

    claimed = claim(api.admin, "loom-1")

    assert claimed is not None
    assert claimed["id"] == made["id"] and claimed["status"] == "running"
    assert claimed["started_at"] is not None
    assert claimed["started_at"] >= made["requested_at"]
    assert claim(api.admin, "loom-1") is None  # nothing else is pending: 204

    body = {"status": "done", "model_version": "loom-1-twill@20261129", "result": FIGURES}
    reported = api.admin.put(result_path(made["id"]), json=body)

    assert reported.status_code == 200, reported.text
    done = reported.json()
    assert done["status"] == "done"
    assert done["model_version"] == "loom-1-twill@20261129"
    assert done["result"] == FIGURES
    assert done["message"] is None
    assert done["finished_at"] >= done["started_at"]
    assert listed(reviewer, "loom-1") == [done]


def test_a_failed_calibration_keeps_its_message(api: LiveApi) -> None:
    api.add_machine("loom-1")
    made = request(api.admin, "loom-1", "satin", length_m=12.5)
    claim(api.admin, "loom-1")

    body = {"status": "failed", "message": "only 2 usable frames of 4 needed: out of focus"}
    reported = api.admin.put(result_path(made["id"]), json=body)

    assert reported.status_code == 200, reported.text
    assert reported.json()["status"] == "failed"
    assert reported.json()["message"] == body["message"]
    assert reported.json()["result"] is None and reported.json()["model_version"] is None
    assert listed(api.admin, "loom-1")[0]["length_m"] == 12.5


def test_workers_claim_the_oldest_first_and_only_their_machines(api: LiveApi) -> None:
    api.add_machine("loom-1")
    api.add_machine("loom-2")
    first = request(api.admin, "loom-1", "twill")
    other = request(api.admin, "loom-2", "twill")
    second = request(api.admin, "loom-1", "satin")

    assert [c["id"] for c in listed(api.admin, "loom-1")] == [second["id"], first["id"]]
    claimed = [claim(api.admin, "loom-1"), claim(api.admin, "loom-1"), claim(api.admin, "loom-1")]

    assert [c["id"] if c else None for c in claimed] == [first["id"], second["id"], None]
    assert [c["status"] for c in listed(api.admin, "loom-2")] == ["pending"]
    assert (claim(api.admin, "loom-2") or {}).get("id") == other["id"]


def test_workers_claiming_at_once_take_each_request_exactly_once(api: LiveApi) -> None:
    api.add_machine("loom-1")
    made = {request(api.admin, "loom-1", f"article {n}")["id"] for n in range(8)}
    workers = [api.client(api.admin.headers["authorization"].split()[1]) for _ in range(3)]
    taken: list[list[int]] = [[] for _ in workers]
    start = threading.Barrier(len(workers))

    def work(client: httpx.Client, mine: list[int]) -> None:
        start.wait()
        while (claimed := claim(client, "loom-1")) is not None:
            mine.append(claimed["id"])

    threads = [
        threading.Thread(target=work, args=pair) for pair in zip(workers, taken, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    everything = [calibration_id for mine in taken for calibration_id in mine]
    assert sorted(everything) == sorted(made)  # every one claimed, none twice
    assert {c["status"] for c in listed(api.admin, "loom-1")} == {"running"}


def test_a_second_pending_request_for_the_same_article_is_refused(api: LiveApi) -> None:
    api.add_machine("loom-1")
    first = request(api.admin, "loom-1", "twill")

    again = api.admin.post(calibrations_path("loom-1"), json={"article": "twill"})

    assert again.status_code == 409, again.text
    assert f"#{first['id']}" in again.json()["detail"]
    request(api.admin, "loom-1", "satin")  # another article may wait beside it
    claim(api.admin, "loom-1")
    request(api.admin, "loom-1", "twill")  # once running, the article may be asked for again
    assert [c["article"] for c in listed(api.admin, "loom-1")] == ["twill", "satin", "twill"]


def test_the_list_holds_the_newest_fifty(api: LiveApi) -> None:
    api.add_machine("loom-1")
    engine = make_engine(api.settings.database_url, pool_size=1)
    try:  # 51 old requests written straight into the table (quicker than 51 POSTs)
        with Session(engine) as session:
            for n in range(MAX_LISTED_CALIBRATIONS + 1):
                session.add(
                    Calibration(
                        machine_id="loom-1",
                        article=f"article {n}",
                        length_m=30.0,
                        status="done",
                        requested_by="rita",
                        requested_at=datetime(2026, 11, 1, tzinfo=UTC) + timedelta(hours=n),
                    )
                )
            session.commit()
    finally:
        engine.dispose()
    newest = request(api.admin, "loom-1", "newest")

    shown = listed(api.admin, "loom-1")

    assert len(shown) == MAX_LISTED_CALIBRATIONS
    assert shown[0] == newest
    assert [c["article"] for c in shown[1:]] == [f"article {n}" for n in range(50, 1, -1)]


@dataclass
class Shop:
    """A machine with one calibration done (#1), one running (#2) and one pending (#3)."""

    api: LiveApi
    reviewer: httpx.Client
    camera: httpx.Client


@pytest.fixture(scope="module", params=BACKENDS)
def shop(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Shop]:
    folder: Path = tmp_path_factory.mktemp("calibration-refusals")
    with fresh_database(str(request.param), folder) as url, live_api(url, folder) as api:
        api.add_machine("loom-1")
        camera = api.add_camera("loom-1", "cam-1")
        reviewer = api.add_user("rita", "reviewer")
        for article, outcome in [("satin", "done"), ("twill", "running"), ("plain", "pending")]:
            made = _request(api.admin, "loom-1", article)
            if outcome != "pending":
                assert claim(api.admin, "loom-1") is not None
            if outcome == "done":
                finished = api.admin.put(result_path(made["id"]), json={"status": "done"})
                assert finished.status_code == 200, finished.text
        before = listed(api.admin, "loom-1")
        assert [c["status"] for c in before] == ["pending", "running", "done"]
        assert [c["id"] for c in before] == [3, 2, 1]
        yield Shop(api=api, reviewer=reviewer, camera=camera)


_request = request  # the fixture above takes pytest's `request` as its parameter
DONE = {"status": "done"}
ART = {"article": "denim"}
OURS = f"POST {calibrations_path('loom-1')}"  # request a calibration of loom-1
R2 = f"PUT {result_path(2)}"  # report the running one
CL = f"POST {CLAIM}"
L1 = {"machine_id": "loom-1"}

REFUSALS: list[tuple[str, str, str, Any, int, str]] = [
    # (id, who, method and path, body, status, part of the answer)
    ("reviewer claims", "reviewer", CL, L1, 403, "for admins"),
    ("reviewer reports", "reviewer", R2, DONE, 403, "for admins"),
    ("camera requests", "camera", OURS, ART, 403, "cameras"),
    ("camera lists", "camera", f"GET {calibrations_path('loom-1')}", None, 403, "cameras"),
    ("camera claims", "camera", CL, L1, 403, "cameras"),
    ("camera reports", "camera", R2, DONE, 403, "cameras"),
    ("nobody requests", "anonymous", OURS, ART, 401, "Bearer"),
    ("unknown machine", "reviewer", f"POST {calibrations_path('loom-9')}", ART, 404, "loom-9"),
    ("unknown machine lists", "reviewer", f"GET {calibrations_path('loom-9')}", None, 404, "9"),
    ("unknown machine claimed", "admin", CL, {"machine_id": "loom-9"}, 404, "loom-9"),
    ("unknown calibration", "admin", f"PUT {result_path(99)}", DONE, 404, "#99"),
    ("result of a pending one", "admin", f"PUT {result_path(3)}", DONE, 409, "is pending"),
    ("result of a done one", "admin", f"PUT {result_path(1)}", DONE, 409, "is done"),
    ("pending article again", "admin", OURS, {"article": "plain"}, 409, "#3"),
    ("empty article", "admin", OURS, {"article": ""}, 422, "article"),
    ("article too long", "admin", OURS, {"article": "x" * 201}, 422, "200"),
    ("article with NUL", "admin", OURS, {"article": "a\x00b"}, 422, "NUL"),
    ("no article", "admin", OURS, {"length_m": 5}, 422, "article"),
    ("no metres", "admin", OURS, {**ART, "length_m": 0}, 422, "length_m"),
    ("negative metres", "admin", OURS, {**ART, "length_m": -3}, 422, "length_m"),
    ("too many metres", "admin", OURS, {**ART, "length_m": 1000.5}, 422, "1000"),
    ("metres as text", "admin", OURS, {**ART, "length_m": "lots"}, 422, "length_m"),
    ("unknown field", "admin", OURS, {**ART, "x": 1}, 422, "Extra"),
    ("not JSON", "admin", OURS, "article=denim", 415, "application/json"),
    ("bad machine id", "admin", CL, {"machine_id": "a b"}, 422, "machine_id"),
    ("claim without machine", "admin", CL, {}, 422, "machine_id"),
    ("result status running", "admin", R2, {"status": "running"}, 422, "status"),
    ("result not an object", "admin", R2, {**DONE, "result": [1]}, 422, "result"),
    ("result with NaN", "admin", R2, '{"status": "done", "result": {"a": NaN}}', 422, "finite"),
    ("result with NUL", "admin", R2, {**DONE, "result": {"a": "\x00"}}, 422, "NUL"),
    ("bad model version", "admin", R2, {**DONE, "model_version": "a b"}, 422, "model_version"),
    ("message too long", "admin", R2, {**DONE, "message": "m" * 4001}, 422, "4000"),
    ("calibration id 0", "admin", f"PUT {result_path(0)}", DONE, 422, "calibration_id"),
    ("calibration id huge", "admin", f"PUT {result_path(2**40)}", DONE, 422, "calibration_id"),
    ("calibration id text", "admin", f"PUT {result_path('two')}", DONE, 422, "calibration_id"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("who", "call", "body", "status", "message"),
    [pytest.param(*row[1:], id=row[0]) for row in REFUSALS],
)
def test_bad_requests_are_refused_and_change_nothing(
    shop: Shop, who: str, call: str, body: Any, status: int, message: str
) -> None:
    clients = {
        "admin": shop.api.admin,
        "reviewer": shop.reviewer,
        "camera": shop.camera,
        "anonymous": shop.api.client(),
    }
    method, path = call.split(" ", 1)
    before = listed(shop.api.admin, "loom-1")
    if isinstance(body, str):
        is_json = body.startswith("{")
        content_type = "application/json" if is_json else "application/x-www-form-urlencoded"
        response = clients[who].request(
            method, path, content=body, headers={"content-type": content_type}
        )
    else:
        response = clients[who].request(method, path, json=body)

    assert response.status_code == status, response.text
    assert message in response.text
    assert listed(shop.api.admin, "loom-1") == before


def test_reviewers_may_request_and_list(shop: Shop) -> None:
    before = listed(shop.reviewer, "loom-1")

    made = request(shop.reviewer, "loom-1", "denim 12 oz", length_m=45)

    assert made["requested_by"] == "rita" and made["length_m"] == 45.0
    assert listed(shop.reviewer, "loom-1") == [made, *before]
