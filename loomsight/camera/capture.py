"""`Capture`: a frame source read in its own thread, surviving losses and bad frames.

Two ways to hand frames over: `latest` (live cameras: one slot that always holds the newest frame;
a frame overwritten before the consumer took it is counted in `frames_dropped`) and `queue` (files
read as fast as possible: a bounded queue, the reader waits, nothing is dropped). When the source
fails (SourceLost or any other exception) the loss is logged once, the source is closed and opened
again with exponential backoff, and the gap is reported in `CaptureStatus` once frames come again.
The backoff is a few lines written here because its waits must end at once on `stop()`.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from types import TracebackType

from pydantic import BaseModel, ConfigDict, Field

from loomsight.camera.frames import SYSTEM_CLOCK, BadFrameError, Clock, Frame
from loomsight.camera.sources import (
    CountsSkipped,
    FrameSource,
    SourceConfig,
    is_live,
    make_source,
)
from loomsight.errors import SourceLost

log = logging.getLogger(__name__)


class CaptureMode(StrEnum):
    LATEST = "latest"
    QUEUE = "queue"


class CaptureConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: CaptureMode | None = Field(
        None, description="None: latest for cameras, streams and realtime playback; else queue."
    )
    queue_size: int = Field(8, ge=1, description="Frames held in queue mode.")
    backoff_initial_s: float = Field(0.5, gt=0)
    backoff_factor: float = Field(2.0, ge=1)
    backoff_max_s: float = Field(30.0, gt=0)
    max_bad_in_row: int = Field(50, ge=1, description="Bad frames in a row that count as a loss.")
    max_gaps: int = Field(100, ge=1, description="Gaps kept in the status (the newest).")
    stop_timeout_s: float = Field(5.0, gt=0)

    def backoff_s(self, attempt: int) -> float:
        """Wait before reopening after `attempt` failed tries (0 for the first)."""
        return float(min(self.backoff_max_s, self.backoff_initial_s * self.backoff_factor**attempt))

    def mode_for(self, source: SourceConfig) -> CaptureMode:
        if self.mode is not None:
            return self.mode
        return CaptureMode.LATEST if is_live(source) else CaptureMode.QUEUE


@dataclass(frozen=True)
class Gap:
    """A time without frames: from the loss to the first frame after it."""

    start: datetime
    end: datetime
    duration_s: float
    reason: str  # the error that began it


@dataclass(frozen=True)
class CaptureStatus:
    connected: bool
    frames_read: int
    frames_dropped: int
    bad_frames: int
    source_skipped: int  # inputs the source skipped by itself (corrupt images in a folder)
    losses: int
    gaps: tuple[Gap, ...]  # the newest `max_gaps`, oldest first
    lost_since: datetime | None  # start of the gap now open, if any
    last_error: str | None
    ended: bool


class Capture:
    """Reads `source` in a thread; `get()` hands the frames over. A context manager."""

    def __init__(
        self,
        source: FrameSource,
        config: CaptureConfig | None = None,
        *,
        mode: CaptureMode | None = None,
        clock: Clock = SYSTEM_CLOCK,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        """`mode` overrides `config.mode` (LATEST if both are None); `sleep` waits out backoffs
        (default: a wait that `stop()` ends at once)."""
        self.source = source
        self.config = config or CaptureConfig()
        self.mode = mode or self.config.mode or CaptureMode.LATEST
        self._clock = clock
        self._sleep = sleep or self._interruptible_sleep
        self._stop = threading.Event()
        self._lock = threading.Condition()
        size = 1 if self.mode is CaptureMode.LATEST else self.config.queue_size
        self._buffer: deque[Frame] = deque(maxlen=size)
        self._thread: threading.Thread | None = None
        self._done = False
        self._ended = False
        self._connected = False
        self._frames_read = 0
        self._frames_dropped = 0
        self._bad_frames = 0
        self._losses = 0
        self._gaps: deque[Gap] = deque(maxlen=self.config.max_gaps)
        self._lost_at: tuple[datetime, int, str] | None = None  # start, its t_ns, the cause
        self._last_error: str | None = None

    @classmethod
    def from_config(
        cls,
        source_config: SourceConfig,
        config: CaptureConfig | None = None,
        *,
        clock: Clock = SYSTEM_CLOCK,
        sleep: Callable[[float], None] | None = None,
    ) -> Capture:
        """A capture (not started) of the source `source_config` describes, in the mode that
        suits it unless `config.mode` says otherwise."""
        config = config or CaptureConfig()
        source = make_source(source_config, clock)
        return cls(source, config, mode=config.mode_for(source_config), clock=clock, sleep=sleep)

    # consumer side

    def start(self) -> Capture:
        if self._thread is not None:
            raise RuntimeError("this capture was started already; make a new one")
        self._thread = threading.Thread(target=self._run, name=f"capture {self.source.name}")
        self._thread.daemon = True
        self._thread.start()
        return self

    def get(self, timeout_s: float | None = None) -> Frame | None:
        """The next frame; None after `timeout_s`, or once the source ended (or stop()) and all
        its frames were taken."""
        with self._lock:
            if not self._lock.wait_for(lambda: self._buffer or self._done, timeout_s):
                return None
            if not self._buffer:
                return None
            frame = self._buffer.popleft()
            self._lock.notify_all()
            return frame

    def __iter__(self) -> Iterator[Frame]:
        """Frames until the source ends or the capture stops."""
        while True:
            frame = self.get(timeout_s=0.5)
            if frame is not None:
                yield frame
            elif self.finished:
                return

    @property
    def finished(self) -> bool:
        """Whether no frame will come any more (ended or stopped, and all frames taken)."""
        with self._lock:
            return self._done and not self._buffer

    def status(self) -> CaptureStatus:
        skipped = self.source.skipped_inputs if isinstance(self.source, CountsSkipped) else 0
        with self._lock:
            return CaptureStatus(
                connected=self._connected,
                frames_read=self._frames_read,
                frames_dropped=self._frames_dropped,
                bad_frames=self._bad_frames,
                source_skipped=skipped,
                losses=self._losses,
                gaps=tuple(self._gaps),
                lost_since=None if self._lost_at is None else self._lost_at[0],
                last_error=self._last_error,
                ended=self._ended,
            )

    def stop(self) -> bool:
        """Stop reading and close the source; False if the thread did not end in time (it is
        blocked in the source and closes it when the read returns)."""
        self._stop.set()
        with self._lock:
            self._lock.notify_all()
        thread = self._thread
        if thread is None:
            self.source.close()
            return True
        thread.join(self.config.stop_timeout_s)
        if thread.is_alive():
            log.warning(
                "%s: capture did not stop within %.1f s (blocked in the source)",
                self.source.name,
                self.config.stop_timeout_s,
            )
            return False
        return True

    def __enter__(self) -> Capture:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # reader side

    def _interruptible_sleep(self, seconds: float) -> None:
        self._stop.wait(seconds)

    def _run(self) -> None:
        attempt = 0  # failed tries since the last frame
        bad_in_row = 0
        is_open = False
        try:
            while not self._stop.is_set():
                try:
                    if not is_open:
                        self.source.open()
                        is_open = True
                        self._set(connected=True)
                    frame = self.source.read()
                    if frame is not None and not isinstance(frame, Frame):
                        raise BadFrameError(f"expected a Frame, got {type(frame).__name__}")
                except BadFrameError as exc:
                    bad_in_row += 1
                    self._count_bad(exc)
                    if bad_in_row < self.config.max_bad_in_row:
                        continue
                    lost: Exception = SourceLost(f"{bad_in_row} bad frames in a row, last: {exc}")
                    bad_in_row = 0
                except Exception as exc:
                    lost = exc
                else:
                    if frame is None:
                        self._end()
                        return
                    attempt = bad_in_row = 0
                    self._deliver(frame)
                    continue
                self._lose(lost)
                self._close_source()
                is_open = False
                self._sleep(self.config.backoff_s(attempt))
                attempt += 1
        finally:
            self._close_source()
            with self._lock:
                self._done = True
                self._connected = False
                self._lock.notify_all()

    def _set(self, connected: bool) -> None:
        with self._lock:
            self._connected = connected

    def _count_bad(self, exc: BadFrameError) -> None:
        with self._lock:
            self._bad_frames += 1
            count = self._bad_frames
        if count == 1 or count % 1000 == 0:
            log.warning("%s: bad frame skipped (%d so far): %s", self.source.name, count, exc)

    def _lose(self, exc: Exception) -> None:
        with self._lock:
            self._connected = False
            self._last_error = str(exc) or type(exc).__name__
            first = self._lost_at is None
            if first:
                now = self._clock.utc_now()
                self._lost_at = (now, self._clock.monotonic_ns(), self._last_error)
                self._losses += 1
        if not first:
            log.debug("%s: still lost: %s", self.source.name, exc)
        elif isinstance(exc, SourceLost):
            log.warning("%s: source lost, retrying with backoff: %s", self.source.name, exc)
        else:
            log.error("%s: source failed, retrying with backoff", self.source.name, exc_info=exc)

    def _close_source(self) -> None:
        try:
            self.source.close()
        except Exception:
            log.exception("%s: closing the source failed", self.source.name)

    def _end(self) -> None:
        log.info("%s: source ended after %d frames", self.source.name, self._frames_read)
        with self._lock:
            self._ended = True

    def _deliver(self, frame: Frame) -> None:
        with self._lock:
            if self._lost_at is not None:
                start, start_ns, reason = self._lost_at
                duration_s = (self._clock.monotonic_ns() - start_ns) / 1e9
                gap = Gap(start, self._clock.utc_now(), duration_s, reason)
                self._gaps.append(gap)
                self._lost_at = None
                log.info("%s: frames again after a gap of %.1f s", self.source.name, duration_s)
            if self.mode is CaptureMode.LATEST:
                if self._buffer:
                    self._frames_dropped += 1
            else:
                self._lock.wait_for(
                    lambda: len(self._buffer) < self.config.queue_size or self._stop.is_set()
                )
                if self._stop.is_set():
                    return
            self._frames_read += 1
            self._buffer.append(frame)
            self._lock.notify_all()
