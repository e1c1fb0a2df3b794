"""Counts of events and sums of heartbeat amounts per time slot, read from the database.

Whole UTC hours come from the hourly rollups (`event_hours`, `heartbeat_hours`, kept by
triggers); the parts of the range that start or end inside an hour, and every minute slot, come
from the events and heartbeats themselves, grouped in SQL. A heartbeat counts in the slot where
its period starts (periods last seconds; slots a minute or more).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Float,
    Select,
    case,
    cast,
    extract,
    func,
    or_,
    select,
)
from sqlalchemy.orm import Session

from loomsight.api.rate_models import Counting
from loomsight.api.services.rate_buckets import HOUR_S, epoch_s, from_epoch_s
from loomsight.api.tables import Event, EventHour, Heartbeat, HeartbeatHour

REVIEWED = ("confirmed", "relabelled")
FALSE_ALARM = "false_alarm"
UNREVIEWED = "unreviewed"


@dataclass(frozen=True)
class Count:
    """EVENTS events of KEY (a class, or a review state) in the slot starting at SLOT_S."""

    slot_s: int
    model_version: str | None
    key: str
    events: int


@dataclass(frozen=True)
class Amounts:
    """Heartbeat amounts of the slot starting at SLOT_S (seconds since 1970, UTC)."""

    slot_s: int
    model_version: str | None
    heartbeats: int
    inspected_m: float
    inspected_m2: float
    skipped_m: float
    skipped_m2: float


def slot_start_s(dialect: str, column: Any, step_s: int) -> ColumnElement[int]:
    """The start (seconds since 1970) of the STEP_S slot holding the time COLUMN, in SQL."""
    if dialect == "sqlite":
        seconds = cast(func.strftime("%s", column), BigInteger)
        return seconds - (((seconds % step_s) + step_s) % step_s)
    return cast(func.floor(extract("epoch", column) / step_s), BigInteger) * step_s


def epoch_seconds(dialect: str, column: Any) -> ColumnElement[float]:
    """Seconds since 1970 (with fractions) of the time COLUMN, in SQL."""
    if dialect == "sqlite":  # stored as 'YYYY-MM-DD HH:MM:SS.ffffff': exact to the microsecond
        whole = cast(func.strftime("%s", column), Float)
        return whole + cast(func.substr(column, 20), Float)
    return cast(extract("epoch", column), Float)


@dataclass(frozen=True)
class _Split:
    """Whole hours [FIRST_HOUR, END_HOUR) for the rollups; the rest, RAW, from the rows."""

    first_hour: int
    end_hour: int
    raw: list[tuple[datetime, datetime]]


def _split(start: datetime, end: datetime, step_s: int) -> _Split:
    if step_s % HOUR_S:
        return _Split(0, 0, [(start, end)])
    first_hour = math.ceil(epoch_s(start) / HOUR_S)
    end_hour = math.floor(epoch_s(end) / HOUR_S)
    if first_hour >= end_hour:
        return _Split(0, 0, [(start, end)])
    raw = [
        (lo, hi)
        for lo, hi in (
            (start, from_epoch_s(first_hour * HOUR_S)),
            (from_epoch_s(end_hour * HOUR_S), end),
        )
        if lo < hi
    ]
    return _Split(first_hour, end_hour, raw)


def _review_class() -> ColumnElement[str]:
    return case(
        (Event.verdict == "relabelled", func.coalesce(Event.corrected_class, Event.class_name)),
        else_=Event.class_name,
    )


def _counts(session: Session, queries: list[Select[Any]], by_model: bool) -> list[Count]:
    counts = []
    for query in queries:
        for row in session.connection().execute(query):
            slot_s, model, key, events = row if by_model else (row[0], None, row[1], row[2])
            if events:
                counts.append(Count(int(slot_s), model, key, int(events)))
    return counts


class TallyReader:
    """Tallies of one machine between START and END in slots of STEP_S seconds."""

    def __init__(
        self, session: Session, machine_id: str, start: datetime, end: datetime, step_s: int
    ) -> None:
        self.session = session
        self.machine_id = machine_id
        self.step_s = step_s
        self.dialect = session.get_bind().dialect.name
        self.split = _split(start, end, step_s)

    def class_counts(self, counting: Counting, by_model: bool) -> list[Count]:
        """Events per slot and class, counted as COUNTING says."""
        hour_class = EventHour.class_name if counting is Counting.ALL else EventHour.review_class
        row_class = Event.class_name if counting is Counting.ALL else _review_class()
        hour_where: list[ColumnElement[bool]] = []
        row_where: list[ColumnElement[bool]] = []
        if counting is Counting.CONFIRMED:
            hour_where.append(EventHour.review_state.in_(REVIEWED))
            row_where.append(Event.verdict.in_(REVIEWED))
        elif counting is Counting.NOT_REJECTED:
            hour_where.append(EventHour.review_state != FALSE_ALARM)
            row_where.append(or_(Event.verdict.is_(None), Event.verdict != FALSE_ALARM))
        return self._event_counts(hour_class, row_class, hour_where, row_where, by_model)

    def state_counts(self, by_model: bool) -> list[Count]:
        """Events per slot that are unreviewed, and that are false alarms."""
        row_state = func.coalesce(Event.verdict, UNREVIEWED)
        states = (UNREVIEWED, FALSE_ALARM)
        hour_where = [EventHour.review_state.in_(states)]
        row_where = [or_(Event.verdict.is_(None), Event.verdict == FALSE_ALARM)]
        return self._event_counts(
            EventHour.review_state, row_state, hour_where, row_where, by_model
        )

    def _event_counts(
        self,
        hour_key: Any,
        row_key: Any,
        hour_where: Sequence[ColumnElement[bool]],
        row_where: Sequence[ColumnElement[bool]],
        by_model: bool,
    ) -> list[Count]:
        queries: list[Select[Any]] = []
        split = self.split
        if split.first_hour < split.end_hour:
            slot = EventHour.hour_index * HOUR_S
            keys = [slot, EventHour.model_version, hour_key] if by_model else [slot, hour_key]
            queries.append(
                select(*keys, func.sum(EventHour.events))
                .where(
                    EventHour.machine_id == self.machine_id,
                    EventHour.hour_index >= split.first_hour,
                    EventHour.hour_index < split.end_hour,
                    *hour_where,
                )
                .group_by(*keys)
            )
        for lo, hi in split.raw:
            slot = slot_start_s(self.dialect, Event.detected_at, self.step_s)
            keys = [slot, Event.model_version, row_key] if by_model else [slot, row_key]
            queries.append(
                select(*keys, func.count())
                .where(
                    Event.machine_id == self.machine_id,
                    Event.detected_at >= lo,
                    Event.detected_at < hi,
                    *row_where,
                )
                .group_by(*keys)
            )
        return _counts(self.session, queries, by_model)

    def amounts(self, by_model: bool) -> list[Amounts]:
        """Heartbeat amounts per slot (and model version)."""
        queries: list[Select[Any]] = []
        split = self.split
        if split.first_hour < split.end_hour:
            h = HeartbeatHour
            keys: list[Any] = [h.hour_index * HOUR_S, *([h.model_version] if by_model else [])]
            sums: list[Any] = [func.sum(h.heartbeats), *map(func.sum, _amount_columns(h))]
            queries.append(
                select(*keys, *sums)
                .where(
                    h.machine_id == self.machine_id,
                    h.hour_index >= split.first_hour,
                    h.hour_index < split.end_hour,
                )
                .group_by(*keys)
            )
        for lo, hi in split.raw:
            slot = slot_start_s(self.dialect, Heartbeat.period_start, self.step_s)
            model = func.coalesce(Heartbeat.model_version, "")
            keys = [slot, model] if by_model else [slot]
            sums = [func.count(), *map(func.sum, _amount_columns(Heartbeat))]
            queries.append(
                select(*keys, *sums)
                .where(
                    Heartbeat.machine_id == self.machine_id,
                    Heartbeat.period_start >= lo,
                    Heartbeat.period_start < hi,
                )
                .group_by(*keys)
            )
        found = []
        for query in queries:
            for row in self.session.connection().execute(query):
                values = list(row)
                slot_s = int(values.pop(0))
                version: str | None = (values.pop(0) or None) if by_model else None
                count, inspected_m, inspected_m2, skipped_m, skipped_m2 = values
                found.append(
                    Amounts(
                        slot_s,
                        version,
                        int(count),
                        float(inspected_m or 0.0),
                        float(inspected_m2 or 0.0),
                        float(skipped_m or 0.0),
                        float(skipped_m2 or 0.0),
                    )
                )
        return found


def _amount_columns(table: type[Heartbeat] | type[HeartbeatHour]) -> list[Any]:
    return [table.inspected_m, table.inspected_m2, table.skipped_m, table.skipped_m2]
