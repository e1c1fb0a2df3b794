"""Roll marks (a roll started or ended) and the rolls they describe.

Marks are stored once each (by mark_id); a roll's row keeps the earliest start, the latest end and
the length its last end mark gave. Used by ingest (marks from cameras) and by hand entry
(`RollService`: reviewers and admins, through the API).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from loomsight.api.clock import Clock
from loomsight.api.errors import ConflictError, NotFoundError
from loomsight.api.roll_models import RollMarkIn
from loomsight.api.services.machines import existing_machine
from loomsight.api.services.upsert import insert_new
from loomsight.api.tables import Roll, RollMark
from loomsight.schema import RollMark as WireRollMark
from loomsight.schema import RollMarkKind


def record_roll_marks(
    session: Session,
    marks: Sequence[WireRollMark],
    source: str,
    now: datetime,
    entered_by: str | None = None,
) -> int:
    """Store the new ones of MARKS (source 'camera' or 'manual', by the user ENTERED_BY) and
    update their rolls; returns how many were new. The caller commits."""
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
            "entered_by": entered_by,
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


class RollService:
    """Rolls of a machine, and their start and end entered by hand."""

    def __init__(self, session: Session, clock: Clock) -> None:
        self.session = session
        self.clock = clock

    def _machine(self, machine_id: str) -> None:
        existing_machine(self.session, machine_id)

    def mark(self, machine_id: str, roll_id: str, mark: RollMarkIn, username: str) -> Roll:
        """Record MARK (by USERNAME) for the roll; the same mark_id again records nothing new,
        the mark_id of another roll or kind is a conflict."""
        self._machine(machine_id)
        now = self.clock()
        wire = WireRollMark(
            mark_id=mark.mark_id or uuid.uuid4(),
            machine_id=machine_id,
            roll_id=roll_id,
            kind=mark.kind,
            at=mark.at or now,
            length_m=mark.length_m,
        )
        held = self.session.get(RollMark, wire.mark_id)
        if held is not None and (held.machine_id, held.roll_id, held.kind) != (
            machine_id,
            roll_id,
            wire.kind.value,
        ):
            raise ConflictError(
                f"mark {wire.mark_id} is held already as the {held.kind} of roll "
                f"{held.roll_id!r} on machine {held.machine_id!r}; send a new mark_id"
            )
        record_roll_marks(self.session, [wire], "manual", now, entered_by=username)
        self.session.commit()
        return self.get(machine_id, roll_id)

    def get(self, machine_id: str, roll_id: str) -> Roll:
        roll = self.session.get(Roll, (machine_id, roll_id))
        if roll is None:
            raise NotFoundError(f"no roll {roll_id!r} on machine {machine_id!r}")
        return roll

    def latest(self, machine_id: str, limit: int) -> list[Roll]:
        """The machine's rolls, the latest started first (rolls without a start last)."""
        self._machine(machine_id)
        query = (
            select(Roll)
            .where(Roll.machine_id == machine_id)
            .order_by(Roll.started_at.desc().nulls_last(), Roll.roll_id)
            .limit(limit)
        )
        return list(self.session.scalars(query))
