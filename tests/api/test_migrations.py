"""The migrations create exactly the tables the models describe, on SQLite and PostgreSQL, and
can be undone and redone."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from loomsight.api.database import make_engine
from loomsight.api.migrate import current_revision, downgrade_to, head_revision, upgrade_to_head
from loomsight.api.tables import Base


def test_the_migrations_match_the_models_and_go_both_ways(database_url: str) -> None:
    engine = make_engine(database_url, pool_size=1)
    try:
        assert current_revision(engine) is None
        assert upgrade_to_head(engine) == head_revision() == current_revision(engine)
        upgrade_to_head(engine)  # again: nothing to do
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, Base.metadata) == []
        tables = set(inspect(engine).get_table_names())
        assert set(Base.metadata.tables) | {"alembic_version"} == tables

        downgrade_to(engine, "base")
        assert set(inspect(engine).get_table_names()) == {"alembic_version"}
        upgrade_to_head(engine)
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()


def test_indexes_for_rates_per_machine_and_time_exist(database_url: str) -> None:
    engine = make_engine(database_url, pool_size=1)
    try:
        upgrade_to_head(engine)
        indexes = {
            table: {tuple(i["column_names"]) for i in inspect(engine).get_indexes(table)}
            for table in ("events", "heartbeats")
        }
        assert ("machine_id", "detected_at") in indexes["events"]
        assert ("machine_id", "period_start") in indexes["heartbeats"]
    finally:
        engine.dispose()


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path: object) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/wal.db", pool_size=1)
    try:
        with engine.connect() as connection:
            assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
    finally:
        engine.dispose()
