"""Initial tables: machines, cameras, users, login sessions, events, heartbeats, alarms, rolls,
images, models and their activations.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.String(length=64)
SHA256 = sa.String(length=64)
JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _time(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _float(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.Float(), nullable=nullable)


def _fk(
    table: str, column: str, target: str, ondelete: str | None = None
) -> sa.ForeignKeyConstraint:
    referred = target.split(".")[0]
    return sa.ForeignKeyConstraint(
        [column],
        [target],
        name=op.f(f"fk_{table}_{column}_{referred}"),
        ondelete=ondelete,
    )


def upgrade() -> None:
    op.create_table(
        "machines",
        sa.Column("id", ID, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("line", sa.String(length=200), nullable=True),
        sa.Column("article", sa.String(length=200), nullable=True),
        _float("web_width_mm", nullable=True),
        _time("created_at"),
        sa.CheckConstraint("web_width_mm > 0", name=op.f("ck_machines_web_width_positive")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_machines")),
    )
    op.create_table(
        "cameras",
        sa.Column("id", ID, nullable=False),
        sa.Column("machine_id", ID, nullable=False),
        sa.Column("token_sha256", SHA256, nullable=False),
        _time("created_at"),
        _time("revoked_at", nullable=True),
        _fk("cameras", "machine_id", "machines.id"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cameras")),
        sa.UniqueConstraint("token_sha256", name=op.f("uq_cameras_token_sha256")),
    )
    op.create_index(op.f("ix_cameras_machine_id"), "cameras", ["machine_id"])
    op.create_table(
        "users",
        sa.Column("username", ID, nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        _time("created_at"),
        sa.CheckConstraint("role IN ('reviewer', 'admin')", name=op.f("ck_users_role")),
        sa.PrimaryKeyConstraint("username", name=op.f("pk_users")),
    )
    op.create_table(
        "login_sessions",
        sa.Column("token_sha256", SHA256, nullable=False),
        sa.Column("username", ID, nullable=False),
        _time("created_at"),
        _time("expires_at"),
        _fk("login_sessions", "username", "users.username", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("token_sha256", name=op.f("pk_login_sessions")),
    )
    op.create_index(op.f("ix_login_sessions_expires_at"), "login_sessions", ["expires_at"])
    op.create_table(
        "events",
        sa.Column("event_id", sa.Uuid(), nullable=False),
        _time("detected_at"),
        sa.Column("machine_id", ID, nullable=False),
        sa.Column("camera_id", ID, nullable=False),
        sa.Column("roll_id", ID, nullable=True),
        _float("position_m"),
        _float("across_mm"),
        _float("length_mm"),
        _float("width_mm"),
        sa.Column("class_name", ID, nullable=False),
        _float("confidence"),
        _float("box_x1_px"),
        _float("box_y1_px"),
        _float("box_x2_px"),
        _float("box_y2_px"),
        sa.Column("frame_w_px", sa.BigInteger(), nullable=False),
        sa.Column("frame_h_px", sa.BigInteger(), nullable=False),
        sa.Column("model_version", ID, nullable=False),
        sa.Column("crop_sha256", SHA256, nullable=True),
        sa.Column("frame_sha256", SHA256, nullable=True),
        _time("received_at"),
        sa.Column("verdict", sa.String(length=16), nullable=True),
        sa.Column("corrected_class", ID, nullable=True),
        _float("corrected_x1_px", nullable=True),
        _float("corrected_y1_px", nullable=True),
        _float("corrected_x2_px", nullable=True),
        _float("corrected_y2_px", nullable=True),
        sa.Column("reviewed_by", ID, nullable=True),
        _time("reviewed_at", nullable=True),
        sa.CheckConstraint(
            "verdict IS NULL OR verdict IN ('confirmed', 'false_alarm', 'relabelled')",
            name=op.f("ck_events_verdict_known"),
        ),
        _fk("events", "machine_id", "machines.id"),
        _fk("events", "camera_id", "cameras.id"),
        _fk("events", "reviewed_by", "users.username", ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_events")),
    )
    op.create_index("ix_events_machine_detected", "events", ["machine_id", "detected_at"])
    op.create_index(
        "ix_events_machine_roll_position", "events", ["machine_id", "roll_id", "position_m"]
    )
    op.create_index("ix_events_verdict_detected", "events", ["verdict", "detected_at"])
    op.create_table(
        "heartbeats",
        sa.Column("heartbeat_id", sa.Uuid(), nullable=False),
        sa.Column("machine_id", ID, nullable=False),
        sa.Column("camera_id", ID, nullable=False),
        sa.Column("roll_id", ID, nullable=True),
        _time("period_start"),
        _time("period_end"),
        sa.Column("frames_processed", sa.BigInteger(), nullable=False),
        sa.Column("frames_skipped", sa.BigInteger(), nullable=False),
        _float("inspected_m"),
        _float("inspected_m2"),
        _float("skipped_m"),
        _float("skipped_m2"),
        _float("fps"),
        _float("inference_ms"),
        sa.Column("outbox_depth", sa.BigInteger(), nullable=False),
        sa.Column("model_version", ID, nullable=True),
        _time("received_at"),
        _fk("heartbeats", "machine_id", "machines.id"),
        _fk("heartbeats", "camera_id", "cameras.id"),
        sa.PrimaryKeyConstraint("heartbeat_id", name=op.f("pk_heartbeats")),
    )
    op.create_index("ix_heartbeats_machine_start", "heartbeats", ["machine_id", "period_start"])
    op.create_index("ix_heartbeats_camera_end", "heartbeats", ["camera_id", "period_end"])
    op.create_table(
        "alarms",
        sa.Column("alarm_id", sa.Uuid(), nullable=False),
        _time("fired_at"),
        sa.Column("machine_id", ID, nullable=False),
        sa.Column("camera_id", ID, nullable=False),
        sa.Column("roll_id", ID, nullable=True),
        sa.Column("rule", sa.String(length=200), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("outputs", JSON_DOCUMENT, nullable=False),
        sa.Column("event_ids", JSON_DOCUMENT, nullable=False),
        _time("received_at"),
        sa.CheckConstraint("action IN ('stop', 'warning')", name=op.f("ck_alarms_action")),
        _fk("alarms", "machine_id", "machines.id"),
        _fk("alarms", "camera_id", "cameras.id"),
        sa.PrimaryKeyConstraint("alarm_id", name=op.f("pk_alarms")),
    )
    op.create_index("ix_alarms_machine_fired", "alarms", ["machine_id", "fired_at"])
    op.create_table(
        "roll_marks",
        sa.Column("mark_id", sa.Uuid(), nullable=False),
        sa.Column("machine_id", ID, nullable=False),
        sa.Column("roll_id", ID, nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        _time("at"),
        _float("length_m", nullable=True),
        sa.Column("source", sa.String(length=8), nullable=False),
        _time("received_at"),
        sa.CheckConstraint("kind IN ('start', 'end')", name=op.f("ck_roll_marks_kind")),
        sa.CheckConstraint("source IN ('camera', 'manual')", name=op.f("ck_roll_marks_source")),
        _fk("roll_marks", "machine_id", "machines.id"),
        sa.PrimaryKeyConstraint("mark_id", name=op.f("pk_roll_marks")),
    )
    op.create_index("ix_roll_marks_machine_roll_at", "roll_marks", ["machine_id", "roll_id", "at"])
    op.create_table(
        "rolls",
        sa.Column("machine_id", ID, nullable=False),
        sa.Column("roll_id", ID, nullable=False),
        _time("started_at", nullable=True),
        _time("ended_at", nullable=True),
        _float("length_m", nullable=True),
        _fk("rolls", "machine_id", "machines.id"),
        sa.PrimaryKeyConstraint("machine_id", "roll_id", name=op.f("pk_rolls")),
    )
    op.create_index("ix_rolls_machine_started", "rolls", ["machine_id", "started_at"])
    op.create_table(
        "images",
        sa.Column("sha256", SHA256, nullable=False),
        sa.Column("content_type", sa.String(length=32), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("storage_key", sa.String(length=255), nullable=False),
        sa.Column("uploaded_by", ID, nullable=True),
        _time("created_at"),
        sa.PrimaryKeyConstraint("sha256", name=op.f("pk_images")),
    )
    op.create_index(op.f("ix_images_created_at"), "images", ["created_at"])
    op.create_table(
        "models",
        sa.Column("version", ID, nullable=False),
        sa.Column("name", ID, nullable=False),
        sa.Column("sha256", SHA256, nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("file_key", sa.String(length=255), nullable=False),
        sa.Column("card", JSON_DOCUMENT, nullable=False),
        _time("uploaded_at"),
        sa.Column("uploaded_by", ID, nullable=True),
        sa.Column("active_for_all", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.PrimaryKeyConstraint("version", name=op.f("pk_models")),
    )
    op.create_index(op.f("ix_models_name"), "models", ["name"])
    op.create_index(
        "uq_models_one_active_for_all",
        "models",
        ["active_for_all"],
        unique=True,
        sqlite_where=sa.text("active_for_all = 1"),
        postgresql_where=sa.text("active_for_all = true"),
    )
    op.create_table(
        "model_activations",
        sa.Column("machine_id", ID, nullable=False),
        sa.Column("model_version", ID, nullable=False),
        _time("activated_at"),
        sa.Column("activated_by", ID, nullable=True),
        _fk("model_activations", "machine_id", "machines.id", ondelete="CASCADE"),
        _fk("model_activations", "model_version", "models.version", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("machine_id", name=op.f("pk_model_activations")),
    )
    op.create_index(
        op.f("ix_model_activations_model_version"), "model_activations", ["model_version"]
    )


def downgrade() -> None:
    for table in (
        "model_activations",
        "models",
        "images",
        "rolls",
        "roll_marks",
        "alarms",
        "heartbeats",
        "events",
        "login_sessions",
        "users",
        "cameras",
        "machines",
    ):
        op.drop_table(table)  # its indexes go with it
