"""Review through the real server: the queue and its filters, orders and pages; verdicts with who
and when, replaced later, taken back; refused verdicts; counts by verdict."""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from loomsight.schema import IMAGE_PATH
from tests.api.conftest import (
    BACKENDS,
    NOW,
    LiveApi,
    batch,
    event,
    fresh_database,
    live_api,
    post_batch,
)
from tests.api.test_images import jpeg

QUEUE = "/api/v1/review/queue"
SUMMARY = "/api/v1/review/summary"


def detection(id_: str) -> str:
    return f"/api/v1/review/events/{id_}"


def verdict_path(id_: str) -> str:
    return f"/api/v1/review/events/{id_}/verdict"


def cursor(text: str) -> str:
    """A cursor as the API writes them, of TEXT (order~key~event_id)."""
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def at(minutes: int) -> str:
    return (NOW + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


def post_events(camera: httpx.Client, *events: dict[str, Any]) -> list[str]:
    response = post_batch(camera, batch(events=list(events)))
    assert response.status_code == 200, response.text
    return [e["event_id"] for e in events]


@dataclass
class Queue:
    """A server with five detections (one reviewed) and a reviewer; read only."""

    api: LiveApi
    reviewer: httpx.Client
    ids: dict[str, str]


@pytest.fixture(scope="module", params=BACKENDS)
def queue(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Queue]:
    folder = tmp_path_factory.mktemp("queue")
    with fresh_database(str(request.param), folder) as url, live_api(url, folder) as api:
        api.add_machine("loom-a")
        api.add_machine("loom-b")
        cameras = {
            "loom-a": api.add_camera("loom-a", "cam-a"),
            "loom-b": api.add_camera("loom-b", "cam-b"),
        }
        rows = {  # name: machine, class, confidence, minutes after NOW
            "e1": ("loom-a", "hole", 0.9, 0),
            "e2": ("loom-a", "stain", 0.3, 1),
            "e3": ("loom-b", "hole", 0.5, 2),
            "e4": ("loom-b", "knot", 0.7, 3),
            "e5": ("loom-a", "hole", 0.6, 4),
        }
        ids = {}
        for name, (machine, class_name, confidence, minutes) in rows.items():
            camera_id = "cam-a" if machine == "loom-a" else "cam-b"
            body = event(machine, camera_id, class_name=class_name, confidence=confidence,
                         detected_at=at(minutes))  # fmt: skip
            ids[name] = post_events(cameras[machine], body)[0]
        reviewer = api.add_user("rita", "reviewer")
        confirmed = reviewer.put(verdict_path(ids["e5"]), json={"verdict": "confirmed"})
        assert confirmed.status_code == 200, confirmed.text
        yield Queue(api, reviewer, ids)


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, "e1 e2 e3 e4"),
        ({"machine": "loom-a"}, "e1 e2"),
        ({"machine": ["loom-a", "loom-b"]}, "e1 e2 e3 e4"),
        ({"class_name": "hole"}, "e1 e3"),
        ({"class_name": ["stain", "knot"]}, "e2 e4"),
        ({"min_confidence": 0.5}, "e1 e3 e4"),
        ({"min_confidence": 0.4, "max_confidence": 0.8}, "e3 e4"),
        ({"since": at(1)}, "e2 e3 e4"),
        ({"until": at(2)}, "e1 e2"),
        ({"since": at(1), "until": at(3), "machine": "loom-b", "class_name": "hole"}, "e3"),
        ({"machine": "loom-c"}, ""),
        ({"order": "least_confident"}, "e2 e3 e4 e1"),
        ({"order": "least_confident", "machine": "loom-b"}, "e3 e4"),
    ],
)
def test_the_queue_lists_unreviewed_detections_filtered_and_ordered(
    queue: Queue, params: dict[str, Any], expected: str
) -> None:
    response = queue.reviewer.get(QUEUE, params=params)

    assert response.status_code == 200, response.text
    names = {id_: name for name, id_ in queue.ids.items()}
    assert " ".join(names[item["event_id"]] for item in response.json()["items"]) == expected
    assert response.json()["next_after"] is None


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"min_confidence": 0.8, "max_confidence": 0.2}, "below min_confidence"),
        ({"since": at(5), "until": at(1)}, "must be after since"),
        ({"since": "2026-11-26T10:00:00"}, "time zone"),
        ({"machin": "loom-a"}, "Extra inputs"),
        ({"min_confidence": 1.5}, "less than or equal to 1"),
        ({"class_name": "no spaces"}, "should match pattern"),
        ({"order": "newest"}, "oldest"),
        ({"limit": 0}, "greater than or equal to 1"),
        ({"after": "bm90IGEgY3Vyc29y"}, "start again without it"),
        ({"since": "0001-01-01T00:00:00+23:59"}, "out of range in UTC"),
        ({"until": "9999-12-31T23:59:59-23:59"}, "out of range in UTC"),
        (
            {"after": cursor("oldest~2026-11-26T10:00:00~" + str(uuid.UUID(int=1)))},
            "without it",
        ),  # a naive time
    ],
)
def test_bad_queue_parameters_are_refused_with_the_reason(
    queue: Queue, params: dict[str, Any], message: str
) -> None:
    response = queue.reviewer.get(QUEUE, params=params)

    assert response.status_code == 422
    assert message in response.text


