"""Capture source settings: one model per kind, chosen by `type`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

STREAM_SCHEMES = ("rtsp", "rtsps", "http", "https")
DEFAULT_FILE_FPS = 25.0  # for realtime playback of a video whose file states no rate


class _Source(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str | None = Field(None, min_length=1, description="Shown in logs; made up if None.")


class UsbSourceConfig(_Source):
    type: Literal["usb"] = "usb"
    device: int = Field(0, ge=0, description="Camera index (/dev/videoN on Linux).")
    width_px: int | None = Field(None, gt=0)
    height_px: int | None = Field(None, gt=0)
    fps: float | None = Field(None, gt=0)


class StreamSourceConfig(_Source):
    type: Literal["stream"] = "stream"
    url: str = Field(description="rtsp://, rtsps://, http:// or https:// (e.g. an MJPEG stream).")
    open_timeout_s: float = Field(10.0, gt=0)
    read_timeout_s: float = Field(10.0, gt=0)

    @field_validator("url")
    @classmethod
    def _known_scheme(cls, url: str) -> str:
        scheme = urlsplit(url).scheme.lower()
        if scheme not in STREAM_SCHEMES or not urlsplit(url).netloc:
            raise ValueError(f"expected an URL of scheme {', '.join(STREAM_SCHEMES)}, got {url!r}")
        return url


class VideoSourceConfig(_Source):
    type: Literal["video"] = "video"
    path: Path
    loop: bool = False
    realtime: bool = Field(False, description="Play at `fps` like a camera; else as fast as read.")
    fps: float | None = Field(None, gt=0, description="Playback rate; None: the file's own.")


class FolderSourceConfig(_Source):
    type: Literal["folder"] = "folder"
    path: Path
    pattern: str = Field("*", min_length=1, description="Glob; only image suffixes are read.")
    loop: bool = False
    realtime: bool = False
    fps: float = Field(5.0, gt=0)


class SyntheticSourceConfig(_Source):
    """The moving web: frames `speed_m_per_min / 60 / fps` metres apart (overlap if shorter)."""

    type: Literal["synthetic"] = "synthetic"
    seed: int = 0
    width_px: int = Field(1024, gt=0)
    frame_height_px: int = Field(512, gt=0)
    mm_per_px: float = Field(0.1, gt=0)
    speed_m_per_min: float = Field(30.0, gt=0)
    fps: float = Field(10.0, gt=0)
    defects_per_100m: float = Field(20.0, ge=0)
    start_m: float = Field(0.0, ge=0)
    max_frames: int | None = Field(None, gt=0, description="End after so many; None: endless.")
    grayscale: bool | None = Field(None, description="A mono camera; None: as the seed draws.")
    realtime: bool = False
    dropout_every_s: float | None = Field(
        None,
        gt=0,
        description="A faulty camera: lost every so many seconds; None: never.",
    )
    dropout_s: float = Field(3.0, gt=0, description="How long each loss lasts.")
    moving_since_unix_s: float | None = Field(
        None,
        description="The loom's clock (realtime only): the web has moved at speed_m_per_min since "
        "this Unix time whether a camera watched or not, so each frame shows the fabric under the "
        "camera now and a restarted agent goes on where the web is. None: the web waits for reads.",
    )
    offline_while_exists: Path | None = Field(
        None,
        description="A scripted fault: while this file exists the camera gives no frames, as if "
        "its cable were pulled.",
    )

    @model_validator(mode="after")
    def _dropout_shorter_than_its_period(self) -> SyntheticSourceConfig:
        if self.dropout_every_s is not None and self.dropout_s >= self.dropout_every_s:
            raise ValueError(
                f"dropout_s must be shorter than dropout_every_s, got {self.dropout_s} s "
                f"every {self.dropout_every_s} s"
            )
        return self

    @model_validator(mode="after")
    def _loom_clock_is_realtime(self) -> SyntheticSourceConfig:
        if self.moving_since_unix_s is not None and not self.realtime:
            raise ValueError("moving_since_unix_s needs realtime: true (frames paced by the clock)")
        return self


SourceConfig = Annotated[
    UsbSourceConfig
    | StreamSourceConfig
    | VideoSourceConfig
    | FolderSourceConfig
    | SyntheticSourceConfig,
    Field(discriminator="type"),
]


def is_live(config: SourceConfig) -> bool:
    """Whether frames come at the source's pace (cameras, streams, realtime playback)."""
    return isinstance(config, UsbSourceConfig | StreamSourceConfig) or config.realtime
