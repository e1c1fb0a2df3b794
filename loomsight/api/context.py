"""What one app instance holds: settings, database engine and sessions, blob store, metrics,
clock. Built by `create_app`; routes reach it only through the dependencies in `deps.py`."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from loomsight.api.clock import Clock, utc_now
from loomsight.api.database import make_engine, make_session_factory
from loomsight.api.metrics import ApiMetrics
from loomsight.api.migrate import head_revision
from loomsight.api.settings import ApiSettings
from loomsight.api.storage import BlobStore, LocalFolderStore


@dataclass(frozen=True)
class AppContext:
    settings: ApiSettings
    engine: Engine
    sessions: sessionmaker[Session]
    store: BlobStore
    metrics: ApiMetrics
    clock: Clock
    head_revision: str


def build_context(
    settings: ApiSettings,
    clock: Clock = utc_now,
    store: BlobStore | None = None,
) -> AppContext:
    """The context for SETTINGS; the engine connects lazily (nothing is opened here)."""
    engine = make_engine(settings.database_url, settings.db_pool_size)
    return AppContext(
        settings=settings,
        engine=engine,
        sessions=make_session_factory(engine),
        store=store or LocalFolderStore(settings.storage_dir),
        metrics=ApiMetrics(),
        clock=clock,
        head_revision=head_revision(),
    )
