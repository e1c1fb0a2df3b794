"""The camera's outbox: a local SQLite queue of everything not yet acknowledged by the API.

Durability: WAL journal with `synchronous=FULL`. A write that returned has been fsynced to the
WAL, so it survives kill -9 of the process (NORMAL would already do that, the WAL being in the OS
page cache) and also a power cut or OS crash of the edge PC (NORMAL would not). The price is one
fsync per transaction, small at the rate defects occur.

Threads: one SQLite connection per thread, opened on first use (the agent writes, the uploader
reads and acknowledges; in WAL mode neither waits for the other's reads). Every write is one
`BEGIN IMMEDIATE` transaction; writers wait up to `busy_timeout_s` for each other.

Disk cap: when the live database pages exceed `max_disk_bytes`, the oldest images are dropped
(never events, heartbeats, alarms or roll marks) and counted in `images_dropped`; the events that
named them are still sent. The WAL file adds a few MiB on top of the cap.

Counters: how many events and heartbeats ever came in (new ids only), in the transaction that
added them; once the outbox is empty, the API must hold exactly as many.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from loomsight.camera.outbox_items import KINDS, OutboxBatch, OutboxStats, RejectedItem
from loomsight.errors import OutboxError
from loomsight.schema import (
    MAX_IMAGE_BYTES,
    AlarmFiring,
    DefectEvent,
    Heartbeat,
    IngestBatch,
    RollMark,
)

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
_SCHEMA = """
CREATE TABLE events (event_id TEXT PRIMARY KEY, body TEXT NOT NULL, crop_sha256 TEXT,
    frame_sha256 TEXT, created_ns INTEGER NOT NULL);
CREATE INDEX events_crop ON events (crop_sha256);
CREATE INDEX events_frame ON events (frame_sha256);
CREATE TABLE images (sha256 TEXT PRIMARY KEY, kind TEXT NOT NULL CHECK (kind IN ('crop', 'frame')),
    jpeg BLOB NOT NULL, size_bytes INTEGER NOT NULL, created_ns INTEGER NOT NULL);
CREATE TABLE heartbeats (heartbeat_id TEXT PRIMARY KEY, body TEXT NOT NULL,
    created_ns INTEGER NOT NULL);
CREATE TABLE alarms (alarm_id TEXT PRIMARY KEY, body TEXT NOT NULL, created_ns INTEGER NOT NULL);
CREATE TABLE rolls (mark_id TEXT PRIMARY KEY, body TEXT NOT NULL, created_ns INTEGER NOT NULL);
CREATE TABLE rejected (kind TEXT NOT NULL, item_id TEXT NOT NULL, body TEXT NOT NULL,
    status_code INTEGER, answer TEXT NOT NULL, rejected_ns INTEGER NOT NULL);
CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""
_DELETE_ORPHAN_IMAGE = (
    "DELETE FROM images WHERE sha256 = ?1 AND NOT EXISTS (SELECT 1 FROM events WHERE"
    " crop_sha256 = ?1) AND NOT EXISTS (SELECT 1 FROM events WHERE frame_sha256 = ?1)"
)
_Item = TypeVar("_Item", bound=BaseModel)


