"""Calibration requests (calibrations): a QA engineer asks for a machine's model to be calibrated
for a new fabric article; the calibration worker on the machine's edge PC claims the request,
runs it and reports the result.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.String(length=64)
JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
PENDING = sa.text("status = 'pending'")


def _time(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "calibrations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("machine_id", ID, nullable=False),
        sa.Column("article", sa.String(length=200), nullable=False),
        sa.Column("length_m", sa.Float(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("requested_by", ID, nullable=False),
        _time("requested_at"),
        _time("started_at", nullable=True),
        _time("finished_at", nullable=True),
        sa.Column("model_version", ID, nullable=True),
        sa.Column("result", JSON_DOCUMENT, nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'running', 'done', 'failed')",
            name=op.f("ck_calibrations_status"),
        ),
        sa.CheckConstraint("length_m > 0", name=op.f("ck_calibrations_length_positive")),
        sa.ForeignKeyConstraint(
            ["machine_id"],
            ["machines.id"],
            name=op.f("fk_calibrations_machine_id_machines"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calibrations")),
    )
    op.create_index(
        "ix_calibrations_machine_requested", "calibrations", ["machine_id", "requested_at"]
    )
    op.create_index(
        "uq_calibrations_one_pending_per_article",
        "calibrations",
        ["machine_id", "article"],
        unique=True,
        sqlite_where=PENDING,
        postgresql_where=PENDING,
    )


def downgrade() -> None:
    op.drop_table("calibrations")  # its indexes go with it
