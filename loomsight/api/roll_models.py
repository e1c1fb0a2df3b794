"""Request and response models of rolls: manual marks, the roll report with 4-point grades."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from loomsight.api.rate_models import COUNTING_HELP, Counting, check_supported_time
from loomsight.api.report_settings import GradeStep
from loomsight.schema import AwareTime, NonNegative, RollMarkKind

MAX_LISTED_ROLLS = 500


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RollMarkIn(_Input):
    """A roll started or ended, entered by hand."""

    kind: RollMarkKind
    at: AwareTime | None = Field(None, description="When [default: now].")
    length_m: NonNegative | None = Field(None, description="The roll's length, on its end.")
    mark_id: uuid.UUID | None = Field(
        None, description="Send the same id again to retry without a second mark [default: new]."
    )

    @model_validator(mode="after")
    def _storable(self) -> Self:
        if self.at is not None:
            check_supported_time(self.at)
        return self


class RollListQuery(_Input):
    limit: int = Field(100, ge=1, le=MAX_LISTED_ROLLS, description="The latest rolls first.")


class RollReportQuery(_Input):
    counting: Counting = Field(Counting.NOT_REJECTED, description=COUNTING_HELP)


class RollOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    machine_id: str
    roll_id: str
    started_at: datetime | None
    ended_at: datetime | None
    length_m: float | None


class RollDefect(BaseModel):
    event_id: uuid.UUID
    detected_at: datetime
    position_m: float = Field(description="Centre, along the roll from its start.")
    across_mm: float = Field(description="Centre, across the web from its reference edge.")
    length_mm: float = Field(description="Extent along the roll.")
    width_mm: float = Field(description="Extent across the web.")
    class_name: str = Field(description="The class it counts as (see counting).")
    detected_class: str
    verdict: str | None
    confidence: float
    model_version: str
    length_in: float = Field(description="The scored length: the larger extent, in inches.")
    points: int = Field(description="4-point score (per yard for a defect over a yard long).")
    yards: list[int] = Field(description="The linear yards its points go to (0 = the first).")
    crop_sha256: str | None


class YardPoints(BaseModel):
    yard: int
    start_m: float
    raw_points: int
    points: int = Field(description="Capped at 4 per linear yard.")


class RollReport(BaseModel):
    machine_id: str
    roll_id: str
    article: str | None
    started_at: datetime | None
    ended_at: datetime | None
    length_m: float | None
    length_source: Literal["end_mark", "heartbeats"] | None = Field(
        description="end_mark: the length the roll's end mark gave; heartbeats: the metres its "
        "camera inspected plus skipped (a roll not ended yet); null: unknown."
    )
    web_width_mm: float | None
    counting: Counting
    defects: list[RollDefect] = Field(description="By position along, then across.")
    yards: list[YardPoints] = Field(description="Yards with points.")
    points: int = Field(description="Total, after the cap of 4 per yard.")
    points_uncapped: int
    points_per_100_sq_yd: float | None
    grade: str | None
    ungraded_reason: str | None = None
    grades: list[GradeStep] = Field(description="The grade table applied.")
    hole_classes: list[str]
    unreviewed: int
    false_alarms: int
