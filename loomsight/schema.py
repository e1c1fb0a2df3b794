"""The wire contract between camera agents and the API (pydantic), versioned by SCHEMA_VERSION.

A camera posts `IngestBatch`es to INGEST_PATH with `Authorization: Bearer <camera token>`; the API
answers `IngestAck`. Everything in a batch is idempotent by its UUID: a batch posted twice stores
each item once and is answered the same way. Images (a defect crop, a downscaled full frame) are
content-addressed: PUT to IMAGE_PATH with the JPEG bytes, before the batch that names them; a PUT of
an image the server already holds is accepted and stores nothing new.

Coverage travels in heartbeats as amounts for the heartbeat's period (not running totals), so the
API sums them over any time bucket; positions are fabric coordinates from the camera calibration.
A change that breaks old cameras raises SCHEMA_VERSION; the API refuses other versions with 422.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

SCHEMA_VERSION: Literal[1] = 1
API_PREFIX = "/api/v1"
INGEST_PATH = f"{API_PREFIX}/ingest"
IMAGE_PATH = f"{API_PREFIX}/images/{{sha256}}"  # PUT image/jpeg bytes; GET returns them
ACTIVE_MODEL_PATH = f"{API_PREFIX}/camera/model"  # GET: the ActiveModel for the caller's machine
MODEL_FILE_PATH = f"{API_PREFIX}/models/{{version}}/file"  # GET: the .onnx bytes
MODEL_TEXTURE_PATH = f"{API_PREFIX}/models/{{version}}/texture"  # GET: its texture.npz bytes

MAX_EVENTS_PER_BATCH = 1000
MAX_HEARTBEATS_PER_BATCH = 1000
MAX_IMAGE_BYTES = 4 * 1024 * 1024

Identifier = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][\w.:@+-]*$")]
Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
NonNegative = Annotated[float, Field(ge=0.0, allow_inf_nan=False)]
Positive = Annotated[float, Field(gt=0.0, allow_inf_nan=False)]


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("times must carry a time zone (UTC, e.g. 2026-11-26T10:00:00Z)")
    return value


AwareTime = Annotated[datetime, AfterValidator(_aware)]


class _Wire(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DefectEvent(_Wire):
    """One defect, found once (deduplicated by fabric position on the camera)."""

    event_id: UUID
    detected_at: AwareTime
    machine_id: Identifier
    camera_id: Identifier
    roll_id: Identifier | None = None
    position_m: NonNegative = Field(description="Along the roll from its start, metres.")
    across_mm: NonNegative = Field(description="Across the web from its reference edge, mm.")
    length_mm: Positive = Field(description="Extent along the roll, mm.")
    width_mm: Positive = Field(description="Extent across the web, mm.")
    class_name: Identifier
    confidence: float = Field(ge=0.0, le=1.0)
    box_xyxy_px: tuple[NonNegative, NonNegative, NonNegative, NonNegative]
    frame_wh_px: tuple[Annotated[int, Field(gt=0)], Annotated[int, Field(gt=0)]]
    model_version: Identifier
    crop_sha256: Sha256 | None = None
    frame_sha256: Sha256 | None = None

    @model_validator(mode="after")
    def _box_inside_frame(self) -> DefectEvent:
        x1, y1, x2, y2 = self.box_xyxy_px
        width, height = self.frame_wh_px
        if not (x1 < x2 <= width + 1 and y1 < y2 <= height + 1):
            raise ValueError(f"box_xyxy_px {self.box_xyxy_px} is empty or outside the frame")
        return self


class Heartbeat(_Wire):
    """What one camera did over [period_start, period_end]: amounts for the period, not totals."""

    heartbeat_id: UUID
    machine_id: Identifier
    camera_id: Identifier
    roll_id: Identifier | None = None
    period_start: AwareTime
    period_end: AwareTime
    frames_processed: int = Field(ge=0)
    frames_skipped: int = Field(ge=0)
    inspected_m: NonNegative
    inspected_m2: NonNegative
    skipped_m: NonNegative
    skipped_m2: NonNegative
    fps: NonNegative
    inference_ms: NonNegative
    outbox_depth: int = Field(ge=0)
    model_version: Identifier | None = None

    @model_validator(mode="after")
    def _period_in_order(self) -> Heartbeat:
        if self.period_end < self.period_start:
            raise ValueError("period_end is before period_start")
        return self


class AlarmAction(StrEnum):
    STOP = "stop"
    WARNING = "warning"


class AlarmFiring(_Wire):
    """An alarm rule fired (and its outputs were signalled) because of some events."""

    alarm_id: UUID
    fired_at: AwareTime
    machine_id: Identifier
    camera_id: Identifier
    roll_id: Identifier | None = None
    rule: Annotated[str, Field(min_length=1, max_length=200)]
    action: AlarmAction
    outputs: list[Annotated[str, Field(max_length=200)]] = Field(max_length=20)
    event_ids: list[UUID] = Field(max_length=MAX_EVENTS_PER_BATCH)


class RollMarkKind(StrEnum):
    START = "start"
    END = "end"


class RollMark(_Wire):
    """A roll started or ended on a machine (from the camera, or by hand through the API)."""

    mark_id: UUID
    machine_id: Identifier
    roll_id: Identifier
    kind: RollMarkKind
    at: AwareTime
    length_m: NonNegative | None = Field(None, description="Roll length at its end, metres.")


class IngestBatch(_Wire):
    schema_version: Literal[1] = SCHEMA_VERSION
    events: list[DefectEvent] = Field(default_factory=list, max_length=MAX_EVENTS_PER_BATCH)
    heartbeats: list[Heartbeat] = Field(default_factory=list, max_length=MAX_HEARTBEATS_PER_BATCH)
    alarms: list[AlarmFiring] = Field(default_factory=list, max_length=MAX_EVENTS_PER_BATCH)
    rolls: list[RollMark] = Field(default_factory=list, max_length=MAX_EVENTS_PER_BATCH)


class IngestAck(_Wire):
    """Counts of what the batch held that was new and what had been stored before."""

    events_stored: int
    events_duplicate: int
    heartbeats_stored: int
    heartbeats_duplicate: int
    alarms_stored: int
    rolls_stored: int
    missing_images: list[Sha256] = Field(
        default_factory=list, description="Named by events but not uploaded (yet)."
    )


class ActiveModel(_Wire):
    """The model a camera's machine should run, and where to fetch it."""

    name: Identifier
    version: Identifier
    sha256: Sha256
    size_bytes: int = Field(gt=0)
    download_path: str
    texture_sha256: Sha256 | None = None  # the article's texture-anomaly model, if it has one
    texture_size_bytes: int | None = Field(None, gt=0)
    texture_download_path: str | None = None