def test_a_cursor_of_one_order_is_refused_for_another(queue: Queue) -> None:
    first = queue.reviewer.get(QUEUE, params={"limit": 1}).json()

    response = queue.reviewer.get(
        QUEUE, params={"limit": 1, "after": first["next_after"], "order": "least_confident"}
    )

    assert response.status_code == 422
    assert "order=least_confident" in response.text


def test_the_summary_counts_by_verdict_overall_and_by_class(queue: Queue) -> None:
    everything = queue.reviewer.get(SUMMARY).json()
    loom_a_holes = queue.reviewer.get(SUMMARY, params={"machine": "loom-a", "class_name": "hole"})

    counts = {"total": 5, "unreviewed": 4, "confirmed": 1, "false_alarm": 0, "relabelled": 0}
    assert everything["overall"] == counts
    assert sorted(everything["by_class"]) == ["hole", "knot", "stain"]
    assert everything["by_class"]["hole"] == {**counts, "total": 3, "unreviewed": 2}
    assert loom_a_holes.json()["overall"] == {**counts, "total": 2, "unreviewed": 1}


def test_pages_skip_nothing_and_repeat_nothing_while_items_are_reviewed(api: LiveApi) -> None:
    api.add_machine("loom-1")
    camera = api.add_camera("loom-1", "cam-1")
    reviewer = api.add_user("rita", "reviewer")
    same_time = [event("loom-1", "cam-1", detected_at=at(0)) for _ in range(3)]
    ids = post_events(
        camera, *same_time, *(event("loom-1", "cam-1", detected_at=at(m)) for m in range(1, 5))
    )
    seen: list[str] = []
    after = None

    while True:
        params = {"limit": 2, **({"after": after} if after else {})}
        page = reviewer.get(QUEUE, params=params).json()
        seen += [item["event_id"] for item in page["items"]]
        if page["items"]:  # reviewing the page's first item must not shift the next page
            reviewer.put(verdict_path(page["items"][0]["event_id"]), json={"verdict": "confirmed"})
        if (after := page["next_after"]) is None:
            break

    assert sorted(seen) == sorted(ids)
    assert len(seen) == len(ids) == 7
    assert seen[3:] == ids[3:]  # oldest first; equal times by event_id
    assert sorted(seen[:3]) == seen[:3]


def test_verdicts_name_who_and_when_and_leave_the_queue(api: LiveApi) -> None:
    api.add_machine("loom-1")
    camera = api.add_camera("loom-1", "cam-1")
    rita = api.add_user("rita", "reviewer")
    ids = post_events(camera, *(event("loom-1", "cam-1", class_name="hole") for _ in range(3)))
    before = datetime.now(UTC)

    confirmed = rita.put(verdict_path(ids[0]), json={"verdict": "confirmed"})
    false_alarm = api.admin.put(verdict_path(ids[1]), json={"verdict": "false_alarm"})
    relabel = {"verdict": "relabelled", "class_name": "stain", "box_xyxy_px": [90, 30, 140, 50.5]}
    relabelled = rita.put(verdict_path(ids[2]), json=relabel)

    assert [r.status_code for r in (confirmed, false_alarm, relabelled)] == [200] * 3
    assert confirmed.json()["verdict"] == "confirmed"
    assert confirmed.json()["reviewed_by"] == "rita"
    assert before <= datetime.fromisoformat(confirmed.json()["reviewed_at"]) <= datetime.now(UTC)
    assert false_alarm.json()["reviewed_by"] == "root-admin"
    stored = rita.get(detection(ids[2])).json()
    assert stored["verdict"] == "relabelled"
    assert stored["class_name"] == "hole"  # what the model said stays
    assert stored["corrected_class"] == "stain"
    assert stored["corrected_box_xyxy_px"] == [90, 30, 140, 50.5]
    assert rita.get(QUEUE).json()["items"] == []
    overall = rita.get(SUMMARY).json()["overall"]
    assert overall == {
        "total": 3,
        "unreviewed": 0,
        "confirmed": 1,
        "false_alarm": 1,
        "relabelled": 1,
    }


def test_a_later_verdict_replaces_the_earlier_one_and_can_be_taken_back(api: LiveApi) -> None:
    api.add_machine("loom-1")
    camera = api.add_camera("loom-1", "cam-1")
    rita = api.add_user("rita", "reviewer")
    [id_] = post_events(camera, event("loom-1", "cam-1"))
    rita.put(verdict_path(id_), json={"verdict": "relabelled", "class_name": "knot"})

    changed = api.admin.put(verdict_path(id_), json={"verdict": "confirmed"})
    cleared = rita.delete(verdict_path(id_))

    assert changed.json()["verdict"] == "confirmed"
    assert changed.json()["reviewed_by"] == "root-admin"
    assert changed.json()["corrected_class"] is None  # the relabelling is gone with it
    assert cleared.status_code == 200
    assert {
        k: cleared.json()[k] for k in ("verdict", "reviewed_by", "reviewed_at")
    } == dict.fromkeys(("verdict", "reviewed_by", "reviewed_at"))
    assert [item["event_id"] for item in rita.get(QUEUE).json()["items"]] == [id_]


