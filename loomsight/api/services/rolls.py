"""Roll marks (a roll started or ended) and the rolls they describe.

Marks are stored once each (by mark_id); a roll's row keeps the earliest start, the latest end and
the length its last end mark gave. Used by ingest (marks from cameras) and by hand entry.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from loomsight.api.services.upsert import insert_new
from loomsight.api.tables import Roll, RollMark
from loomsight.schema import RollMark as WireRollMark
from loomsight.schema import RollMarkKind


def record_roll_marks(
    session: Session, marks: Sequence[WireRollMark], source: str, now: datetime
) -> int:
    """Store the new ones of MARKS (source 'camera' or 'manual') and update their rolls; returns
    how many were new. The caller commits."""
    if not marks:
        return 0
    unique = sorted({mark.mark_id: mark for mark in marks}.values(), key=lambda m: m.mark_id)
    rows = [
        {
            "mark_id": mark.mark_id,
            "machine_id": mark.machine_id,
            "roll_id": mark.roll_id,
            "kind": mark.kind.value,
            "at": mark.at,
            "length_m": mark.length_m,
            "source": source,
            "received_at": now,
        }
        for mark in unique
    ]
    new_ids = set(insert_new(session, RollMark, rows, "mark_id"))
    new_marks = sorted((m for m in unique if m.mark_id in new_ids), key=lambda m: m.at)
    if new_marks:
        _apply_to_rolls(session, new_marks)
    return len(new_marks)


def _apply_to_rolls(session: Session, marks: Sequence[WireRollMark]) -> None:
    keys = sorted({(mark.machine_id, mark.roll_id) for mark in marks})
    insert_new(session, Roll, [{"machine_id": m, "roll_id": r} for m, r in keys], None)
    rolls = {}
    for machine_id, roll_id in keys:  # one at a time, in key order: no deadlocks between batches
        query = (
            select(Roll)
            .where(Roll.machine_id == machine_id, Roll.roll_id == roll_id)
            .with_for_update()
        )
        rolls[(machine_id, roll_id)] = session.scalars(query).one()
    for mark in marks:
        roll = rolls[(mark.machine_id, mark.roll_id)]
        if mark.kind is RollMarkKind.START:
            roll.started_at = _earliest(roll.started_at, mark.at)
        elif roll.ended_at is None or mark.at >= roll.ended_at:  # the latest end has the say
            roll.ended_at = mark.at
            if mark.length_m is not None:
                roll.length_m = mark.length_m


def _earliest(stored: datetime | None, new: datetime) -> datetime:
    return new if stored is None or new < stored else stored
