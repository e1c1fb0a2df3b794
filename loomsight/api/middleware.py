"""ASGI middleware: request body limits (413 that names the limit), and per-request metrics and
one structured log line per request."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import HTTPException
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from loomsight.api.metrics import ApiMetrics

access_logger = logging.getLogger("loomsight.api.access")

# A body over its limit but under this is read and dropped before the 413; a larger one is not
# read (the connection closes, and a client still sending may see a reset instead of the 413).
DRAIN_MAX_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class BodyLimit:
    max_bytes: int
    setting: str  # the environment variable that sets it

    def message(self, size: int, method: str, path: str, at_least: bool = False) -> str:
        amount = f"at least {size}" if at_least else str(size)
        return (
            f"the request body of {method} {path} is {amount} bytes, over the limit of "
            f"{self.max_bytes} bytes ({self.setting})"
        )


LimitFor = Callable[[str, str], BodyLimit]  # (method, path) -> limit


class BodyTooLarge(HTTPException):
    def __init__(self, detail: str) -> None:
        super().__init__(status_code=413, detail=detail)


class BodyLimitMiddleware:
    """Refuse bodies over the route's limit: at once from Content-Length, or while streaming."""

    def __init__(self, app: ASGIApp, limit_for: LimitFor) -> None:
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method, path = scope["method"], scope["path"]
        limit = self.limit_for(method, path)
        declared = _content_length(scope)
        if declared is not None and declared > limit.max_bytes:
            if declared <= DRAIN_MAX_BYTES:  # read it first, or the close resets the connection
                await _drain(receive)  # before a client still sending reads the answer
            response = JSONResponse(
                {"detail": limit.message(declared, method, path)},
                status_code=413,
                headers={"Connection": "close"},
            )
            await response(scope, receive, send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit.max_bytes:
                    raise BodyTooLarge(limit.message(received, method, path, at_least=True))
            return message

        await self.app(scope, limited_receive, send)


async def _drain(receive: Receive) -> None:
    """Read and drop the request body."""
    while True:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            return


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class ObservabilityMiddleware:
    """Count and time every request by its route template; log one line with the details."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            duration_s = time.perf_counter() - start
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            method = scope["method"]
            self.metrics.requests.labels(route, method, str(status)).inc()
            self.metrics.latency.labels(route, method).observe(duration_s)
            client = scope.get("client")
            access_logger.info(
                "%s %s -> %d in %.1f ms",
                method,
                scope["path"],
                status,
                duration_s * 1000,
                extra={
                    "method": method,
                    "path": scope["path"],
                    "route": route,
                    "status": status,
                    "duration_ms": round(duration_s * 1000, 2),
                    "client": client[0] if client else None,
                },
            )
