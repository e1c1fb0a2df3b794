"""The SQLite outbox on real files: persistence, atomic writes, exact acknowledgement, the disk
cap, clear errors for unusable files, and one writer thread beside one reader thread."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from loomsight.camera.outbox import Outbox
from loomsight.camera.outbox_items import OutboxBatch
from loomsight.errors import OutboxError
from loomsight.schema import (
    MAX_IMAGE_BYTES,
    AlarmAction,
    AlarmFiring,
    Heartbeat,
    RollMark,
    RollMarkKind,
)
from tests.camera.ingest_server import sample_event

T0 = datetime(2026, 1, 1, tzinfo=UTC)
BIG = 1 << 30


def heartbeat(number: int) -> Heartbeat:
    return Heartbeat(
        heartbeat_id=uuid.UUID(int=number), machine_id="loom-1", camera_id="cam-1",
        period_start=T0, period_end=T0, frames_processed=10, frames_skipped=0, inspected_m=1.0,
        inspected_m2=1.6, skipped_m=0.0, skipped_m2=0.0, fps=10.0, inference_ms=20.0,
        outbox_depth=number,
    )  # fmt: skip


def alarm(number: int) -> AlarmFiring:
    return AlarmFiring(
        alarm_id=uuid.UUID(int=number), fired_at=T0, machine_id="loom-1", camera_id="cam-1",
        rule="critical hole", action=AlarmAction.STOP, outputs=["webhook"], event_ids=[],
    )  # fmt: skip


def roll_mark(number: int) -> RollMark:
    return RollMark(
        mark_id=uuid.UUID(int=number), machine_id="loom-1", roll_id=f"roll-{number}",
        kind=RollMarkKind.START, at=T0,
    )  # fmt: skip


def event_ids(batch: OutboxBatch | None) -> list[uuid.UUID]:
    assert batch is not None
    return [event.event_id for event in batch.ingest.events]


def ids(numbers: range | list[int]) -> list[uuid.UUID]:
    return [sample_event(n)[0].event_id for n in numbers]


def test_reopening_finds_every_unacknowledged_item_in_order(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "folder" / "outbox.db"
    with Outbox(path, BIG) as outbox:
        for number in range(5):
            outbox.add_event(*sample_event(number))
        for number in range(3):
            outbox.add_heartbeat(heartbeat(number))
        outbox.add_alarm(alarm(1))
        outbox.add_roll_mark(roll_mark(1))
        first = outbox.next_batch(max_events=2, max_heartbeats=1)
        assert first is not None and len(first.items()) == 5  # 2 events, 1 heartbeat, alarm, roll
        outbox.acknowledge(first)
        outbox.add_event(*sample_event(5))
    with Outbox(path, BIG) as reopened:
        stats = reopened.stats()
        assert (stats.events, stats.heartbeats, stats.alarms, stats.rolls) == (4, 2, 0, 0)
        assert (stats.events_added, stats.heartbeats_added) == (6, 3)  # sent ones still count
        batch = reopened.next_batch()
        assert event_ids(batch) == ids(range(2, 6))
        assert batch is not None
        assert [h.heartbeat_id for h in batch.ingest.heartbeats] == [
            uuid.UUID(int=1),
            uuid.UUID(int=2),
        ]
        assert set(batch.images) == batch.named_images  # every image the events name came back
    with sqlite3.connect(path) as plain:
        assert plain.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_adding_the_same_item_twice_stores_it_once(tmp_path: Path) -> None:
    with Outbox(tmp_path / "outbox.db", BIG) as outbox:
        for _ in range(2):
            outbox.add_event(*sample_event(7))
            outbox.add_heartbeat(heartbeat(7))
        stats = outbox.stats()
        assert (stats.events, stats.heartbeats, stats.images) == (1, 1, 2)
        assert (stats.events_added, stats.heartbeats_added) == (1, 1)


def test_an_event_and_its_images_are_written_together_or_not_at_all(tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    with Outbox(path, BIG) as outbox:
        with sqlite3.connect(path) as plain:  # the frame's insert fails half-way into the write
            plain.execute(
                "CREATE TRIGGER fail_frames BEFORE INSERT ON images WHEN NEW.kind = 'frame' "
                "BEGIN SELECT RAISE(ABORT, 'disk on fire'); END"
            )
        with pytest.raises(OutboxError, match="could not add an event: disk on fire"):
            outbox.add_event(*sample_event(1))
        stats = outbox.stats()
        assert (stats.events, stats.images) == (0, 0)  # the crop went back out with the event
        assert stats.events_added == 0  # the count went back out with them
        with sqlite3.connect(path) as plain:
            plain.execute("DROP TRIGGER fail_frames")
        outbox.add_event(*sample_event(1))
        assert (outbox.stats().events, outbox.stats().images) == (1, 2)


def _not_named(images: dict[str, bytes]) -> dict[str, bytes]:
    return {hashlib.sha256(b"other").hexdigest(): b"other"}


def _wrong_bytes(images: dict[str, bytes]) -> dict[str, bytes]:
    return {sha: b"not these bytes" for sha in images}


@pytest.mark.parametrize(
    ("spoil", "message"),
    [(_not_named, "is not named by event"), (_wrong_bytes, "hashes to")],
)
def test_images_that_do_not_fit_the_event_are_refused_before_writing(
    tmp_path: Path, spoil: object, message: str
) -> None:
    event, images = sample_event(1)
    with Outbox(tmp_path / "outbox.db", BIG) as outbox:
        with pytest.raises(ValueError, match=message):
            outbox.add_event(event, spoil(images))  # type: ignore[operator]
        assert outbox.stats().events == 0


def test_an_image_over_the_wire_limit_is_refused(tmp_path: Path) -> None:
    event, images = sample_event(1, crop_bytes=MAX_IMAGE_BYTES)
    with Outbox(tmp_path / "outbox.db", BIG) as outbox:
        with pytest.raises(ValueError, match=f"at most {MAX_IMAGE_BYTES}"):
            outbox.add_event(event, images)
        assert outbox.stats().events == 0


def test_acknowledge_removes_exactly_the_batch_and_the_images_nobody_needs(tmp_path: Path) -> None:
    with Outbox(tmp_path / "outbox.db", BIG) as outbox:
        for number in range(6):  # frames shared by events 0-2 and 3-5
            outbox.add_event(*sample_event(number))
        batch = outbox.next_batch(max_events=4)
        assert event_ids(batch) == ids(range(4))
        assert batch is not None and len(batch.images) == 4 + 2
        outbox.add_event(*sample_event(6))  # written while the batch was on its way
        outbox.acknowledge(batch)
        rest = outbox.next_batch()
        assert event_ids(rest) == ids([4, 5, 6])
        assert rest is not None
        expected = {sha for n in (4, 5, 6) for sha in sample_event(n)[1]}  # frame 1 stays for 4, 5
        assert set(rest.images) == expected
        assert outbox.stats().images == len(expected)
        outbox.acknowledge(rest)
        assert outbox.next_batch() is None
        assert outbox.stats().images == 0


def test_over_the_disk_cap_the_oldest_images_go_and_never_an_event(tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    cap_bytes = 300_000
    count = 40
    with Outbox(path, cap_bytes) as outbox:
        for number in range(count):
            outbox.add_event(*sample_event(number, frame_of=1, crop_bytes=20_000))
            assert outbox.stats().used_bytes <= cap_bytes
        stats = outbox.stats()
        assert stats.events == count
        assert stats.images_dropped > 0
        assert stats.images + stats.images_dropped == 2 * count
        kept = set(outbox.next_batch(max_events=count).images)  # type: ignore[union-attr]
    expected_order = [sha for n in range(count) for sha in sample_event(n, 1, 20_000)[1]]
    assert kept == set(expected_order[stats.images_dropped :])  # the newest survive
    with Outbox(path, cap_bytes) as reopened:
        assert reopened.stats().images_dropped == stats.images_dropped
        batch = reopened.next_batch(max_events=1)
        assert event_ids(batch) == ids([0]) and batch is not None and batch.images == {}


def test_with_nothing_but_events_left_the_cap_drops_nothing_more(tmp_path: Path) -> None:
    with Outbox(tmp_path / "outbox.db", 10_000) as outbox:
        for number in range(20):
            outbox.add_event(*sample_event(number))
            outbox.add_heartbeat(heartbeat(number))
        stats = outbox.stats()
        assert (stats.events, stats.heartbeats, stats.images) == (20, 20, 0)
        assert stats.images_dropped == 40


def test_a_folder_that_cannot_be_made_is_a_clear_error(tmp_path: Path) -> None:
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("x")
    with pytest.raises(OutboxError, match=r"cannot create the outbox folder .*file"):
        Outbox(not_a_folder / "outbox.db", BIG)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_folder_is_a_clear_error(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir(mode=0o500)
    with pytest.raises(OutboxError, match="cannot open the outbox"):
        Outbox(folder / "outbox.db", BIG)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"this is not SQLite at all" * 100, "file is not a database"),
        (b"", None),  # an empty file is a fresh database
    ],
)
def test_a_corrupt_file_is_a_clear_error(
    tmp_path: Path, content: bytes, message: str | None
) -> None:
    path = tmp_path / "outbox.db"
    path.write_bytes(content)
    if message is None:
        Outbox(path, BIG).close()
        return
    with pytest.raises(OutboxError, match=f"expected a loomsight outbox .*{message}"):
        Outbox(path, BIG)


def test_another_sqlite_database_is_not_taken_for_an_outbox(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as plain:
        plain.execute("CREATE TABLE invoices (id INTEGER)")
    with pytest.raises(OutboxError, match=r"not a loomsight outbox .*invoices"):
        Outbox(path, BIG)


def test_stored_items_that_no_longer_read_as_the_schema_are_set_aside(tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    with Outbox(path, BIG) as outbox:
        outbox.add_event(*sample_event(0))
        with sqlite3.connect(path) as plain:
            plain.execute("INSERT INTO heartbeats VALUES ('bad', '{\"fps\": -1}', 0)")
        outbox.add_event(*sample_event(1))
        batch = outbox.next_batch()
        assert event_ids(batch) == ids([0, 1]) and batch is not None
        assert batch.ingest.heartbeats == []
        [rejected] = outbox.rejected()
        assert (rejected.kind, rejected.item_id, rejected.status_code) == ("heartbeat", "bad", None)
        assert "unreadable" in rejected.answer
        assert outbox.stats().heartbeats == 0


def test_a_closed_outbox_says_so(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.db", BIG)
    outbox.close()
    with pytest.raises(OutboxError, match="is closed"):
        outbox.add_heartbeat(heartbeat(1))


def test_one_writer_thread_and_one_acknowledging_thread(tmp_path: Path) -> None:
    count = 120
    received: list[uuid.UUID] = []
    with Outbox(tmp_path / "outbox.db", BIG) as outbox:

        def write() -> None:
            for number in range(count):
                outbox.add_event(*sample_event(number))

        writer = threading.Thread(target=write)
        writer.start()
        while writer.is_alive() or outbox.stats().events:
            batch = outbox.next_batch(max_events=7)
            if batch is not None:
                assert set(batch.images) == batch.named_images
                received += event_ids(batch)
                outbox.acknowledge(batch)
        writer.join()
        assert received == ids(range(count))  # each once, in the order written
        assert outbox.stats().images == 0
