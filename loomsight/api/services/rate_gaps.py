"""Coverage gaps: stretches longer than a threshold in which no camera of a machine has a
heartbeat period, so nothing was measured (which is not the same as no defects).

A camera's heartbeat periods follow each other without space while it runs, so a gap is the
space between one period's end and the next period's start, over all the machine's cameras.
The threshold is the setting `coverage_gap_s`, else 3 times the median heartbeat period (the
median over the cameras' hours of their mean period; at least 1 s).

Finding gaps reads the hourly rollup first: an hour in which some camera's periods span the
whole hour without a hole longer than the threshold holds no gap. Only the other hours (and a
margin of 3 thresholds around them) are read period by period.
"""

from __future__ import annotations

import bisect
import itertools
import math
import statistics
from dataclasses import dataclass

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from loomsight.api.services.rate_buckets import HOUR_S, epoch_s, from_epoch_s
from loomsight.api.tables import Heartbeat, HeartbeatHour

MIN_GAP_S = 1.0
MEDIAN_FACTOR = 3.0
MARGIN_THRESHOLDS = 3.0


@dataclass(frozen=True)
class Gap:
    start_s: float
    end_s: float


@dataclass(frozen=True)
class GapReport:
    threshold_s: float | None  # None: no heartbeats at all
    median_period_s: float | None
    gaps: list[Gap]


@dataclass(frozen=True)
class _CameraHour:
    camera_id: str
    hour: int
    heartbeats: int
    covered_s: float
    first_start_s: float
    last_end_s: float


def find_gaps(
    session: Session, machine_id: str, start_s: float, end_s: float, setting_s: float | None
) -> GapReport:
    """The coverage gaps of MACHINE_ID between START_S and END_S (seconds since 1970)."""
    hours = _camera_hours(session, machine_id, start_s, end_s)
    periods = sorted(h.covered_s / h.heartbeats for h in hours if h.heartbeats > 0)
    if not periods:
        gaps = [Gap(start_s, end_s)] if end_s > start_s else []
        return GapReport(setting_s, None, gaps)
    median_s = statistics.median(periods)
    threshold_s = setting_s if setting_s is not None else max(MEDIAN_FACTOR * median_s, MIN_GAP_S)
    finder = _Finder(session, machine_id, hours, start_s, end_s, threshold_s)
    gaps = [gap for lo, hi in finder.suspect_windows() for gap in finder.gaps_in(lo, hi)]
    return GapReport(threshold_s, median_s, gaps)


def _camera_hours(
    session: Session, machine_id: str, start_s: float, end_s: float
) -> list[_CameraHour]:
    h = HeartbeatHour
    query = (
        select(
            h.camera_id,
            h.hour_index,
            func.sum(h.heartbeats),
            func.sum(h.covered_s),
            func.min(h.first_start_s),
            func.max(h.last_end_s),
        )
        .where(
            h.machine_id == machine_id,
            h.hour_index >= math.floor(start_s / HOUR_S) - 1,
            h.hour_index < math.ceil(end_s / HOUR_S),
        )
        .group_by(h.camera_id, h.hour_index)
        .order_by(h.camera_id, h.hour_index)
    )
    return [
        _CameraHour(camera, int(hour), int(count), float(covered), float(first), float(last))
        for camera, hour, count, covered, first, last in session.connection().execute(query)
        if count
    ]


class _Finder:
    def __init__(
        self,
        session: Session,
        machine_id: str,
        hours: list[_CameraHour],
        start_s: float,
        end_s: float,
        threshold_s: float,
    ) -> None:
        self.session = session
        self.machine_id = machine_id
        self.hours = hours
        self.start_s = start_s
        self.end_s = end_s
        self.threshold_s = threshold_s
        ordered = sorted((h.hour, h.last_end_s) for h in hours)
        self._hours = [hour for hour, _end in ordered]
        self._latest_end = list(itertools.accumulate((end for _hour, end in ordered), max))

    def _clean_hours(self) -> set[int]:
        """Hours in which some camera's periods cover the whole hour (in the range) without a
        hole longer than the threshold."""
        clean: set[int] = set()
        t = self.threshold_s
        latest_end: dict[str, float] = {}  # per camera, of the hours before
        for row in self.hours:  # by camera, then hour
            lo = max(row.hour * HOUR_S, self.start_s)
            hi = min((row.hour + 1) * HOUR_S, self.end_s)
            covered_before = latest_end.get(row.camera_id, lo)
            if (
                lo < hi
                and row.covered_s >= row.last_end_s - row.first_start_s - t
                and row.first_start_s - covered_before <= t
                and hi - row.last_end_s <= t
            ):
                clean.add(row.hour)
            latest_end[row.camera_id] = max(
                latest_end.get(row.camera_id, row.last_end_s), row.last_end_s
            )
        return clean

    def suspect_windows(self) -> list[tuple[float, float]]:
        """Stretches that may hold a gap: runs of hours that are not clean, with a margin."""
        clean = self._clean_hours()
        margin_s = MARGIN_THRESHOLDS * self.threshold_s
        windows: list[tuple[float, float]] = []
        first_hour = math.floor(self.start_s / HOUR_S)
        for hour in range(first_hour, math.ceil(self.end_s / HOUR_S)):
            if hour in clean:
                continue
            lo = max(hour * HOUR_S - margin_s, self.start_s)
            hi = min((hour + 1) * HOUR_S + margin_s, self.end_s)
            if windows and lo <= windows[-1][1]:
                windows[-1] = (windows[-1][0], hi)
            else:
                windows.append((lo, hi))
        return windows

    def gaps_in(self, lo_s: float, hi_s: float) -> list[Gap]:
        """The gaps between LO_S and HI_S. SQL returns only the periods that start after the
        latest end of the periods before them (since the start of LO_S's hour; the rollup
        gives the latest end of the hours before that): a camera's periods meet end to start,
        so these are few."""
        hour = math.floor(lo_s / HOUR_S)
        earlier = bisect.bisect_left(self._hours, hour)
        floor_s = max(self._latest_end[earlier - 1], lo_s) if earlier else lo_s
        within = (
            Heartbeat.machine_id == self.machine_id,
            Heartbeat.period_start >= from_epoch_s(hour * HOUR_S),
            Heartbeat.period_start < from_epoch_s(hi_s),
        )
        latest_end = func.max(Heartbeat.period_end).over(
            order_by=Heartbeat.period_start, rows=(None, -1)
        )
        periods = (
            select(Heartbeat.period_start, latest_end.label("before")).where(*within).subquery()
        )
        after_space = (
            select(periods.c.period_start, periods.c.before)
            .where(
                periods.c.period_start >= from_epoch_s(lo_s),
                or_(periods.c.before.is_(None), periods.c.period_start > periods.c.before),
            )
            .order_by(periods.c.period_start)
        )
        gaps = []
        for start, before in self.session.connection().execute(after_space):
            covered_s = floor_s if before is None else max(epoch_s(before), floor_s)
            if epoch_s(start) - covered_s > self.threshold_s:
                gaps.append(Gap(covered_s, epoch_s(start)))
        if hi_s >= self.end_s:
            last = self.session.connection().scalar(
                select(func.max(Heartbeat.period_end)).where(*within)
            )
            covered_s = floor_s if last is None else max(epoch_s(last), floor_s)
            if self.end_s - covered_s > self.threshold_s:
                gaps.append(Gap(covered_s, self.end_s))
        return gaps
