"""Request and response models of review and dataset export (the query parameters as models:
an unknown parameter is refused, not ignored)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from loomsight.schema import AwareTime, Identifier, NonNegative

Verdict = Literal["confirmed", "false_alarm", "relabelled"]
BoxXyxyPx = tuple[NonNegative, NonNegative, NonNegative, NonNegative]
MAX_FILTER_VALUES = 100
MAX_PAGE = 500
_IDENTIFIER: TypeAdapter[str] = TypeAdapter(Identifier)


def fits_utc(time: datetime) -> bool:
    """Whether TIME (aware) can be turned into UTC (the database keeps UTC)."""
    try:
        time.astimezone(UTC)
    except OverflowError:
        return False
    return True


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TimeRange(_Input):
    machine: list[Identifier] = Field(
        default_factory=list,
        max_length=MAX_FILTER_VALUES,
        description="Only these machines (repeat the parameter); all machines when left out.",
    )
    since: AwareTime | None = Field(
        None, description="Detected at or after this time, e.g. 2026-11-26T00:00:00Z."
    )
    until: AwareTime | None = Field(None, description="Detected before this time.")

    @model_validator(mode="after")
    def _in_order(self) -> Self:
        for name, time in (("since", self.since), ("until", self.until)):
            if time is not None and not fits_utc(time):
                raise ValueError(f"{name} {time.isoformat()} is out of range in UTC")
        if self.since is not None and self.until is not None and self.until <= self.since:
            raise ValueError(f"until ({self.until}) must be after since ({self.since})")
        return self


class ReviewFilters(TimeRange):
    class_name: list[Identifier] = Field(
        default_factory=list,
        max_length=MAX_FILTER_VALUES,
        description="Only detections of these classes (as detected; repeat the parameter).",
    )
    min_confidence: float = Field(0.0, ge=0.0, le=1.0)
    max_confidence: float = Field(1.0, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _confidence_range(self) -> Self:
        if self.max_confidence < self.min_confidence:
            raise ValueError(
                f"max_confidence ({self.max_confidence}) is below min_confidence "
                f"({self.min_confidence})"
            )
        return self


class QueueOrder(StrEnum):
    """`oldest`: detected_at, first in first out (the default: every detection gets its turn and
    older periods and rolls settle first; served by the (verdict, detected_at) index).
    `least_confident`: confidence, lowest first (the likeliest false alarms and the most useful
    labels for retraining)."""

    OLDEST = "oldest"
    LEAST_CONFIDENT = "least_confident"


class QueueQuery(ReviewFilters):
    order: QueueOrder = Field(
        QueueOrder.OLDEST,
        description="oldest: detected_at, first in first out; least_confident: lowest first.",
    )
    limit: int = Field(50, ge=1, le=MAX_PAGE, description="Detections per page.")
    after: str | None = Field(
        None, max_length=200, description="next_after of the previous page (same order)."
    )


class Confirm(_Input):
    """The detection is right as it is."""

    verdict: Literal["confirmed"]


class FalseAlarm(_Input):
    """There is no defect there: the detection leaves the confirmed rates and the datasets."""

    verdict: Literal["false_alarm"]


class Relabel(_Input):
    """A defect, but of another class and/or in another box (frame pixels, as box_xyxy_px)."""

    verdict: Literal["relabelled"]
    class_name: Identifier | None = Field(None, description="The right class; null: unchanged.")
    box_xyxy_px: BoxXyxyPx | None = Field(
        None, description="The right box in the frame's pixels; null: unchanged."
    )

    @model_validator(mode="after")
    def _changes_something(self) -> Self:
        if self.class_name is None and self.box_xyxy_px is None:
            raise ValueError("a relabelling names a class_name, a box_xyxy_px or both")
        if self.box_xyxy_px is not None:
            x1, y1, x2, y2 = self.box_xyxy_px
            if not (x1 < x2 and y1 < y2):
                raise ValueError(
                    f"box_xyxy_px {list(self.box_xyxy_px)} is empty: need x1<x2, y1<y2"
                )
        return self


VerdictIn = Annotated[Confirm | FalseAlarm | Relabel, Field(discriminator="verdict")]


class ReviewItem(BaseModel):
    """A detection with what a reviewer needs: the event, its images, its verdict (if any)."""

    event_id: uuid.UUID
    detected_at: datetime
    received_at: datetime
    machine_id: str
    camera_id: str
    roll_id: str | None
    position_m: float
    across_mm: float
    length_mm: float
    width_mm: float
    class_name: str = Field(description="The class the model detected.")
    confidence: float
    box_xyxy_px: tuple[float, float, float, float] = Field(description="In frame pixels.")
    frame_wh_px: tuple[int, int]
    model_version: str
    crop_sha256: str | None
    frame_sha256: str | None
    crop_url: str | None = Field(
        description="Path of the defect crop under this API (GET, same credentials); null when "
        "the camera has not uploaded it."
    )
    frame_url: str | None = Field(description="Path of the downscaled full frame, or null.")
    verdict: Verdict | None = Field(description="null: not reviewed yet.")
    corrected_class: str | None = Field(description="Set by a relabelling that changed the class.")
    corrected_box_xyxy_px: tuple[float, float, float, float] | None = Field(
        description="Set by a relabelling that changed the box (frame pixels)."
    )
    reviewed_by: str | None
    reviewed_at: datetime | None


class ReviewPage(BaseModel):
    items: list[ReviewItem]
    next_after: str | None = Field(
        description="Pass as `after` for the next page; null when this page is the last."
    )


class ReviewCounts(BaseModel):
    total: int = 0
    unreviewed: int = 0
    confirmed: int = 0
    false_alarm: int = 0
    relabelled: int = 0

    def add(self, verdict: str | None, count: int) -> None:
        self.total += count
        field = verdict or "unreviewed"
        setattr(self, field, getattr(self, field) + count)


class ReviewSummary(BaseModel):
    overall: ReviewCounts
    by_class: dict[str, ReviewCounts] = Field(description="By the class as detected.")


class ExportQuery(TimeRange):
    """Which reviewed detections go into the dataset, and its class list."""

    names: str | None = Field(
        None,
        max_length=4000,
        description="The class names in id order, comma-separated (e.g. a model's classes); "
        "frames with a box of another class are left out. Default: every class exported, sorted.",
    )
    model: Identifier | None = Field(
        None, description="Take the class names from this model version's card."
    )
    background: bool = Field(
        False,
        description="Also frames whose detections were all false alarms, with empty label files "
        "(hard negatives).",
    )

    @model_validator(mode="after")
    def _one_class_source(self) -> Self:
        if self.names is not None and self.model is not None:
            raise ValueError("give names or model, not both")
        if self.names is not None:
            self.name_list()
        return self

    def name_list(self) -> list[str] | None:
        """The names given, in order; ValueError unless they are distinct identifiers."""
        if self.names is None:
            return None
        names = [name.strip() for name in self.names.split(",")]
        for name in names:
            try:
                _IDENTIFIER.validate_python(name)
            except ValidationError:
                raise ValueError(
                    f"names: {name!r} is not a class name (1-64 letters, digits or ._:@+-)"
                ) from None
        if len(set(names)) != len(names):
            raise ValueError(f"names must be distinct, got {names}")
        return names
