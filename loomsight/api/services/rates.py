"""Defect rates per machine: per time bucket, events (counted as the query says) per 100 m and
per 100 m² of inspected fabric, by class and optionally by model version, beside the coverage
gaps and skipped fabric of the same time.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from loomsight.api.clock import Clock
from loomsight.api.errors import InvalidInputError
from loomsight.api.rate_models import (
    ClassRate,
    CompareQuery,
    Coverage,
    CoverageGap,
    MachineRates,
    ModelRates,
    RateBucket,
    RateComparison,
    RateFigures,
    RateQuery,
)
from loomsight.api.report_settings import ReportSettings
from loomsight.api.services.machines import existing_machine
from loomsight.api.services.rate_buckets import (
    SlotIndex,
    bucket_slots,
    epoch_s,
    fine_step_s,
    from_epoch_s,
)
from loomsight.api.services.rate_gaps import find_gaps
from loomsight.api.services.rate_tallies import FALSE_ALARM, UNREVIEWED, Amounts, TallyReader
from loomsight.api.tables import Machine

DEFAULT_SPAN = timedelta(days=1)
MAX_LISTED_GAPS = 1000


def _per_100(events: int, amount: float) -> float | None:
    return 100.0 * events / amount if amount > 0 else None


@dataclass
class _Tally:
    classes: Counter[str] = field(default_factory=Counter)
    unreviewed: int = 0
    false_alarms: int = 0
    heartbeats: int = 0
    inspected_m: float = 0.0
    inspected_m2: float = 0.0
    skipped_m: float = 0.0
    skipped_m2: float = 0.0

    def add_amounts(self, amounts: Amounts) -> None:
        self.heartbeats += amounts.heartbeats
        self.inspected_m += amounts.inspected_m
        self.inspected_m2 += amounts.inspected_m2
        self.skipped_m += amounts.skipped_m
        self.skipped_m2 += amounts.skipped_m2

    def add_state(self, state: str, events: int) -> None:
        if state == UNREVIEWED:
            self.unreviewed += events
        elif state == FALSE_ALARM:
            self.false_alarms += events

    def figures(self) -> dict[str, object]:
        events = sum(self.classes.values())
        return {
            "events": events,
            "inspected_m": self.inspected_m,
            "inspected_m2": self.inspected_m2,
            "skipped_m": self.skipped_m,
            "skipped_m2": self.skipped_m2,
            "heartbeats": self.heartbeats,
            "per_100_m": _per_100(events, self.inspected_m),
            "per_100_m2": _per_100(events, self.inspected_m2),
            "classes": {
                name: ClassRate(
                    events=count,
                    per_100_m=_per_100(count, self.inspected_m),
                    per_100_m2=_per_100(count, self.inspected_m2),
                )
                for name, count in sorted(self.classes.items())
                if count
            },
            "unreviewed": self.unreviewed,
            "false_alarms": self.false_alarms,
        }


@dataclass
class _Bucket:
    tally: _Tally = field(default_factory=_Tally)
    models: dict[str | None, _Tally] = field(default_factory=dict)
    uncovered_s: float = 0.0

    def model(self, version: str | None) -> _Tally:
        return self.models.setdefault(version, _Tally())

    def model_rates(self, by_model: bool) -> list[ModelRates] | None:
        if not by_model:
            return None
        ordered = sorted(self.models.items(), key=lambda item: (item[0] is None, item[0] or ""))
        return [
            ModelRates.model_validate({"model_version": version, **tally.figures()})
            for version, tally in ordered
        ]


class RateService:
    def __init__(self, session: Session, clock: Clock, settings: ReportSettings) -> None:
        self.session = session
        self.clock = clock
        self.settings = settings

    def compare(self, query: CompareQuery) -> RateComparison:
        """The rates of several machines over the same buckets, in the order asked for."""
        machines = list(dict.fromkeys(query.machine))
        for machine_id in machines:
            self._machine(machine_id)
        start, end = self._range(query)
        fixed = query.model_copy(update={"start": start, "end": end})
        return RateComparison(
            start=start,
            end=end,
            bucket=query.bucket,
            counting=query.counting,
            machines=[self.machine_rates(machine_id, fixed) for machine_id in machines],
        )

    def _machine(self, machine_id: str) -> Machine:
        return existing_machine(self.session, machine_id)

    def _range(self, query: RateQuery) -> tuple[datetime, datetime]:
        end = query.end or self.clock()
        start = query.start or end - DEFAULT_SPAN
        if end <= start:
            raise InvalidInputError(
                f"end ({end.isoformat()}) must be after start ({start.isoformat()}); without an "
                "end the range ends now"
            )
        return start, end

    def machine_rates(self, machine_id: str, query: RateQuery) -> MachineRates:
        """The rates of MACHINE_ID as QUERY asks, with the coverage of the same range."""
        self._machine(machine_id)
        start, end = self._range(query)
        shifts = self.settings.sorted_shifts()
        slots = bucket_slots(start, end, query.bucket, shifts)
        index = SlotIndex(slots)
        buckets = [_Bucket() for _ in slots]
        total = _Bucket()
        reader = TallyReader(
            self.session, machine_id, start, end, fine_step_s(query.bucket, shifts)
        )
        by_model = query.by_model
        for count in reader.class_counts(query.counting, by_model):
            for target in self._targets(buckets, total, index.index(count.slot_s)):
                target.tally.classes[count.key] += count.events
                if by_model:
                    target.model(count.model_version).classes[count.key] += count.events
        for count in reader.state_counts(by_model):
            for target in self._targets(buckets, total, index.index(count.slot_s)):
                target.tally.add_state(count.key, count.events)
                if by_model:
                    target.model(count.model_version).add_state(count.key, count.events)
        for amounts in reader.amounts(by_model):
            for target in self._targets(buckets, total, index.index(amounts.slot_s)):
                target.tally.add_amounts(amounts)
                if by_model:
                    target.model(amounts.model_version).add_amounts(amounts)
        checked_until = min(end, self.clock()) if start < self.clock() else start
        report = find_gaps(
            self.session,
            machine_id,
            epoch_s(start),
            epoch_s(checked_until),
            self.settings.coverage_gap_s,
        )
        for gap in report.gaps:
            for bucket_index, seconds in index.overlaps(gap.start_s, gap.end_s):
                buckets[bucket_index].uncovered_s += seconds
        uncovered_s = sum(gap.end_s - gap.start_s for gap in report.gaps)
        tally = total.tally
        seen_m = tally.inspected_m + tally.skipped_m
        return MachineRates(
            machine_id=machine_id,
            start=start,
            end=end,
            bucket=query.bucket,
            counting=query.counting,
            total=RateFigures.model_validate(
                {**tally.figures(), "models": total.model_rates(query.by_model)}
            ),
            buckets=[
                RateBucket.model_validate(
                    {
                        **bucket.tally.figures(),
                        "models": bucket.model_rates(query.by_model),
                        "start": slot.start,
                        "end": slot.end,
                        "shift": slot.shift,
                        "uncovered_s": bucket.uncovered_s,
                    }
                )
                for slot, bucket in zip(slots, buckets, strict=True)
            ],
            coverage=Coverage(
                gap_threshold_s=report.threshold_s,
                median_heartbeat_s=report.median_period_s,
                checked_until=checked_until,
                gaps=[
                    CoverageGap(
                        start=from_epoch_s(gap.start_s),
                        end=from_epoch_s(gap.end_s),
                        duration_s=gap.end_s - gap.start_s,
                    )
                    for gap in report.gaps[:MAX_LISTED_GAPS]
                ],
                gaps_total=len(report.gaps),
                uncovered_s=uncovered_s,
                skipped_m=tally.skipped_m,
                skipped_m2=tally.skipped_m2,
                inspected_share=tally.inspected_m / seen_m if seen_m > 0 else None,
            ),
        )

    @staticmethod
    def _targets(buckets: list[_Bucket], total: _Bucket, index: int | None) -> list[_Bucket]:
        return [] if index is None else [buckets[index], total]