class Outbox:
    """The SQLite outbox at `path` (created with its folder); raises OutboxError if unusable."""

    def __init__(self, path: Path | str, max_disk_bytes: int, *, busy_timeout_s: float = 10.0):
        if max_disk_bytes <= 0:
            raise ValueError(f"max_disk_bytes must be positive, got {max_disk_bytes}")
        self.path = Path(path)
        self.max_disk_bytes = max_disk_bytes
        self._busy_timeout_ms = int(busy_timeout_s * 1000)
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()
        self._closed = False
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise OutboxError(
                f"cannot create the outbox folder {self.path.parent}: {error}"
            ) from error
        self._create_schema()

    # -- writing (the agent) --------------------------------------------------------------------

    def add_event(self, event: DefectEvent, images: Mapping[str, bytes] | None = None) -> None:
        """Store `event` and the JPEG images it names (sha256 -> bytes) in one transaction.

        Pass every image the event names: those the outbox already holds are left as they are.
        """
        named = {event.crop_sha256: "crop", event.frame_sha256: "frame"}
        images = images or {}
        for sha256, jpeg in images.items():
            if sha256 not in named:
                raise ValueError(
                    f"image {sha256} is not named by event {event.event_id} (crop_sha256="
                    f"{event.crop_sha256}, frame_sha256={event.frame_sha256})"
                )
            if (actual := hashlib.sha256(jpeg).hexdigest()) != sha256:
                raise ValueError(f"image given as sha256 {sha256} hashes to {actual}")
            if len(jpeg) > MAX_IMAGE_BYTES:
                raise ValueError(f"image {sha256} has {len(jpeg)} bytes, at most {MAX_IMAGE_BYTES}")
        now_ns = time.time_ns()
        row = (str(event.event_id), event.model_dump_json(), event.crop_sha256, event.frame_sha256)
        with self._write("add an event") as db:
            added = db.execute(
                "INSERT OR IGNORE INTO events VALUES (?, ?, ?, ?, ?)", (*row, now_ns)
            )
            _count(db, "events_added", added.rowcount)
            db.executemany(
                "INSERT OR IGNORE INTO images VALUES (?, ?, ?, ?, ?)",
                [(sha, named[sha], jpeg, len(jpeg), now_ns) for sha, jpeg in images.items()],
            )
            self._enforce_cap(db)

    def add_heartbeat(self, heartbeat: Heartbeat) -> None:
        self._add("heartbeat", str(heartbeat.heartbeat_id), heartbeat)

    def add_alarm(self, alarm: AlarmFiring) -> None:
        self._add("alarm", str(alarm.alarm_id), alarm)

    def add_roll_mark(self, mark: RollMark) -> None:
        self._add("roll", str(mark.mark_id), mark)

    # -- reading and acknowledging (the uploader) -----------------------------------------------

    def next_batch(self, max_events: int = 100, max_heartbeats: int = 100) -> OutboxBatch | None:
        """The oldest pending items (alarms and roll marks: up to `max_events` each) and those
        images their events name that are still here; None when nothing is pending."""
        unreadable: list[tuple[str, int, str, str]] = []
        with self._read("read a batch") as db:
            ingest = IngestBatch(
                events=_read_items(db, "event", DefectEvent, max_events, unreadable),
                heartbeats=_read_items(db, "heartbeat", Heartbeat, max_heartbeats, unreadable),
                alarms=_read_items(db, "alarm", AlarmFiring, max_events, unreadable),
                rolls=_read_items(db, "roll", RollMark, max_events, unreadable),
            )
            batch = OutboxBatch(ingest, {})
            images = {
                sha: bytes(jpeg)
                for sha in sorted(batch.named_images)
                for (jpeg,) in db.execute("SELECT jpeg FROM images WHERE sha256 = ?", (sha,))
            }
        if unreadable:
            self._set_aside_unreadable(unreadable)
        if not batch.items():
            return self.next_batch(max_events, max_heartbeats) if unreadable else None
        return OutboxBatch(ingest, images)

    def acknowledge(self, batch: OutboxBatch) -> None:
        """Delete exactly the batch's items, and the images no pending event still names."""
        with self._write("acknowledge a batch") as db:
            self._remove(db, batch)

    def reject(self, batch: OutboxBatch, status_code: int | None, answer: str) -> None:
        """Move the batch's items to the `rejected` table with the server's answer."""
        rows = [(*item, status_code, answer, time.time_ns()) for item in batch.items()]
        with self._write("set aside a refused batch") as db:
            db.executemany("INSERT INTO rejected VALUES (?, ?, ?, ?, ?, ?)", rows)
            self._remove(db, batch)

    def rejected(self) -> list[RejectedItem]:
        with self._read("read rejected items") as db:
            rows = db.execute("SELECT kind, item_id, body, status_code, answer FROM rejected")
            return [RejectedItem(*row) for row in rows.fetchall()]

    def stats(self) -> OutboxStats:
        with self._read("read statistics") as db:
            counts = {
                table: int(db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
                for table in ("events", "heartbeats", "alarms", "rolls", "images", "rejected")
            }
            image_bytes = db.execute("SELECT coalesce(sum(size_bytes), 0) FROM images").fetchone()
            counters = dict(db.execute("SELECT name, value FROM counters").fetchall())
            return OutboxStats(
                **counts,
                image_bytes=int(image_bytes[0]),
                used_bytes=_used_bytes(db),
                images_dropped=int(counters.get("images_dropped", 0)),
                events_added=int(counters.get("events_added", 0)),
                heartbeats_added=int(counters.get("heartbeats_added", 0)),
            )

    def close(self) -> None:
        """Close every thread's connection; the outbox cannot be used afterwards."""
        with self._connections_lock:
            self._closed = True
            for connection in self._connections:
                connection.close()
            self._connections.clear()

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- internals ------------------------------------------------------------------------------

    def _add(self, kind: str, item_id: str, item: BaseModel) -> None:
        table = KINDS[kind][0]
        with self._write(f"add a {kind}") as db:
            added = db.execute(
                f"INSERT OR IGNORE INTO {table} VALUES (?, ?, ?)",
                (item_id, item.model_dump_json(), time.time_ns()),
            )
            _count(db, f"{table}_added", added.rowcount)

    def _remove(self, db: sqlite3.Connection, batch: OutboxBatch) -> None:
        for kind, item_id, _ in batch.items():
            table, id_column = KINDS[kind]
            db.execute(f"DELETE FROM {table} WHERE {id_column} = ?", (item_id,))
        db.executemany(_DELETE_ORPHAN_IMAGE, [(sha,) for sha in batch.named_images])

    def _set_aside_unreadable(self, rows: list[tuple[str, int, str, str]]) -> None:
        log.error("outbox: %d stored items do not read as the schema; set aside", len(rows))
        with self._write("set aside unreadable items") as db:
            for kind, rowid, body, error in rows:
                table, id_column = KINDS[kind]
                db.execute(
                    f"INSERT INTO rejected SELECT ?, {id_column}, body, NULL, ?, ? FROM {table} "
                    "WHERE rowid = ?",
                    (kind, f"unreadable: {error}", time.time_ns(), rowid),
                )
                db.execute(f"DELETE FROM {table} WHERE rowid = ? AND body = ?", (rowid, body))

    def _enforce_cap(self, db: sqlite3.Connection) -> None:
        dropped = 0
        while (excess := _used_bytes(db) - self.max_disk_bytes) > 0:
            rows = db.execute("SELECT rowid, size_bytes FROM images ORDER BY rowid LIMIT 256")
            freed, last_rowid, count = 0, None, 0
            for rowid, size_bytes in rows.fetchall():
                freed, last_rowid, count = freed + size_bytes, rowid, count + 1
                if freed >= excess:
                    break
            if last_rowid is None:
                break  # only events and the like are left: those are never dropped
            db.execute("DELETE FROM images WHERE rowid <= ?", (last_rowid,))
            dropped += count
        if dropped:
            _count(db, "images_dropped", dropped)
            log.warning("outbox over its cap of %d bytes: dropped the %d oldest images",
                        self.max_disk_bytes, dropped)  # fmt: skip

    def _connection(self) -> sqlite3.Connection:
        if self._closed:
            raise OutboxError(f"the outbox {self.path} is closed")
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is not None:
            return connection
        try:
            connection = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=0
            )
        except sqlite3.Error as error:
            raise OutboxError(
                f"cannot open the outbox {self.path} (is its folder writable?): {error}"
            ) from error
        try:
            mode = connection.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            connection.execute("PRAGMA synchronous = FULL")
            connection.execute(f"PRAGMA busy_timeout = {self._busy_timeout_ms}")
            connection.execute(f"PRAGMA journal_size_limit = {16 * 1024 * 1024}")
        except sqlite3.Error as error:
            connection.close()
            raise OutboxError(
                f"cannot open the outbox {self.path} (expected a loomsight outbox SQLite file "
                f"in a writable folder): {error}"
            ) from error
        if mode != "wal":
            connection.close()
            raise OutboxError(f"the outbox {self.path} cannot use a WAL journal (got {mode!r})")
        with self._connections_lock:
            self._connections.append(connection)
        self._local.connection = connection
        return connection

    def _create_schema(self) -> None:
        with self._write("create its tables") as db:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            tables = sorted(row[0] for row in db.execute("SELECT name FROM sqlite_master"))
            if version == 0 and tables:
                raise OutboxError(
                    f"{self.path} is an SQLite database but not a loomsight outbox "
                    f"(it holds {', '.join(tables)})"
                )
            if version == 0:
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        db.execute(statement)
                db.execute(f"PRAGMA user_version = {FORMAT_VERSION}")
            elif version != FORMAT_VERSION:
                raise OutboxError(
                    f"the outbox {self.path} has format version {version}, "
                    f"expected {FORMAT_VERSION}"
                )

    @contextmanager
    def _write(self, what: str) -> Iterator[sqlite3.Connection]:
        with self._transaction("BEGIN IMMEDIATE", what) as db:
            yield db

    @contextmanager
    def _read(self, what: str) -> Iterator[sqlite3.Connection]:
        with self._transaction("BEGIN", what) as db:
            yield db

    @contextmanager
    def _transaction(self, begin: str, what: str) -> Iterator[sqlite3.Connection]:
        db = self._connection()
        try:
            db.execute(begin)
            yield db
            db.execute("COMMIT")
        except BaseException as error:
            if db.in_transaction:
                db.execute("ROLLBACK")
            if isinstance(error, sqlite3.Error):
                raise OutboxError(f"the outbox {self.path} could not {what}: {error}") from error
            raise


