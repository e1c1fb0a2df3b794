"""Capture sources: one config model per kind (chosen by `type`), each behind `FrameSource`.

`read()` returns the next `Frame`, None once a finite source has ended for good, raises `SourceLost`
when the source cannot deliver (camera unplugged, stream down, folder gone; open again later) and
`BadFrameError` for one unusable image (the next read may be fine). `open()` does nothing on an open
source, `close()` nothing on a closed one; indexes go on across a close and reopen.
USB cameras, streams and video files go through `cv2.VideoCapture`; folders through `cv2.imdecode`;
the synthetic source renders `MovingWeb` frames and fills `top_m` exactly.
"""

from __future__ import annotations

from typing import assert_never

from loomsight.camera.frames import SYSTEM_CLOCK, Clock
from loomsight.camera.sources.base import CountsSkipped, FrameSource, redact_url
from loomsight.camera.sources.config import (
    FolderSourceConfig,
    SourceConfig,
    StreamSourceConfig,
    SyntheticSourceConfig,
    UsbSourceConfig,
    VideoSourceConfig,
    is_live,
)
from loomsight.camera.sources.folder import FolderSource
from loomsight.camera.sources.opencv import StreamSource, UsbSource, VideoSource
from loomsight.camera.sources.synthetic import SyntheticSource

__all__ = [
    "CountsSkipped",
    "FolderSource",
    "FolderSourceConfig",
    "FrameSource",
    "SourceConfig",
    "StreamSource",
    "StreamSourceConfig",
    "SyntheticSource",
    "SyntheticSourceConfig",
    "UsbSource",
    "UsbSourceConfig",
    "VideoSource",
    "VideoSourceConfig",
    "is_live",
    "make_source",
    "open_source",
    "redact_url",
]


def make_source(config: SourceConfig, clock: Clock = SYSTEM_CLOCK) -> FrameSource:
    """The source `config` describes, not opened yet (`Capture` opens it, again after a loss)."""
    match config:
        case UsbSourceConfig():
            return UsbSource(config, clock)
        case StreamSourceConfig():
            return StreamSource(config, clock)
        case VideoSourceConfig():
            return VideoSource(config, clock)
        case FolderSourceConfig():
            return FolderSource(config, clock)
        case SyntheticSourceConfig():
            return SyntheticSource(config, clock)
        case _:
            assert_never(config)


def open_source(config: SourceConfig, clock: Clock = SYSTEM_CLOCK) -> FrameSource:
    """The source `config` describes, opened; SourceLost if it cannot be."""
    source = make_source(config, clock)
    source.open()
    return source
