"""What every capture source is (`FrameSource`), and what sources share."""

from __future__ import annotations

from typing import Protocol, runtime_checkable
from urllib.parse import urlsplit, urlunsplit

from loomsight.camera.frames import Clock, Frame


class FrameSource(Protocol):
    """What `Capture` reads; see the module docstring for the meaning of each outcome."""

    @property
    def name(self) -> str: ...

    def open(self) -> None: ...

    def read(self) -> Frame | None: ...

    def close(self) -> None: ...


@runtime_checkable
class CountsSkipped(Protocol):
    """A source that skips unreadable inputs by itself (corrupt images in a folder)."""

    @property
    def skipped_inputs(self) -> int: ...


class Pacer:
    """Waits until the next frame is due at `fps`; a late frame restarts the schedule."""

    def __init__(self, fps: float | None, clock: Clock) -> None:
        self._period_ns = None if fps is None else round(1e9 / fps)
        self._clock = clock
        self._due_ns: int | None = None

    def wait(self) -> None:
        if self._period_ns is None:
            return
        now = self._clock.monotonic_ns()
        if self._due_ns is None or now - self._due_ns > self._period_ns:
            self._due_ns = now
        elif self._due_ns > now:
            self._clock.sleep((self._due_ns - now) / 1e9)
        self._due_ns += self._period_ns


def redact_url(url: str) -> str:
    """`url` without user and password, for logs and names."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))
