"""Alembic environment: runs on the connection that `loomsight.api.migrate` hands over, or on
`sqlalchemy.url` from the config when Alembic's own command line is used."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from loomsight.api.database import make_engine
from loomsight.api.tables import Base

config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=True,  # SQLite alters tables by copying them
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _run_online() -> None:
    connection = config.attributes.get("connection")
    if isinstance(connection, Connection):
        _run(connection)
        return
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no connection given and no sqlalchemy.url in the Alembic config")
    engine = make_engine(url, pool_size=1)
    try:
        with engine.begin() as connection:
            _run(connection)
    finally:
        engine.dispose()


def _run_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=Base.metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    _run_offline()
else:
    _run_online()
