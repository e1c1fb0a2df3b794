"""The API's settings: read once at the entry point (environment LOOMSIGHT_API_*), passed down.

Defaults run one box out of the box: a SQLite file and an image folder under `data_dir`. Values
that would lose data or expose the service are refused with the reason, e.g. an in-memory SQLite
database (each connection would see its own empty database) or a driver other than psycopg 3.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from loomsight.api.report_settings import ReportSettings
from loomsight.schema import MAX_IMAGE_BYTES

MIB = 1024 * 1024
SUPPORTED_SCHEMES = ("sqlite", "postgresql+psycopg")


class ApiSettings(BaseSettings):
    """Settings of `loomsight serve`; every field can be set as LOOMSIGHT_API_<FIELD>."""

    model_config = SettingsConfigDict(env_prefix="LOOMSIGHT_API_", extra="forbid")

    data_dir: Path = Field(Path("data"), description="Folder of the default database and storage.")
    database_url: str = Field(
        "",
        description="sqlite:///PATH or postgresql+psycopg://USER:PASSWORD@HOST/DB "
        "[default: sqlite file DATA_DIR/loomsight.db].",
    )
    storage_dir: Path = Field(
        Path(), description="Folder of images and model files [default: DATA_DIR/storage]."
    )
    max_body_bytes: int = Field(8 * MIB, gt=0, le=256 * MIB, description="Largest JSON body.")
    max_image_bytes: int = Field(MAX_IMAGE_BYTES, gt=0, le=64 * MIB, description="Largest image.")
    max_model_bytes: int = Field(
        512 * MIB, gt=0, le=4096 * MIB, description="Largest model upload (ONNX file and card)."
    )
    session_ttl_s: int = Field(
        12 * 3600, ge=60, le=30 * 24 * 3600, description="Life of a reviewer or admin login."
    )
    cookie_secure: bool = Field(
        False, description="Send the session cookie over HTTPS only (set behind a TLS proxy)."
    )
    db_pool_size: int = Field(10, ge=1, le=200, description="Database connections kept open.")
    reports: ReportSettings = Field(
        default_factory=ReportSettings,
        description="Shifts, coverage gap threshold, roll grades (JSON).",
    )
    metrics_token: SecretStr | None = Field(
        None, description="If set, GET /metrics needs `Authorization: Bearer <this>`."
    )

    @model_validator(mode="before")
    @classmethod
    def _defaults_under_data_dir(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data_dir = Path(data.get("data_dir") or "data")
        if not data.get("database_url"):
            data["database_url"] = f"sqlite:///{data_dir / 'loomsight.db'}"
        if not data.get("storage_dir"):
            data["storage_dir"] = data_dir / "storage"
        return data

    @field_validator("database_url")
    @classmethod
    def _supported_database(cls, url: str) -> str:
        scheme = url.split("://", 1)[0]
        if scheme not in SUPPORTED_SCHEMES or "://" not in url:
            raise ValueError(
                f"database_url must start with sqlite:/// or postgresql+psycopg://, got "
                f"{scheme!r}: PostgreSQL is reached through psycopg 3 only"
            )
        path = url.removeprefix("sqlite:///") if scheme == "sqlite" else "-"
        if path in ("", ":memory:") or "mode=memory" in path:
            raise ValueError(
                "database_url names an in-memory SQLite database: every connection would see "
                "its own empty database and everything would be lost; name a file"
            )
        return url

    @field_validator("metrics_token")
    @classmethod
    def _long_enough(cls, token: SecretStr | None) -> SecretStr | None:
        if token is not None and len(token.get_secret_value()) < 16:
            raise ValueError("metrics_token must be at least 16 characters (or unset)")
        return token

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")
