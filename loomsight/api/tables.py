"""The database tables (SQLAlchemy 2, typed). Alembic migrations in `migrations/` create them.

Every time is stored as UTC (`UtcDateTime`). Events keep every field of the wire `DefectEvent`
plus when they arrived and the review columns (verdict, corrected class and box, who, when).
Heartbeats carry coverage amounts per period, so rates sum them over any time bucket.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    Uuid,
    false,
    true,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from loomsight.api.database import UtcDateTime

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
ID = String(64)  # the wire Identifier: at most 64 characters
SHA256 = String(64)
JSON_DOCUMENT = JSON().with_variant(JSONB(), "postgresql")
ROLES = ("reviewer", "admin")
VERDICTS = ("confirmed", "false_alarm", "relabelled")


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(value) for value in values)})"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UtcDateTime,
        uuid.UUID: Uuid,
        dict[str, Any]: JSON_DOCUMENT,
    }


class Machine(Base):
    __tablename__ = "machines"
    __table_args__ = (CheckConstraint("web_width_mm > 0", name="web_width_positive"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    line: Mapped[str | None] = mapped_column(String(200))
    article: Mapped[str | None] = mapped_column(String(200))
    web_width_mm: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime]


class Camera(Base):
    __tablename__ = "cameras"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    machine_id: Mapped[str] = mapped_column(ForeignKey("machines.id"), index=True)
    token_sha256: Mapped[str] = mapped_column(SHA256, unique=True)
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class User(Base):
    __tablename__ = "users"
    __table_args__ = (CheckConstraint(_one_of("role", ROLES), name="role"),)

    username: Mapped[str] = mapped_column(ID, primary_key=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]


class LoginSession(Base):
    """A reviewer's or admin's login: the sha256 of its bearer token, until it expires."""

    __tablename__ = "login_sessions"

    token_sha256: Mapped[str] = mapped_column(SHA256, primary_key=True)
    username: Mapped[str] = mapped_column(ForeignKey("users.username", ondelete="CASCADE"))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)


class Event(Base):
    __tablename__ = "events"
    __table_args__ = (
        CheckConstraint(f"verdict IS NULL OR {_one_of('verdict', VERDICTS)}", name="verdict_known"),
        Index("ix_events_machine_detected", "machine_id", "detected_at"),
        Index("ix_events_machine_roll_position", "machine_id", "roll_id", "position_m"),
        Index("ix_events_verdict_detected", "verdict", "detected_at"),
    )

    event_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    detected_at: Mapped[datetime]
    machine_id: Mapped[str] = mapped_column(ForeignKey("machines.id"))
    camera_id: Mapped[str] = mapped_column(ForeignKey("cameras.id"))
    roll_id: Mapped[str | None] = mapped_column(ID)
    position_m: Mapped[float] = mapped_column(Float)
    across_mm: Mapped[float] = mapped_column(Float)
    length_mm: Mapped[float] = mapped_column(Float)
    width_mm: Mapped[float] = mapped_column(Float)
    class_name: Mapped[str] = mapped_column(ID)
    confidence: Mapped[float] = mapped_column(Float)
    box_x1_px: Mapped[float] = mapped_column(Float)
    box_y1_px: Mapped[float] = mapped_column(Float)
    box_x2_px: Mapped[float] = mapped_column(Float)
    box_y2_px: Mapped[float] = mapped_column(Float)
    frame_w_px: Mapped[int] = mapped_column(BigInteger)
    frame_h_px: Mapped[int] = mapped_column(BigInteger)
    model_version: Mapped[str] = mapped_column(ID)
    crop_sha256: Mapped[str | None] = mapped_column(SHA256)
    frame_sha256: Mapped[str | None] = mapped_column(SHA256)
    received_at: Mapped[datetime]
    # Review, filled by QA: confirmed | false_alarm | relabelled (with class and/or box).
    verdict: Mapped[str | None] = mapped_column(String(16))
    corrected_class: Mapped[str | None] = mapped_column(ID)
    corrected_x1_px: Mapped[float | None] = mapped_column(Float)
    corrected_y1_px: Mapped[float | None] = mapped_column(Float)
    corrected_x2_px: Mapped[float | None] = mapped_column(Float)
    corrected_y2_px: Mapped[float | None] = mapped_column(Float)
    reviewed_by: Mapped[str | None] = mapped_column(
        ForeignKey("users.username", ondelete="SET NULL")
    )
    reviewed_at: Mapped[datetime | None]


class Heartbeat(Base):
    __tablename__ = "heartbeats"
    __table_args__ = (
        Index("ix_heartbeats_machine_start", "machine_id", "period_start"),
        Index("ix_heartbeats_camera_end", "camera_id", "period_end"),
    )

    heartbeat_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    machine_id: Mapped[str] = mapped_column(ForeignKey("machines.id"))
    camera_id: Mapped[str] = mapped_column(ForeignKey("cameras.id"))
    roll_id: Mapped[str | None] = mapped_column(ID)
    period_start: Mapped[datetime]
    period_end: Mapped[datetime]
    frames_processed: Mapped[int] = mapped_column(BigInteger)
    frames_skipped: Mapped[int] = mapped_column(BigInteger)
    inspected_m: Mapped[float] = mapped_column(Float)
    inspected_m2: Mapped[float] = mapped_column(Float)
    skipped_m: Mapped[float] = mapped_column(Float)
    skipped_m2: Mapped[float] = mapped_column(Float)
    fps: Mapped[float] = mapped_column(Float)
    inference_ms: Mapped[float] = mapped_column(Float)
    outbox_depth: Mapped[int] = mapped_column(BigInteger)
    model_version: Mapped[str | None] = mapped_column(ID)
    received_at: Mapped[datetime]


class Alarm(Base):
    __tablename__ = "alarms"
    __table_args__ = (
        CheckConstraint(_one_of("action", ("stop", "warning")), name="action"),
        Index("ix_alarms_machine_fired", "machine_id", "fired_at"),
    )

    alarm_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    fired_at: Mapped[datetime]
    machine_id: Mapped[str] = mapped_column(ForeignKey("machines.id"))
    camera_id: Mapped[str] = mapped_column(ForeignKey("cameras.id"))
    roll_id: Mapped[str | None] = mapped_column(ID)
    rule: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(16))
    outputs: Mapped[list[str]] = mapped_column(JSON_DOCUMENT)
    event_ids: Mapped[list[str]] = mapped_column(JSON_DOCUMENT)
    received_at: Mapped[datetime]


class RollMark(Base):
    """A roll started or ended: from a camera (source 'camera') or entered by hand ('manual')."""

    __tablename__ = "roll_marks"
    __table_args__ = (
        CheckConstraint(_one_of("kind", ("start", "end")), name="kind"),
        CheckConstraint(_one_of("source", ("camera", "manual")), name="source"),
        Index("ix_roll_marks_machine_roll_at", "machine_id", "roll_id", "at"),
    )

    mark_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    machine_id: Mapped[str] = mapped_column(ForeignKey("machines.id"))
    roll_id: Mapped[str] = mapped_column(ID)
    kind: Mapped[str] = mapped_column(String(8))
    at: Mapped[datetime]
    length_m: Mapped[float | None] = mapped_column(Float)
    source: Mapped[str] = mapped_column(String(8))
    received_at: Mapped[datetime]
    entered_by: Mapped[str | None] = mapped_column(ID)  # the user, for a manual mark


class Roll(Base):
    """One roll of a machine as its marks describe it (earliest start, latest end)."""

    __tablename__ = "rolls"
    __table_args__ = (Index("ix_rolls_machine_started", "machine_id", "started_at"),)

    machine_id: Mapped[str] = mapped_column(ForeignKey("machines.id"), primary_key=True)
    roll_id: Mapped[str] = mapped_column(ID, primary_key=True)
    started_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    length_m: Mapped[float | None] = mapped_column(Float)


class EventHour(Base):
    """Events counted per machine, UTC hour, model, class and review state, so that rates read
    hours instead of rows. Kept by database triggers (migration 0002) on every insert, update and
    delete of events; never written by the application."""

    __tablename__ = "event_hours"

    machine_id: Mapped[str] = mapped_column(ID, primary_key=True)
    hour_index: Mapped[int] = mapped_column(BigInteger, primary_key=True)  # hours since 1970, UTC
    model_version: Mapped[str] = mapped_column(ID, primary_key=True)
    class_name: Mapped[str] = mapped_column(ID, primary_key=True)  # as detected
    review_state: Mapped[str] = mapped_column(String(16), primary_key=True)  # or 'unreviewed'
    review_class: Mapped[str] = mapped_column(ID, primary_key=True)  # after a relabelling
    events: Mapped[int] = mapped_column(BigInteger)


class HeartbeatHour(Base):
    """Heartbeats summed per machine, UTC hour of their period start, camera and model (''
    when the heartbeat named none). Kept by database triggers (migration 0002) like EventHour.
    Times are seconds since 1970 (UTC); covered_s is the sum of the periods' lengths."""

    __tablename__ = "heartbeat_hours"

    machine_id: Mapped[str] = mapped_column(ID, primary_key=True)
    hour_index: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    camera_id: Mapped[str] = mapped_column(ID, primary_key=True)
    model_version: Mapped[str] = mapped_column(ID, primary_key=True)
    heartbeats: Mapped[int] = mapped_column(BigInteger)
    inspected_m: Mapped[float] = mapped_column(Float)
    inspected_m2: Mapped[float] = mapped_column(Float)
    skipped_m: Mapped[float] = mapped_column(Float)
    skipped_m2: Mapped[float] = mapped_column(Float)
    covered_s: Mapped[float] = mapped_column(Float)
    first_start_s: Mapped[float] = mapped_column(Float)
    last_end_s: Mapped[float] = mapped_column(Float)


