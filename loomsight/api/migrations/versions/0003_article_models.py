"""The model a machine runs while it weaves one article (article_models): a model calibrated for
one machine and one fabric article wins over the machine's own model and the model for all.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.String(length=64)


def upgrade() -> None:
    op.create_table(
        "article_models",
        sa.Column("machine_id", ID, nullable=False),
        sa.Column("article", sa.String(length=200), nullable=False),
        sa.Column("model_version", ID, nullable=False),
        sa.Column("activated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("activated_by", ID, nullable=True),
        sa.ForeignKeyConstraint(
            ["machine_id"],
            ["machines.id"],
            name=op.f("fk_article_models_machine_id_machines"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["model_version"],
            ["models.version"],
            name=op.f("fk_article_models_model_version_models"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("machine_id", "article", name=op.f("pk_article_models")),
    )
    op.create_index(op.f("ix_article_models_model_version"), "article_models", ["model_version"])


def downgrade() -> None:
    op.drop_table("article_models")  # its index goes with it
