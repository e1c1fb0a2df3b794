"""Time buckets of a rate query: UTC minutes, hours, days or shifts, clipped to the range.

Every bucket boundary falls on a whole minute (shifts start at HH:MM), so amounts tallied per
minute (or per hour, when every boundary is on a whole hour) fold into buckets exactly.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from loomsight.api.errors import InvalidInputError
from loomsight.api.rate_models import BucketSize
from loomsight.api.report_settings import Shift

MAX_BUCKETS = 10_000
MINUTE_S = 60
HOUR_S = 3600
DAY_S = 86400
_STEP_S = {BucketSize.MINUTE: MINUTE_S, BucketSize.HOUR: HOUR_S, BucketSize.DAY: DAY_S}


@dataclass(frozen=True)
class Slot:
    start: datetime
    end: datetime
    shift: str | None = None


def epoch_s(moment: datetime) -> float:
    return moment.timestamp()


def from_epoch_s(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def fine_step_s(size: BucketSize, shifts: Sequence[Shift]) -> int:
    """The slot length that every bucket boundary of SIZE falls on: an hour, or a minute."""
    if size is BucketSize.MINUTE:
        return MINUTE_S
    if size is BucketSize.SHIFT and any(shift.start.minute for shift in shifts):
        return MINUTE_S
    return HOUR_S


def bucket_slots(
    start: datetime, end: datetime, size: BucketSize, shifts: Sequence[Shift]
) -> list[Slot]:
    """The buckets of SIZE between START and END, the first and last clipped to them."""
    span_s = epoch_s(end) - epoch_s(start)
    per_bucket_s = DAY_S / len(shifts) if size is BucketSize.SHIFT else _STEP_S[size]
    if span_s / per_bucket_s > MAX_BUCKETS - 2:
        raise InvalidInputError(
            f"{start.isoformat()} to {end.isoformat()} makes over {MAX_BUCKETS} {size.value} "
            "buckets; choose a larger bucket or a shorter range"
        )
    if size is BucketSize.SHIFT:
        boundaries = _shift_boundaries(start, end, shifts)
    else:
        step = _STEP_S[size]
        first = math.floor(epoch_s(start) / step) * step
        boundaries = [
            (from_epoch_s(t), None) for t in range(first, math.ceil(epoch_s(end)) + step, step)
        ]
    slots = []
    for (lo, name), (hi, _next) in itertools.pairwise(boundaries):
        lo_clipped, hi_clipped = max(lo, start), min(hi, end)
        if lo_clipped < hi_clipped:
            slots.append(Slot(lo_clipped, hi_clipped, name))
    return slots


def _shift_boundaries(
    start: datetime, end: datetime, shifts: Sequence[Shift]
) -> list[tuple[datetime, str | None]]:
    ordered = sorted(shifts, key=lambda shift: shift.start)
    day = datetime.combine(start.date(), datetime.min.time(), UTC) - timedelta(days=1)
    boundaries: list[tuple[datetime, str | None]] = []
    while day <= end + timedelta(days=1):  # the next shift start after END
        for shift in ordered:
            boundaries.append((datetime.combine(day.date(), shift.start, UTC), shift.name))
        day += timedelta(days=1)
    return boundaries


class SlotIndex:
    """Finds the bucket of a time (seconds since 1970) among SLOTS."""

    def __init__(self, slots: Sequence[Slot]) -> None:
        self.slots = list(slots)
        self._starts_s = [epoch_s(slot.start) for slot in self.slots]
        self._end_s = epoch_s(self.slots[-1].end) if self.slots else 0.0

    def index(self, t_s: float) -> int | None:
        """The bucket holding T_S; a time before the first bucket (the start of a minute or
        hour that the range starts inside) counts in the first one."""
        if not self.slots or t_s >= self._end_s:
            return None
        return max(bisect.bisect_right(self._starts_s, t_s) - 1, 0)

    def overlaps(self, lo_s: float, hi_s: float) -> list[tuple[int, float]]:
        """(bucket, seconds) for each bucket that [LO_S, HI_S) overlaps."""
        found = []
        first = max(bisect.bisect_right(self._starts_s, lo_s) - 1, 0)
        for index in range(first, len(self.slots)):
            slot_lo = self._starts_s[index]
            if slot_lo >= hi_s:
                break
            slot_hi = epoch_s(self.slots[index].end)
            seconds = min(hi_s, slot_hi) - max(lo_s, slot_lo)
            if seconds > 0:
                found.append((index, seconds))
        return found
