"""Bulk `INSERT ... ON CONFLICT DO NOTHING` for SQLite and PostgreSQL: one statement per call,
safe when the same rows are inserted concurrently, and telling which rows were new."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import DeclarativeBase, Session


def insert_new(
    session: Session,
    table: type[DeclarativeBase],
    rows: Sequence[dict[str, Any]],
    key: str | None,
) -> list[Any]:
    """Insert ROWS into TABLE, skipping those whose primary key is stored already. Returns the KEY
    column of the rows that were new (an empty list when KEY is None).

    Sort ROWS by key beforehand: PostgreSQL then takes row locks in one order in every
    transaction, and two batches that overlap cannot deadlock.
    """
    if not rows:
        return []
    dialect = session.get_bind().dialect.name
    core_table = cast(Table, table.__table__)
    statement: sqlite.Insert | postgresql.Insert
    if dialect == "sqlite":
        statement = sqlite.insert(core_table).on_conflict_do_nothing()
    elif dialect == "postgresql":
        statement = postgresql.insert(core_table).on_conflict_do_nothing()
    else:
        raise RuntimeError(f"bulk insert supports sqlite and postgresql, not {dialect}")
    if key is None:
        session.execute(statement, rows)
        return []
    return list(session.scalars(statement.returning(core_table.c[key]), rows))