class Image(Base):
    __tablename__ = "images"

    sha256: Mapped[str] = mapped_column(SHA256, primary_key=True)
    content_type: Mapped[str] = mapped_column(String(32))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    storage_key: Mapped[str] = mapped_column(String(255))
    uploaded_by: Mapped[str | None] = mapped_column(ID)
    created_at: Mapped[datetime] = mapped_column(index=True)


class Model(Base):
    """An uploaded model: its ONNX file in storage, its card, and whether it is the fleet default.

    At most one model is active for all machines (a partial unique index); a machine's own
    activation (`ModelActivation`) wins over it, and the model for the article the machine weaves
    now (`ArticleModel`) wins over both.
    """

    __tablename__ = "models"
    version: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(ID, index=True)
    sha256: Mapped[str] = mapped_column(SHA256)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    file_key: Mapped[str] = mapped_column(String(255))
    card: Mapped[dict[str, Any]]
    uploaded_at: Mapped[datetime]
    uploaded_by: Mapped[str | None] = mapped_column(ID)
    active_for_all: Mapped[bool] = mapped_column(Boolean, server_default=false())


class ModelActivation(Base):
    """The model one machine runs, overriding the model active for all machines."""

    __tablename__ = "model_activations"

    machine_id: Mapped[str] = mapped_column(
        ForeignKey("machines.id", ondelete="CASCADE"), primary_key=True
    )
    model_version: Mapped[str] = mapped_column(
        ForeignKey("models.version", ondelete="CASCADE"), index=True
    )
    activated_at: Mapped[datetime]
    activated_by: Mapped[str | None] = mapped_column(ID)


