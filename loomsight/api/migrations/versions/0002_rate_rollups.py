"""Hourly rollups for rates (event_hours, heartbeat_hours) kept by triggers; who entered a manual
roll mark (roll_marks.entered_by).

A rate query over a month of one busy machine would otherwise group a million event rows (about
a second on SQLite). The rollups hold one row per machine, UTC hour and key; triggers on events
and heartbeats keep them exact on insert, update (a verdict) and delete, whoever writes. SQLite
runs row triggers; PostgreSQL statement triggers with transition tables (one grouped upsert per
statement, keys in order: concurrent batches take row locks in the same order).

Heartbeat deletions subtract the amounts but leave first_start_s/last_end_s as they were (a
minimum cannot be undone without a rescan); a row whose heartbeats all went is removed.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.String(length=64)
EVENT_KEY = "machine_id, hour_index, model_version, class_name, review_state, review_class"
HEARTBEAT_KEY = "machine_id, hour_index, camera_id, model_version"
HEARTBEAT_AMOUNTS = ("inspected_m", "inspected_m2", "skipped_m", "skipped_m2")
HEARTBEAT_COLUMNS = (
    f"{HEARTBEAT_KEY}, heartbeats, {', '.join(HEARTBEAT_AMOUNTS)}, covered_s, first_start_s, "
    "last_end_s"
)


def _state(row: str) -> str:
    return f"coalesce({row}verdict, 'unreviewed')"


def _review_class(row: str) -> str:
    return (
        f"CASE WHEN {row}verdict = 'relabelled' THEN coalesce({row}corrected_class, "
        f"{row}class_name) ELSE {row}class_name END"
    )


# SQLite keeps times as text 'YYYY-MM-DD HH:MM:SS.ffffff' (UTC).
def _sqlite_hour(column: str) -> str:
    seconds = f"CAST(strftime('%s', {column}) AS INTEGER)"
    return f"(({seconds} - ((({seconds}) % 3600) + 3600) % 3600) / 3600)"


def _sqlite_epoch(column: str) -> str:  # exact to the microsecond
    return f"(CAST(strftime('%s', {column}) AS REAL) + CAST(substr({column}, 20) AS REAL))"


def _pg_hour(column: str) -> str:
    return f"floor(extract(epoch FROM {column}) / 3600)::bigint"


def _pg_epoch(column: str) -> str:
    return f"extract(epoch FROM {column})::double precision"


def _event_values(row: str, hour: str) -> str:
    return (
        f"{row}machine_id, {hour}, {row}model_version, {row}class_name, {_state(row)}, "
        f"{_review_class(row)}"
    )


def _heartbeat_values(row: str, hour: str, epoch: str, count: str) -> str:
    start, end = f"{row}period_start", f"{row}period_end"
    return (
        f"{row}machine_id, {hour}, {row}camera_id, coalesce({row}model_version, ''), {count}, "
        f"{', '.join(row + a for a in HEARTBEAT_AMOUNTS)}, "
        f"{epoch.format(end)} - {epoch.format(start)}, {epoch.format(start)}, {epoch.format(end)}"
    )


def _sqlite_statements() -> list[str]:
    def hour_of(row: str, column: str) -> str:
        return _sqlite_hour(f"{row}{column}")

    event_add = (
        f"INSERT INTO event_hours ({EVENT_KEY}, events) "
        f"VALUES ({_event_values('NEW.', hour_of('NEW.', 'detected_at'))}, 1) "
        f"ON CONFLICT ({EVENT_KEY}) DO UPDATE SET events = events + 1;"
    )
    event_remove = (
        "UPDATE event_hours SET events = events - 1 WHERE "
        f"({EVENT_KEY}) = ({_event_values('OLD.', hour_of('OLD.', 'detected_at'))});"
    )
    epoch = _sqlite_epoch("{0}")
    new_heartbeat = _heartbeat_values("NEW.", hour_of("NEW.", "period_start"), epoch, "1")
    sums = ", ".join(f"{a} = {a} + excluded.{a}" for a in (*HEARTBEAT_AMOUNTS, "covered_s"))
    heartbeat_add = (
        f"INSERT INTO heartbeat_hours ({HEARTBEAT_COLUMNS}) VALUES ({new_heartbeat}) "
        f"ON CONFLICT ({HEARTBEAT_KEY}) DO UPDATE SET heartbeats = heartbeats + 1, {sums}, "
        "first_start_s = min(first_start_s, excluded.first_start_s), "
        "last_end_s = max(last_end_s, excluded.last_end_s);"
    )
    old_key = (
        f"({HEARTBEAT_KEY}) = (OLD.machine_id, {hour_of('OLD.', 'period_start')}, "
        "OLD.camera_id, coalesce(OLD.model_version, ''))"
    )
    differences = ", ".join(f"{a} = {a} - OLD.{a}" for a in HEARTBEAT_AMOUNTS)
    covered = f"{epoch.format('OLD.period_end')} - {epoch.format('OLD.period_start')}"
    heartbeat_remove = (
        f"UPDATE heartbeat_hours SET heartbeats = heartbeats - 1, {differences}, "
        f"covered_s = covered_s - ({covered}) WHERE {old_key}; "
        f"DELETE FROM heartbeat_hours WHERE {old_key} AND heartbeats <= 0;"
    )
    event_columns = "machine_id, detected_at, model_version, class_name, verdict, corrected_class"
    heartbeat_columns = "machine_id, camera_id, period_start, period_end, model_version, " + (
        ", ".join(HEARTBEAT_AMOUNTS)
    )
    return [
        f"CREATE TRIGGER event_hours_insert AFTER INSERT ON events BEGIN {event_add} END",
        f"CREATE TRIGGER event_hours_delete AFTER DELETE ON events BEGIN {event_remove} END",
        f"CREATE TRIGGER event_hours_update AFTER UPDATE OF {event_columns} ON events "
        f"BEGIN {event_remove} {event_add} END",
        f"CREATE TRIGGER heartbeat_hours_insert AFTER INSERT ON heartbeats "
        f"BEGIN {heartbeat_add} END",
        f"CREATE TRIGGER heartbeat_hours_delete AFTER DELETE ON heartbeats "
        f"BEGIN {heartbeat_remove} END",
        f"CREATE TRIGGER heartbeat_hours_update AFTER UPDATE OF {heartbeat_columns} ON heartbeats "
        f"BEGIN {heartbeat_remove} {heartbeat_add} END",
    ]


def _pg_event_add(rows: str) -> str:
    return (
        f"INSERT INTO event_hours AS h ({EVENT_KEY}, events) "
        f"SELECT {_event_values('', _pg_hour('detected_at'))}, count(*) FROM {rows} "
        "GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 1, 2, 3, 4, 5, 6 "
        f"ON CONFLICT ({EVENT_KEY}) DO UPDATE SET events = h.events + excluded.events;"
    )


def _pg_event_remove(rows: str) -> str:
    return (
        "UPDATE event_hours AS h SET events = h.events - r.events FROM ("
        f"SELECT {_event_values('', _pg_hour('detected_at'))}, count(*) AS events FROM {rows} "
        "GROUP BY 1, 2, 3, 4, 5, 6) AS r "
        f"(machine_id, hour_index, model_version, class_name, review_state, review_class, events) "
        f"WHERE (h.machine_id, h.hour_index, h.model_version, h.class_name, h.review_state, "
        "h.review_class) = (r.machine_id, r.hour_index, r.model_version, r.class_name, "
        "r.review_state, r.review_class);"
    )


def _pg_heartbeat_add(rows: str) -> str:
    epoch = _pg_epoch("{0}")
    sums = ", ".join(f"sum({a})" for a in HEARTBEAT_AMOUNTS)
    updates = ", ".join(
        f"{a} = h.{a} + excluded.{a}" for a in ("heartbeats", *HEARTBEAT_AMOUNTS, "covered_s")
    )
    return (
        f"INSERT INTO heartbeat_hours AS h ({HEARTBEAT_COLUMNS}) "
        f"SELECT machine_id, {_pg_hour('period_start')}, camera_id, coalesce(model_version, ''), "
        f"count(*), {sums}, sum({epoch.format('period_end')} - {epoch.format('period_start')}), "
        f"min({epoch.format('period_start')}), max({epoch.format('period_end')}) FROM {rows} "
        "GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4 "
        f"ON CONFLICT ({HEARTBEAT_KEY}) DO UPDATE SET {updates}, "
        "first_start_s = least(h.first_start_s, excluded.first_start_s), "
        "last_end_s = greatest(h.last_end_s, excluded.last_end_s);"
    )


def _pg_heartbeat_remove(rows: str) -> str:
    epoch = _pg_epoch("{0}")
    sums = ", ".join(f"sum({a})" for a in HEARTBEAT_AMOUNTS)
    updates = ", ".join(f"{a} = h.{a} - r.{a}" for a in ("heartbeats", *HEARTBEAT_AMOUNTS))
    key_match = (
        "(h.machine_id, h.hour_index, h.camera_id, h.model_version) = "
        "(r.machine_id, r.hour_index, r.camera_id, r.model_version)"
    )
    return (
        f"UPDATE heartbeat_hours AS h SET {updates}, covered_s = h.covered_s - r.covered_s FROM ("
        f"SELECT machine_id, {_pg_hour('period_start')}, camera_id, coalesce(model_version, ''), "
        f"count(*), {sums}, sum({epoch.format('period_end')} - {epoch.format('period_start')}) "
        f"FROM {rows} GROUP BY 1, 2, 3, 4) AS r ({HEARTBEAT_KEY}, heartbeats, "
        f"{', '.join(HEARTBEAT_AMOUNTS)}, covered_s) WHERE {key_match}; "
        "DELETE FROM heartbeat_hours AS h USING (SELECT DISTINCT machine_id, "
        f"{_pg_hour('period_start')}, camera_id, coalesce(model_version, '') FROM {rows}) AS r "
        f"({HEARTBEAT_KEY}) WHERE {key_match} AND h.heartbeats <= 0;"
    )


def _pg_function(name: str, body: str) -> str:
    return (
        f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ "
        f"BEGIN {body} RETURN NULL; END $$"
    )


def _pg_statements() -> list[str]:
    functions = {
        "event_hours_on_insert": _pg_event_add("added"),
        "event_hours_on_delete": _pg_event_remove("removed"),
        "event_hours_on_update": _pg_event_remove("removed") + " " + _pg_event_add("added"),
        "heartbeat_hours_on_insert": _pg_heartbeat_add("added"),
        "heartbeat_hours_on_delete": _pg_heartbeat_remove("removed"),
        "heartbeat_hours_on_update": _pg_heartbeat_remove("removed")
        + " "
        + _pg_heartbeat_add("added"),
    }
    transition = {
        "insert": "NEW TABLE AS added",
        "delete": "OLD TABLE AS removed",
        "update": "OLD TABLE AS removed NEW TABLE AS added",
    }
    statements = [_pg_function(name, body) for name, body in functions.items()]
    for table, rollup in (("events", "event_hours"), ("heartbeats", "heartbeat_hours")):
        for action, referencing in transition.items():
            statements.append(
                f"CREATE TRIGGER {rollup}_{action} AFTER {action.upper()} ON {table} "
                f"REFERENCING {referencing} FOR EACH STATEMENT "
                f"EXECUTE FUNCTION {rollup}_on_{action}()"
            )
    return statements


def _backfill(dialect: str) -> list[str]:
    hour = _sqlite_hour if dialect == "sqlite" else _pg_hour
    epoch = (_sqlite_epoch if dialect == "sqlite" else _pg_epoch)("{0}")
    sums = ", ".join(f"sum({a})" for a in HEARTBEAT_AMOUNTS)
    return [
        f"INSERT INTO event_hours ({EVENT_KEY}, events) "
        f"SELECT {_event_values('', hour('detected_at'))}, count(*) FROM events "
        "GROUP BY 1, 2, 3, 4, 5, 6",
        f"INSERT INTO heartbeat_hours ({HEARTBEAT_COLUMNS}) "
        f"SELECT machine_id, {hour('period_start')}, camera_id, coalesce(model_version, ''), "
        f"count(*), {sums}, sum({epoch.format('period_end')} - {epoch.format('period_start')}), "
        f"min({epoch.format('period_start')}), max({epoch.format('period_end')}) FROM heartbeats "
        "GROUP BY 1, 2, 3, 4",
    ]


def upgrade() -> None:
    with op.batch_alter_table("roll_marks") as batch:
        batch.add_column(sa.Column("entered_by", ID, nullable=True))
    op.create_table(
        "event_hours",
        sa.Column("machine_id", ID, nullable=False),
        sa.Column("hour_index", sa.BigInteger(), nullable=False),
        sa.Column("model_version", ID, nullable=False),
        sa.Column("class_name", ID, nullable=False),
        sa.Column("review_state", sa.String(length=16), nullable=False),
        sa.Column("review_class", ID, nullable=False),
        sa.Column("events", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(*EVENT_KEY.split(", "), name=op.f("pk_event_hours")),
    )
    op.create_table(
        "heartbeat_hours",
        sa.Column("machine_id", ID, nullable=False),
        sa.Column("hour_index", sa.BigInteger(), nullable=False),
        sa.Column("camera_id", ID, nullable=False),
        sa.Column("model_version", ID, nullable=False),
        sa.Column("heartbeats", sa.BigInteger(), nullable=False),
        *(sa.Column(a, sa.Float(), nullable=False) for a in HEARTBEAT_AMOUNTS),
        sa.Column("covered_s", sa.Float(), nullable=False),
        sa.Column("first_start_s", sa.Float(), nullable=False),
        sa.Column("last_end_s", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint(*HEARTBEAT_KEY.split(", "), name=op.f("pk_heartbeat_hours")),
    )
    dialect = op.get_bind().dialect.name
    for statement in _backfill(dialect):
        op.execute(statement)
    for statement in _sqlite_statements() if dialect == "sqlite" else _pg_statements():
        op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for table, rollup in (("events", "event_hours"), ("heartbeats", "heartbeat_hours")):
        for action in ("insert", "delete", "update"):
            on_table = "" if dialect == "sqlite" else f" ON {table}"
            op.execute(f"DROP TRIGGER IF EXISTS {rollup}_{action}{on_table}")
            if dialect != "sqlite":
                op.execute(f"DROP FUNCTION IF EXISTS {rollup}_on_{action}()")
    op.drop_table("heartbeat_hours")
    op.drop_table("event_hours")
    with op.batch_alter_table("roll_marks") as batch:
        batch.drop_column("entered_by")
