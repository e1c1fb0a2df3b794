"""Request and response models of defect rates (the query parameters as models: an unknown
parameter is refused, not ignored)."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from loomsight.schema import AwareTime, Identifier

MAX_COMPARED_MACHINES = 20

COUNTING_HELP = (
    "all: every detection, under the class the camera gave it, whatever QA said (the "
    "detector's own rate; unreviewed detections count only here and in not_rejected). "
    "confirmed: only detections QA confirmed or relabelled, relabelled ones under their "
    "corrected class; false alarms and unreviewed detections are left out. "
    "not_rejected: every detection except QA's false alarms, relabelled ones under their "
    "corrected class, unreviewed ones as detected (the best estimate while review is under way)."
)


FIRST_TIME = datetime(1970, 1, 1, tzinfo=UTC)
LAST_TIME = datetime(9999, 1, 1, tzinfo=UTC)


def check_supported_time(moment: datetime) -> datetime:
    """MOMENT, if it lies between 1970 and 9999 in UTC; else ValueError (a 422)."""
    try:
        utc = moment.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{moment.isoformat()} is out of range in UTC") from None
    if not FIRST_TIME <= utc < LAST_TIME:
        raise ValueError(f"times must lie between 1970 and 9999 (UTC), got {moment.isoformat()}")
    return moment


class Counting(StrEnum):
    ALL = "all"
    CONFIRMED = "confirmed"
    NOT_REJECTED = "not_rejected"


class BucketSize(StrEnum):
    """UTC minutes, hours, shifts (from the settings) or days."""

    MINUTE = "minute"
    HOUR = "hour"
    SHIFT = "shift"
    DAY = "day"


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RateQuery(_Input):
    start: AwareTime | None = Field(
        None, description="From this time, inclusive [default: 24 hours before end]."
    )
    end: AwareTime | None = Field(None, description="Until this time, exclusive [default: now].")
    bucket: BucketSize = Field(BucketSize.HOUR, description="minute, hour, shift or day (UTC).")
    counting: Counting = Field(Counting.ALL, description=COUNTING_HELP)
    by_model: bool = Field(False, description="Split every bucket by model version as well.")

    @model_validator(mode="after")
    def _in_order(self) -> Self:
        for moment in (self.start, self.end):
            if moment is not None:
                check_supported_time(moment)
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise ValueError(f"end ({self.end}) must be after start ({self.start})")
        return self


class CompareQuery(RateQuery):
    machine: list[Identifier] = Field(
        min_length=1,
        max_length=MAX_COMPARED_MACHINES,
        description="The machines to compare (repeat the parameter).",
    )


class ClassRate(BaseModel):
    events: int
    per_100_m: float | None = Field(description="Per 100 m inspected; null: nothing inspected.")
    per_100_m2: float | None = Field(description="Per 100 m² inspected.")


class _Figures(BaseModel):
    events: int = Field(description="Defects counted (see counting).")
    inspected_m: float = Field(description="Fabric the cameras inspected, m (from heartbeats).")
    inspected_m2: float
    skipped_m: float = Field(description="Fabric that passed uninspected (overload), m.")
    skipped_m2: float
    heartbeats: int
    per_100_m: float | None = Field(description="Defects per 100 m inspected; null: none.")
    per_100_m2: float | None = Field(description="Defects per 100 m² inspected; null: none.")
    classes: dict[str, ClassRate] = Field(description="By class (see counting).")
    unreviewed: int = Field(description="Detections QA has not reviewed yet.")
    false_alarms: int = Field(description="Detections QA rejected as false alarms.")


class ModelRates(_Figures):
    model_version: str | None = Field(
        description="null: heartbeats that named no model (they have no events)."
    )


class RateFigures(_Figures):
    models: list[ModelRates] | None = Field(
        None, description="By model version: events of the version per metres it inspected."
    )


class RateBucket(RateFigures):
    start: datetime
    end: datetime
    shift: str | None = Field(None, description="The shift's name (shift buckets).")
    uncovered_s: float = Field(description="Seconds of the bucket inside coverage gaps.")


class CoverageGap(BaseModel):
    start: datetime
    end: datetime
    duration_s: float


class Coverage(BaseModel):
    """Where the machine's cameras sent no heartbeat: no measurement, not no defects."""

    gap_threshold_s: float | None = Field(
        description="Time without heartbeats that makes a gap; null: no heartbeats at all."
    )
    median_heartbeat_s: float | None = Field(description="Typical heartbeat period.")
    checked_until: datetime = Field(description="The end, or now if the end is later.")
    gaps: list[CoverageGap] = Field(description="The first gaps, oldest first.")
    gaps_total: int
    uncovered_s: float = Field(description="Seconds inside gaps.")
    skipped_m: float
    skipped_m2: float
    inspected_share: float | None = Field(
        description="Inspected metres over inspected plus skipped metres."
    )


class MachineRates(BaseModel):
    machine_id: str
    start: datetime
    end: datetime
    bucket: BucketSize
    counting: Counting
    total: RateFigures
    buckets: list[RateBucket]
    coverage: Coverage


class RateComparison(BaseModel):
    start: datetime
    end: datetime
    bucket: BucketSize
    counting: Counting
    machines: list[MachineRates] = Field(description="In the order asked for.")