def test_a_relabelled_box_keeps_only_what_changed(api: LiveApi) -> None:
    api.add_machine("loom-1")
    camera = api.add_camera("loom-1", "cam-1")
    [id_] = post_events(camera, event("loom-1", "cam-1", class_name="hole"))
    body = {"verdict": "relabelled", "class_name": "hole", "box_xyxy_px": [0, 0, 1024, 512]}

    answer = api.admin.put(verdict_path(id_), json=body).json()

    assert answer["corrected_class"] is None
    assert answer["corrected_box_xyxy_px"] == [0, 0, 1024, 512]  # the whole frame is inside it


BOX = [100, 40, 128, 46]  # the event's own box in a 1024x512 frame (tests.api.conftest.event)


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"verdict": "relabelled", "box_xyxy_px": [100, 40, 1025, 46]}, 422, "inside the 1024x512"),
        ({"verdict": "relabelled", "box_xyxy_px": [100, 40, 128, 513]}, 422, "0 <= y1 < y2 <= 512"),
        ({"verdict": "relabelled", "box_xyxy_px": [-1, 40, 128, 46]}, 422, "greater than or equal"),
        ({"verdict": "relabelled", "box_xyxy_px": [128, 40, 100, 46]}, 422, "is empty"),
        ({"verdict": "relabelled", "box_xyxy_px": [1, 2, 3]}, 422, "box_xyxy_px"),
        ({"verdict": "relabelled"}, 422, "names a class_name, a box_xyxy_px or both"),
        ({"verdict": "relabelled", "class_name": "hole"}, 422, "must change the class"),
        (
            {"verdict": "relabelled", "class_name": "hole", "box_xyxy_px": BOX},
            422,
            "send confirmed",
        ),
        ({"verdict": "relabelled", "class_name": "a b"}, 422, "should match pattern"),
        ({"verdict": "confirmed", "class_name": "hole"}, 422, "Extra inputs"),
        ({"verdict": "maybe"}, 422, "relabelled"),
        ({}, 422, "verdict"),
    ],
)
def test_bad_verdicts_are_refused_and_change_nothing(
    queue: Queue, body: dict[str, Any], status: int, message: str
) -> None:
    id_ = queue.ids["e1"]  # a hole in BOX
    response = queue.reviewer.put(verdict_path(id_), json=body)

    assert response.status_code == status, response.text
    assert message in response.text
    assert queue.reviewer.get(detection(id_)).json()["verdict"] is None


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "message"),
    [
        (
            "PUT",
            verdict_path("00000000-0000-4000-8000-000000000000"),
            {"json": {"verdict": "confirmed"}},
            404,
            "no detection",
        ),
        ("PUT", verdict_path("not-a-uuid"), {"json": {"verdict": "confirmed"}}, 422, "UUID"),
        (
            "PUT",
            verdict_path("{e1}"),
            {
                "content": b"verdict=confirmed",
                "headers": {"content-type": "application/x-www-form-urlencoded"},
            },
            415,
            "application/json",
        ),
        ("GET", detection("00000000-0000-4000-8000-000000000000"), {}, 404, "no detection"),
        ("DELETE", verdict_path("00000000-0000-4000-8000-000000000000"), {}, 404, "no detection"),
    ],
)
def test_unknown_detections_and_wrong_bodies_are_refused(
    queue: Queue, method: str, path: str, kwargs: dict[str, Any], status: int, message: str
) -> None:
    response = queue.reviewer.request(method, path.format(e1=queue.ids["e1"]), **kwargs)

    assert response.status_code == status, response.text
    assert message in response.text


def test_image_urls_are_given_for_uploaded_images_and_serve_them(api: LiveApi) -> None:
    api.add_machine("loom-1")
    camera = api.add_camera("loom-1", "cam-1")
    crop, frame = jpeg(1), jpeg(2)
    crop_sha, frame_sha = hashlib.sha256(crop).hexdigest(), hashlib.sha256(frame).hexdigest()
    camera.put(
        IMAGE_PATH.format(sha256=crop_sha), content=crop, headers={"content-type": "image/jpeg"}
    )
    post_events(camera, event("loom-1", "cam-1", crop_sha256=crop_sha, frame_sha256=frame_sha))

    [item] = api.admin.get(QUEUE).json()["items"]

    assert item["crop_url"] == IMAGE_PATH.format(sha256=crop_sha)
    assert item["frame_url"] is None  # named, not uploaded yet
    assert item["frame_sha256"] == frame_sha
    assert api.admin.get(item["crop_url"]).content == crop