class ArticleModel(Base):
    """The model one machine runs while it weaves one article (a model calibrated for both);
    it wins over the machine's own model while `Machine.article` is this article."""

    __tablename__ = "article_models"

    machine_id: Mapped[str] = mapped_column(
        ForeignKey("machines.id", ondelete="CASCADE"), primary_key=True
    )
    article: Mapped[str] = mapped_column(String(200), primary_key=True)  # as Machine.article
    model_version: Mapped[str] = mapped_column(
        ForeignKey("models.version", ondelete="CASCADE"), index=True
    )
    activated_at: Mapped[datetime]
    activated_by: Mapped[str | None] = mapped_column(ID)


CALIBRATION_STATES = ("pending", "running", "done", "failed")


class Calibration(Base):
    """A QA engineer's request to calibrate a machine's model for a new fabric article, and what
    the calibration worker on the machine's edge PC reported: pending until a worker claims it,
    then running, then done or failed. The id is a serial number: it orders requests made in the
    same instant. At most one request per machine and article is pending at a time."""

    __tablename__ = "calibrations"
    __table_args__ = (
        CheckConstraint(_one_of("status", CALIBRATION_STATES), name="status"),
        CheckConstraint("length_m > 0", name="length_positive"),
        Index("ix_calibrations_machine_requested", "machine_id", "requested_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    machine_id: Mapped[str] = mapped_column(ForeignKey("machines.id", ondelete="CASCADE"))
    article: Mapped[str] = mapped_column(String(200))  # as Machine.article
    length_m: Mapped[float] = mapped_column(Float)  # metres of defect-free cloth to collect
    status: Mapped[str] = mapped_column(String(16))
    requested_by: Mapped[str] = mapped_column(ID)
    requested_at: Mapped[datetime]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    model_version: Mapped[str | None] = mapped_column(ID)  # the calibrated model's
    result: Mapped[dict[str, Any] | None]  # as the worker reported it
    message: Mapped[str | None] = mapped_column(Text)


Index(
    "uq_calibrations_one_pending_per_article",
    Calibration.machine_id,
    Calibration.article,
    unique=True,
    sqlite_where=Calibration.status == "pending",
    postgresql_where=Calibration.status == "pending",
)
Index(
    "uq_models_one_active_for_all",
    Model.active_for_all,
    unique=True,
    sqlite_where=Model.active_for_all == true(),
    postgresql_where=Model.active_for_all == true(),
)
