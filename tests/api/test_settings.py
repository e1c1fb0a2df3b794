"""Settings: defaults under the data folder, the LOOMSIGHT_API_ environment, unsafe values refused
with the reason."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from loomsight.api.settings import ApiSettings


def test_defaults_put_the_database_and_storage_under_the_data_folder(tmp_path: Path) -> None:
    settings = ApiSettings(data_dir=tmp_path)

    assert settings.database_url == f"sqlite:///{tmp_path / 'loomsight.db'}"
    assert settings.storage_dir == tmp_path / "storage"
    assert settings.is_sqlite


def test_the_environment_sets_fields(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LOOMSIGHT_API_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("LOOMSIGHT_API_MAX_IMAGE_BYTES", "1000")
    monkeypatch.setenv("LOOMSIGHT_API_DATABASE_URL", "postgresql+psycopg://u:p@db/loomsight")

    settings = ApiSettings()

    assert settings.max_image_bytes == 1000
    assert settings.storage_dir == tmp_path / "storage"
    assert not settings.is_sqlite


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"database_url": "postgresql://u@db/x"}, "psycopg"),
        ({"database_url": "mysql+pymysql://u@db/x"}, "psycopg"),
        ({"database_url": "loomsight.db"}, "must start with"),
        ({"database_url": "sqlite:///:memory:"}, "in-memory"),
        ({"database_url": "sqlite:///file:x?mode=memory&uri=true"}, "in-memory"),
        ({"max_body_bytes": 0}, "greater than 0"),
        ({"max_image_bytes": 10**9}, "less than or equal"),
        ({"session_ttl_s": 10**9}, "less than or equal"),
        ({"metrics_token": "short"}, "at least 16"),
        ({"colour": "red"}, "Extra inputs"),
    ],
)
def test_unsafe_values_are_refused_with_the_reason(
    tmp_path: Path, fields: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        ApiSettings(data_dir=tmp_path, **fields)