def _read_items(
    db: sqlite3.Connection,
    kind: str,
    model: type[_Item],
    limit: int,
    unreadable: list[tuple[str, int, str, str]],
) -> list[_Item]:
    """The oldest `limit` items of `kind`; rows that fail validation go to `unreadable`."""
    items: list[_Item] = []
    for rowid, body in db.execute(
        f"SELECT rowid, body FROM {KINDS[kind][0]} ORDER BY rowid LIMIT ?", (limit,)
    ).fetchall():
        try:
            items.append(model.model_validate_json(body))
        except ValidationError as error:
            unreadable.append((kind, rowid, body, str(error)))
    return items


def _count(db: sqlite3.Connection, name: str, by: int) -> None:
    """Add BY to the lifetime counter NAME (in the caller's transaction, so it survives exactly
    what the change it counts survives)."""
    if by > 0:
        db.execute(
            "INSERT INTO counters VALUES (?, ?) "
            "ON CONFLICT (name) DO UPDATE SET value = value + excluded.value",
            (name, by),
        )


def _used_bytes(db: sqlite3.Connection) -> int:
    """Bytes in the database's live pages (freed pages are reused before the file grows)."""
    page_size = db.execute("PRAGMA page_size").fetchone()[0]
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    free = db.execute("PRAGMA freelist_count").fetchone()[0]
    return int((pages - free) * page_size)
