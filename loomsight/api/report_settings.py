"""Settings of the rate and roll reports: shifts, the coverage gap threshold, roll grades.

`ReportSettings` is meant as one field of `ApiSettings` (`LOOMSIGHT_API_REPORTS` as JSON, e.g.
`{"shifts": [{"name": "day", "start": "07:00"}, {"name": "night", "start": "19:00"}]}`); the
routes read it through `get_report_settings`.
"""

from __future__ import annotations

from datetime import time
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from loomsight.schema import Identifier

ShiftName = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9][\w.-]*$")]


class Shift(BaseModel):
    """A shift starts at START (UTC, whole minutes) and runs until the next shift starts."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: ShiftName
    start: time = Field(description="UTC start, HH:MM.")

    @model_validator(mode="after")
    def _whole_minutes(self) -> Self:
        if self.start.second or self.start.microsecond or self.start.tzinfo is not None:
            raise ValueError(f"a shift starts at HH:MM in UTC without a zone, got {self.start}")
        return self


class GradeStep(BaseModel):
    """Rolls at or under MAX_POINTS_PER_100_SQ_YD (and over the step before) get GRADE."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    grade: Annotated[str, Field(min_length=1, max_length=32)]
    max_points_per_100_sq_yd: float = Field(ge=0, allow_inf_nan=False)


DEFAULT_SHIFTS = (
    Shift(name="early", start=time(6)),
    Shift(name="late", start=time(14)),
    Shift(name="night", start=time(22)),
)
REJECTED = "rejected"


class ReportSettings(BaseModel):
    """Shifts (UTC), when missing heartbeats make a coverage gap, and how rolls are graded."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    shifts: tuple[Shift, ...] = Field(
        DEFAULT_SHIFTS,
        min_length=1,
        max_length=24,
        description="Each shift runs until the next one starts [default: 06-14, 14-22, 22-06].",
    )
    coverage_gap_s: float | None = Field(
        None,
        gt=0,
        allow_inf_nan=False,
        description="Time without heartbeats that counts as a coverage gap [default: 3 times "
        "the median heartbeat period, at least 1 s].",
    )
    grades: tuple[GradeStep, ...] = Field(
        (GradeStep(grade="A", max_points_per_100_sq_yd=40.0),),
        min_length=1,
        max_length=10,
        description=f"Grade steps by rising limit; a roll over the last one is {REJECTED!r}.",
    )
    hole_classes: tuple[Identifier, ...] = Field(
        ("hole",), max_length=50, description="Classes scored 4 points whatever their size."
    )

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        starts = [shift.start for shift in self.shifts]
        names = [shift.name for shift in self.shifts]
        if len(set(starts)) != len(starts) or len(set(names)) != len(names):
            raise ValueError(f"shifts need distinct names and start times, got {names} {starts}")
        limits = [step.max_points_per_100_sq_yd for step in self.grades]
        if limits != sorted(set(limits)):
            raise ValueError(f"grade limits must rise from step to step, got {limits}")
        if REJECTED in (step.grade for step in self.grades):
            raise ValueError(f"{REJECTED!r} is the grade over the last limit; name the steps else")
        return self

    def sorted_shifts(self) -> list[Shift]:
        return sorted(self.shifts, key=lambda shift: shift.start)
