"""USB cameras, RTSP/HTTP streams and video files through `cv2.VideoCapture`."""

from __future__ import annotations

import logging

import cv2

from loomsight.camera.frames import SYSTEM_CLOCK, Clock, Frame
from loomsight.camera.sources.base import Pacer, redact_url
from loomsight.camera.sources.config import (
    DEFAULT_FILE_FPS,
    StreamSourceConfig,
    UsbSourceConfig,
    VideoSourceConfig,
)
from loomsight.errors import SourceLost

log = logging.getLogger(__name__)


class _OpenCvSource:
    """A `cv2.VideoCapture` opened on demand; subclasses say how and what the end of reads means."""

    def __init__(self, name: str, clock: Clock) -> None:
        self._name = name
        self._clock = clock
        self._capture: cv2.VideoCapture | None = None
        self._index = 0

    @property
    def name(self) -> str:
        return self._name

    def _make(self) -> cv2.VideoCapture:
        raise NotImplementedError

    def open(self) -> None:
        if self._capture is not None:
            return
        try:
            capture = self._make()
            opened = bool(capture.isOpened())
        except cv2.error as exc:
            raise SourceLost(f"{self._name}: cannot open: {exc}") from exc
        if not opened:
            capture.release()
            raise SourceLost(f"{self._name}: cannot open ({self._hint()})")
        self._capture = capture
        log.info("opened %s", self._name)

    def _hint(self) -> str:
        return "is it connected and free?"

    def _grab(self) -> tuple[bool, object]:
        if self._capture is None:
            raise SourceLost(f"{self._name}: read before open() or after close()")
        try:
            ok, image = self._capture.read()
        except cv2.error as exc:
            raise SourceLost(f"{self._name}: read failed: {exc}") from exc
        return bool(ok), image

    def read(self) -> Frame | None:
        ok, image = self._grab()
        if not ok:
            raise SourceLost(f"{self._name}: no frame came (camera unplugged or stream down?)")
        return self._frame(image)

    def _frame(self, image: object) -> Frame:
        frame = Frame.stamped(image, index=self._index, source_name=self._name, clock=self._clock)
        self._index += 1
        return frame

    def close(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None


class UsbSource(_OpenCvSource):
    def __init__(self, config: UsbSourceConfig, clock: Clock = SYSTEM_CLOCK) -> None:
        super().__init__(config.name or f"usb:{config.device}", clock)
        self.config = config

    def _make(self) -> cv2.VideoCapture:
        capture = cv2.VideoCapture(self.config.device, cv2.CAP_ANY)
        for prop, value in (
            (cv2.CAP_PROP_FRAME_WIDTH, self.config.width_px),
            (cv2.CAP_PROP_FRAME_HEIGHT, self.config.height_px),
            (cv2.CAP_PROP_FPS, self.config.fps),
        ):
            if value is not None and capture.isOpened():
                capture.set(prop, float(value))
        return capture

    def _hint(self) -> str:
        return f"expected a camera at device index {self.config.device}; is it connected and free?"


class StreamSource(_OpenCvSource):
    def __init__(self, config: StreamSourceConfig, clock: Clock = SYSTEM_CLOCK) -> None:
        super().__init__(config.name or redact_url(config.url), clock)
        self.config = config

    def _make(self) -> cv2.VideoCapture:
        params = [
            cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
            round(self.config.open_timeout_s * 1000),
            cv2.CAP_PROP_READ_TIMEOUT_MSEC,
            round(self.config.read_timeout_s * 1000),
        ]
        return cv2.VideoCapture(self.config.url, cv2.CAP_FFMPEG, params)

    def _hint(self) -> str:
        return f"no video stream at {redact_url(self.config.url)} within the open timeout"


class VideoSource(_OpenCvSource):
    """A video file: ends after its last frame, or starts again with `loop`."""

    def __init__(self, config: VideoSourceConfig, clock: Clock = SYSTEM_CLOCK) -> None:
        super().__init__(config.name or f"video:{config.path.name}", clock)
        self.config = config
        self._pacer: Pacer | None = None  # made at the first open, from the file's rate
        self._position = 0  # frames read in this pass: a reopen goes on from there

    def _make(self) -> cv2.VideoCapture:
        capture = cv2.VideoCapture(str(self.config.path), cv2.CAP_FFMPEG)
        if not capture.isOpened():
            return capture
        if self.config.realtime and self._pacer is None:
            file_fps = float(capture.get(cv2.CAP_PROP_FPS))
            fps = self.config.fps or (file_fps if 0 < file_fps < 1000 else DEFAULT_FILE_FPS)
            self._pacer = Pacer(fps, self._clock)
        if self._position:
            capture.set(cv2.CAP_PROP_POS_FRAMES, self._position)
        return capture

    def _hint(self) -> str:
        if not self.config.path.is_file():
            return f"no file at {self.config.path}"
        return f"expected a video FFmpeg can read at {self.config.path}; missing codec or corrupt?"

    def read(self) -> Frame | None:
        ok, image = self._grab()
        if not ok and self.config.loop:
            assert self._capture is not None
            self._capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
            self._position = 0
            ok, image = self._grab()
            if not ok:
                raise SourceLost(
                    f"{self._name}: looping, but no frame could be read from the start"
                )
        if not ok:
            return None  # the end, or the first unreadable part of a truncated file
        self._position += 1
        if self._pacer is not None:
            self._pacer.wait()
        return self._frame(image)
