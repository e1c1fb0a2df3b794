"""Store an IngestBatch from a camera: once per UUID, in one transaction, with bulk inserts.

A camera writes only as itself on its own machine: a batch with any item naming another machine
or camera is refused whole (403). Values the wire contract allows but a database cannot hold
(integers past 64 bits, times that overflow when turned into UTC, NUL characters in text) are
refused whole with 422 and where they are, never left to fail in the database.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from loomsight.api.auth import CameraPrincipal
from loomsight.api.clock import Clock
from loomsight.api.errors import ForbiddenError, InvalidInputError
from loomsight.api.metrics import ApiMetrics
from loomsight.api.services.rolls import record_roll_marks
from loomsight.api.services.upsert import insert_new
from loomsight.api.tables import Alarm, Event, Heartbeat, Image
from loomsight.schema import AlarmFiring, DefectEvent, IngestAck, IngestBatch
from loomsight.schema import Heartbeat as WireHeartbeat

logger = logging.getLogger(__name__)

MAX_INTEGER = 2**63 - 1
T = TypeVar("T")


class IngestService:
    def __init__(self, session: Session, metrics: ApiMetrics, clock: Clock) -> None:
        self.session = session
        self.metrics = metrics
        self.clock = clock

    def ingest(self, camera: CameraPrincipal, batch: IngestBatch) -> IngestAck:
        _check_ownership(camera, batch)
        _check_storable(batch)
        now = self.clock()
        events = _unique(batch.events, lambda e: e.event_id)
        heartbeats = _unique(batch.heartbeats, lambda h: h.heartbeat_id)
        alarms = _unique(batch.alarms, lambda a: a.alarm_id)
        events_stored = len(insert_new(self.session, Event, _event_rows(events, now), "event_id"))
        heartbeats_stored = len(
            insert_new(self.session, Heartbeat, _heartbeat_rows(heartbeats, now), "heartbeat_id")
        )
        alarms_stored = len(insert_new(self.session, Alarm, _alarm_rows(alarms, now), "alarm_id"))
        rolls_stored = record_roll_marks(self.session, batch.rolls, "camera", now)
        missing = self._missing_images(batch.events)
        self.session.commit()

        self.metrics.ingest_batches.inc()
        self.metrics.events_stored.labels(camera.machine_id).inc(events_stored)
        self.metrics.events_duplicate.inc(len(batch.events) - events_stored)
        self.metrics.heartbeats_stored.inc(heartbeats_stored)
        logger.debug(
            "camera %s stored %d of %d events",
            camera.camera_id,
            events_stored,
            len(batch.events),
            extra={"camera": camera.camera_id, "events_stored": events_stored},
        )
        return IngestAck(
            events_stored=events_stored,
            events_duplicate=len(batch.events) - events_stored,
            heartbeats_stored=heartbeats_stored,
            heartbeats_duplicate=len(batch.heartbeats) - heartbeats_stored,
            alarms_stored=alarms_stored,
            rolls_stored=rolls_stored,
            missing_images=missing,
        )

    def _missing_images(self, events: Iterable[DefectEvent]) -> list[str]:
        named = {sha for e in events for sha in (e.crop_sha256, e.frame_sha256) if sha}
        if not named:
            return []
        held = set(self.session.scalars(select(Image.sha256).where(Image.sha256.in_(named))))
        return sorted(named - held)


def _unique(items: Iterable[T], key: Callable[[T], Any]) -> list[T]:
    """ITEMS once per key (the first of each), sorted by key: row locks in one order."""
    firsts: dict[Any, T] = {}
    for item in items:
        firsts.setdefault(key(item), item)
    return [firsts[k] for k in sorted(firsts)]


def _check_ownership(camera: CameraPrincipal, batch: IngestBatch) -> None:
    items: list[tuple[str, int, str, str | None]] = [
        *(("events", i, e.machine_id, e.camera_id) for i, e in enumerate(batch.events)),
        *(("heartbeats", i, h.machine_id, h.camera_id) for i, h in enumerate(batch.heartbeats)),
        *(("alarms", i, a.machine_id, a.camera_id) for i, a in enumerate(batch.alarms)),
        *(("rolls", i, r.machine_id, None) for i, r in enumerate(batch.rolls)),
    ]
    for where, index, machine_id, camera_id in items:
        if machine_id != camera.machine_id:
            raise ForbiddenError(
                f"camera {camera.camera_id!r} writes only for machine {camera.machine_id!r}; "
                f"{where}[{index}] names machine {machine_id!r}"
            )
        if camera_id is not None and camera_id != camera.camera_id:
            raise ForbiddenError(
                f"the token is camera {camera.camera_id!r}'s; {where}[{index}] names "
                f"camera {camera_id!r}"
            )


def _times(batch: IngestBatch) -> Iterator[tuple[str, datetime]]:
    for i, e in enumerate(batch.events):
        yield f"events[{i}].detected_at", e.detected_at
    for i, h in enumerate(batch.heartbeats):
        yield f"heartbeats[{i}].period_start", h.period_start
        yield f"heartbeats[{i}].period_end", h.period_end
    for i, a in enumerate(batch.alarms):
        yield f"alarms[{i}].fired_at", a.fired_at
    for i, r in enumerate(batch.rolls):
        yield f"rolls[{i}].at", r.at


def _integers(batch: IngestBatch) -> Iterator[tuple[str, int]]:
    for i, e in enumerate(batch.events):
        yield f"events[{i}].frame_wh_px", max(e.frame_wh_px)
    for i, h in enumerate(batch.heartbeats):
        for field in ("frames_processed", "frames_skipped", "outbox_depth"):
            yield f"heartbeats[{i}].{field}", getattr(h, field)


def _texts(batch: IngestBatch) -> Iterator[tuple[str, str]]:
    for i, a in enumerate(batch.alarms):
        yield f"alarms[{i}].rule", a.rule
        for j, output in enumerate(a.outputs):
            yield f"alarms[{i}].outputs[{j}]", output


def _check_storable(batch: IngestBatch) -> None:
    for where, time in _times(batch):
        try:
            time.astimezone(UTC)
        except OverflowError:
            raise InvalidInputError(f"{where}: {time.isoformat()} is out of range in UTC") from None
    for where, value in _integers(batch):
        if value > MAX_INTEGER:
            raise InvalidInputError(f"{where}: {value} is larger than {MAX_INTEGER}")
    for where, text in _texts(batch):
        if "\x00" in text:
            raise InvalidInputError(f"{where}: text must not contain NUL characters")


def _event_rows(events: Iterable[DefectEvent], now: datetime) -> list[dict[str, Any]]:
    return [
        {
            "event_id": e.event_id,
            "detected_at": e.detected_at,
            "machine_id": e.machine_id,
            "camera_id": e.camera_id,
            "roll_id": e.roll_id,
            "position_m": e.position_m,
            "across_mm": e.across_mm,
            "length_mm": e.length_mm,
            "width_mm": e.width_mm,
            "class_name": e.class_name,
            "confidence": e.confidence,
            "box_x1_px": e.box_xyxy_px[0],
            "box_y1_px": e.box_xyxy_px[1],
            "box_x2_px": e.box_xyxy_px[2],
            "box_y2_px": e.box_xyxy_px[3],
            "frame_w_px": e.frame_wh_px[0],
            "frame_h_px": e.frame_wh_px[1],
            "model_version": e.model_version,
            "crop_sha256": e.crop_sha256,
            "frame_sha256": e.frame_sha256,
            "received_at": now,
        }
        for e in events
    ]


def _heartbeat_rows(heartbeats: Iterable[WireHeartbeat], now: datetime) -> list[dict[str, Any]]:
    return [{**h.model_dump(), "received_at": now} for h in heartbeats]


def _alarm_rows(alarms: Iterable[AlarmFiring], now: datetime) -> list[dict[str, Any]]:
    return [
        {
            **a.model_dump(exclude={"outputs", "event_ids", "action"}),
            "action": a.action.value,
            "outputs": list(a.outputs),
            "event_ids": [str(event_id) for event_id in a.event_ids],
            "received_at": now,
        }
        for a in alarms
    ]
