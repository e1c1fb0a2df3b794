"""The agent's settings: one YAML file (`loomsight inspect --config FILE`), environment overrides.

Environment variables LOOMSIGHT_AGENT_<FIELD> override the file, nested fields joined by `__`
(e.g. LOOMSIGHT_AGENT_API__TOKEN keeps the camera token out of the file).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PositiveFloat,
    SecretStr,
    ValidationError,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from loomsight.camera.alarms import AlarmConfig
from loomsight.camera.calibration import Calibration, DefectSizeFilter
from loomsight.camera.capture import CaptureConfig
from loomsight.camera.dedup import DedupConfig
from loomsight.camera.snapshots import SnapshotOptions
from loomsight.camera.sources import SourceConfig
from loomsight.camera.uploader import UploaderSettings
from loomsight.errors import ConfigError
from loomsight.inference.detector import DetectorOptions
from loomsight.schema import Identifier


class ModelSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str = Field("default", description="Registry name in weights_dir, or an .onnx path.")
    weights_dir: Path = Path("weights")
    article: str | None = Field(
        None,
        description="The article now running: the model `loomsight calibrate` recorded for this "
        "machine and article (weights_dir/articles.json) is used instead of `model` if any.",
    )
    int8: bool = Field(False, description="Run the registry model's int8 copy when it has one.")
    texture_anomaly: bool = Field(
        True,
        description="Also run the article's texture-anomaly model when the model has one "
        "(texture.npz beside the ONNX file, written by `loomsight calibrate`, or announced by "
        "the API with the model): what the detector did not report and the cloth's texture "
        "shows becomes an `anomaly` event.",
    )
    threads: int = Field(2, ge=1, description="onnxruntime threads.")
    options: DetectorOptions = Field(default_factory=DetectorOptions)
    model_mm_per_px: PositiveFloat | None = Field(
        None,
        description="The scale of the cloth the model learnt: frames are resampled from the "
        "calibration's mm per pixel to this before detection (a camera at 0.05 mm/px feeding a "
        "model of 0.1 runs on frames of half the size); None: frames as the camera gives them.",
    )

    @model_validator(mode="after")
    def _one_image_scale(self) -> ModelSettings:
        if self.model_mm_per_px is not None and self.options.image_scale != 1.0:
            raise ValueError(
                "set detector.model_mm_per_px or detector.options.image_scale, not both"
            )
        return self


class OutboxSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: Path = Path("outbox/outbox.sqlite")
    max_disk_mb: float = Field(2048.0, gt=0)


class ApiSettings(BaseModel):
    """Where events go. Without a url the agent inspects and fills the outbox only."""

    model_config = ConfigDict(extra="forbid")

    url: str | None = None
    token: SecretStr | None = None
    uploader: UploaderSettings = Field(default_factory=UploaderSettings)
    model_poll_s: float = Field(60.0, ge=0, description="Ask for the active model; 0: never.")
    models_dir: Path = Path("outbox/models")

    @model_validator(mode="after")
    def _token_with_url(self) -> ApiSettings:
        if self.url is not None and not (self.token and self.token.get_secret_value()):
            raise ValueError("api.url needs api.token (or LOOMSIGHT_AGENT_API__TOKEN)")
        return self


class AgentSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="LOOMSIGHT_AGENT_", env_nested_delimiter="__", extra="forbid"
    )

    machine_id: Identifier
    camera_id: Identifier
    source: SourceConfig
    calibration: Calibration
    capture: CaptureConfig = Field(default_factory=CaptureConfig)
    detector: ModelSettings = Field(default_factory=ModelSettings)
    size_filter: DefectSizeFilter = Field(default_factory=DefectSizeFilter)
    dedup: DedupConfig = Field(default_factory=DedupConfig)
    snapshots: SnapshotOptions = Field(default_factory=SnapshotOptions)
    outbox: OutboxSettings = Field(default_factory=OutboxSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    alarms: AlarmConfig = Field(default_factory=AlarmConfig)
    heartbeat_s: float = Field(10.0, gt=0, description="Heartbeat period.")
    metrics_port: int | None = Field(9464, ge=0, le=65535, description="/metrics; None: off.")
    metrics_host: str = "127.0.0.1"
    flush_timeout_s: float = Field(10.0, ge=0, description="Sending what is left at shutdown.")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return env_settings, init_settings  # the environment overrides the file


def load_settings(path: Path | None, overrides: dict[str, Any] | None = None) -> AgentSettings:
    """Settings from the YAML file at PATH (if any) with OVERRIDES (nested dicts) on top;
    ConfigError naming the file and the fields that are wrong."""
    content: dict[str, Any] = {}
    if path is not None:
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        except OSError as error:
            raise ConfigError(f"{path}: cannot read the agent config ({error})") from None
        except yaml.YAMLError as error:
            raise ConfigError(f"{path}: not valid YAML ({error})") from None
        if not isinstance(loaded, dict):
            raise ConfigError(
                f"{path}: expected a mapping of settings, got {type(loaded).__name__}"
            )
        content = loaded
    merged = _merge(content, overrides or {})
    try:
        return AgentSettings(**merged)
    except ValidationError as error:
        where = str(path) if path is not None else "agent settings"
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg']}" for e in error.errors()
        )
        raise ConfigError(f"{where}: {problems}") from None


def _merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged
