"""`loomsight serve`: run the API; `loomsight api migrate | create-admin | add-machine |
add-camera`: set up its database from the shell.

Settings come from the environment (LOOMSIGHT_API_*, see `loomsight.api.settings`); by default a
SQLite file and a storage folder under ./data.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from enum import StrEnum
from typing import TYPE_CHECKING

import typer
from pydantic import ValidationError

from loomsight.errors import ConfigError

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from loomsight.api.settings import ApiSettings

logger = logging.getLogger(__name__)

ADMIN_PASSWORD_ENV = "LOOMSIGHT_ADMIN_PASSWORD"
FIRST_ADMIN_HINT = (
    "no admin user yet: create one with `loomsight api create-admin NAME` "
    f"(the password is read from {ADMIN_PASSWORD_ENV} or asked for)"
)

api_app = typer.Typer(
    help="Set up the API's database: migrate it, create the first admin, add machines and cameras.",
    no_args_is_help=True,
)


class LogFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


def load_settings() -> ApiSettings:
    """The API settings from the environment; ConfigError naming the variable if one is bad."""
    try:
        from loomsight.api.settings import ApiSettings
    except ImportError as error:
        raise ConfigError(
            f"the API needs the api extra: pip install 'loomsight[api]' ({error})"
        ) from None
    try:
        return ApiSettings()
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(part) for part in first["loc"])
        where = f"LOOMSIGHT_API_{field.upper()}" if field else "LOOMSIGHT_API_*"
        raise ConfigError(f"{where}: {first['msg'].removeprefix('Value error, ')}") from None


def _migrated_engine(settings: ApiSettings, migrate: bool = True) -> Engine:
    from loomsight.api.database import make_engine
    from loomsight.api.migrate import upgrade_to_head

    engine = make_engine(settings.database_url, pool_size=1)
    if migrate:
        upgrade_to_head(engine)
    return engine


def _use_json_logs() -> None:
    from loomsight.api.logs import JsonLogFormatter

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLogFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    if root.level == logging.NOTSET or root.level > logging.INFO:
        root.setLevel(logging.INFO)  # the access log is at INFO


def serve_command(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="Port to listen on."),
    migrate: bool = typer.Option(
        True, "--migrate/--no-migrate", help="Upgrade the database to the newest schema first."
    ),
    log_format: LogFormat = typer.Option(
        LogFormat.TEXT, "--log-format", help="text, or json: one JSON object per log line."
    ),
) -> None:
    """Run the loomsight API until Ctrl-C: ingest from cameras, images, models.

    Settings come from LOOMSIGHT_API_* (DATABASE_URL, DATA_DIR, STORAGE_DIR, MAX_BODY_BYTES...);
    by default a SQLite file and a storage folder under ./data.
    """
    settings = load_settings()
    import uvicorn
    from sqlalchemy.exc import SQLAlchemyError
    from sqlalchemy.orm import Session

    from loomsight.api.app import create_app
    from loomsight.api.clock import utc_now
    from loomsight.api.services.users import UserService

    if log_format is LogFormat.JSON:
        _use_json_logs()
    engine = _migrated_engine(settings, migrate)
    try:
        with Session(engine) as session:
            has_admin = UserService(session, utc_now).has_admin()
    except SQLAlchemyError as error:
        raise ConfigError(
            f"cannot read the users of {engine.url.render_as_string()}: "
            f"{str(error).splitlines()[0]} (is the database migrated? drop --no-migrate)"
        ) from None
    finally:
        engine.dispose()
    if not has_admin:
        typer.echo(FIRST_ADMIN_HINT, err=True)
    typer.echo(
        f"loomsight API on http://{host}:{port} (OpenAPI docs at /docs); database "
        f"{engine.url.render_as_string()}, storage {settings.storage_dir}",
        err=True,
    )
    uvicorn.run(create_app(settings), host=host, port=port, log_config=None, access_log=False)


@api_app.command("migrate")
def migrate_command() -> None:
    """Upgrade the API database to the newest schema (`loomsight serve` does this too)."""
    from loomsight.api.migrate import head_revision

    _migrated_engine(load_settings()).dispose()
    typer.echo(f"database at revision {head_revision()}")


def _admin_password() -> str:
    password = os.environ.get(ADMIN_PASSWORD_ENV)
    if password is None:
        if not sys.stdin.isatty():
            raise ConfigError(f"no terminal to ask for the password: set {ADMIN_PASSWORD_ENV}")
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    return str(password)


@api_app.command("create-admin")
def create_admin_command(
    name: str = typer.Argument(..., help="The admin's username."),
) -> None:
    """Create an admin user (migrating the database first). The password comes from
    LOOMSIGHT_ADMIN_PASSWORD, or is asked for twice."""
    from sqlalchemy.orm import Session

    from loomsight.api.clock import utc_now
    from loomsight.api.params import IDENTIFIER_PATTERN
    from loomsight.api.services.users import UserService

    if len(name) > 64 or not re.fullmatch(IDENTIFIER_PATTERN, name):
        raise ConfigError(f"a username is 1-64 letters, digits or ._:@+-, got {name!r}")
    password = _admin_password()
    engine = _migrated_engine(load_settings())
    try:
        with Session(engine) as session:
            UserService(session, utc_now).create(name, password, "admin")
    finally:
        engine.dispose()
    typer.echo(f"admin {name!r} created; log in at POST /api/v1/auth/token")


@api_app.command("add-machine")
def add_machine_command(
    machine_id: str = typer.Argument(..., help="Machine id (what cameras send as machine_id)."),
    name: str = typer.Option(..., "--name", help="Human name of the machine."),
    line: str | None = typer.Option(None, "--line", help="Production line."),
    article: str | None = typer.Option(None, "--article", help="Fabric article now running."),
    web_width_mm: float | None = typer.Option(None, "--web-width-mm", help="Web width, mm."),
) -> None:
    """Register a machine."""
    from sqlalchemy.orm import Session

    from loomsight.api.clock import utc_now
    from loomsight.api.schemas import MachineCreate
    from loomsight.api.services.machines import MachineService

    try:
        new = MachineCreate(
            id=machine_id, name=name, line=line, article=article, web_width_mm=web_width_mm
        )
    except ValidationError as error:
        first = error.errors()[0]
        raise ConfigError(f"{first['loc'][0]}: {first['msg']}") from None
    engine = _migrated_engine(load_settings())
    try:
        with Session(engine) as session:
            MachineService(session, utc_now).create(new)
    finally:
        engine.dispose()
    typer.echo(f"machine {machine_id!r} registered")


@api_app.command("add-camera")
def add_camera_command(
    machine_id: str = typer.Argument(..., help="The machine the camera watches."),
    camera_id: str = typer.Argument(..., help="Camera id (what it sends as camera_id)."),
) -> None:
    """Add a camera to a machine and print its token (shown this once; only its hash is kept)."""
    from sqlalchemy.orm import Session

    from loomsight.api.clock import utc_now
    from loomsight.api.schemas import CameraCreate
    from loomsight.api.services.machines import MachineService

    try:
        CameraCreate(id=camera_id)
    except ValidationError as error:
        raise ConfigError(f"camera id: {error.errors()[0]['msg']}") from None
    engine = _migrated_engine(load_settings())
    try:
        with Session(engine) as session:
            _camera, token = MachineService(session, utc_now).add_camera(machine_id, camera_id)
    finally:
        engine.dispose()
    typer.echo(token)


@api_app.command("prune-images")
def prune_images_command(
    older_than_days: float = typer.Option(
        ..., "--older-than-days", min=0, help="Delete images stored more than this many days ago."
    ),
) -> None:
    """Delete old images from storage (run it daily, e.g. from cron); events are kept."""
    from datetime import timedelta

    from sqlalchemy.orm import Session

    from loomsight.api.clock import utc_now
    from loomsight.api.services.retention import prune_images
    from loomsight.api.storage import LocalFolderStore

    settings = load_settings()
    engine = _migrated_engine(settings)
    try:
        with Session(engine) as session:
            cutoff = utc_now() - timedelta(days=older_than_days)
            result = prune_images(session, LocalFolderStore(settings.storage_dir), cutoff)
    finally:
        engine.dispose()
    typer.echo(
        f"deleted {result.images_deleted} images ({result.bytes_freed / 1e6:.1f} MB) stored "
        f"before {cutoff:%Y-%m-%d %H:%M} UTC; events kept"
    )
