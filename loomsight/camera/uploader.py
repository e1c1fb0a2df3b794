"""The uploader: sends the outbox to the API in batches and removes what the API acknowledged.

One step (`run_once`) takes the oldest batch, PUTs its images, POSTs the IngestBatch and, on an
IngestAck, acknowledges the batch in the outbox. What the step meets decides what comes next:

- connection errors, timeouts, 408, 429 and 5xx: the batch stays; exponential backoff with jitter
  up to `backoff_max_s` (a longer Retry-After is honoured up to the same cap);
- 400, 413, 422 (the API refuses the data): the batch is sent again item by item, and the items
  refused on their own are moved to the outbox's `rejected` table with the answer, so one bad item
  never blocks the rest; an image refused on its own is left out and the event goes without it;
- other 4xx (401, 403, 404, ...) and answers that are not an IngestAck (the camera or the server
  is misconfigured): the batch stays, the answer is logged and the uploader waits `backoff_max_s`.

Everything is idempotent on the server (UUIDs, sha256), so resending after a lost answer is safe.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from loomsight.camera.outbox import Outbox
from loomsight.camera.outbox_items import OutboxBatch
from loomsight.schema import (
    IMAGE_PATH,
    INGEST_PATH,
    MAX_EVENTS_PER_BATCH,
    MAX_HEARTBEATS_PER_BATCH,
    IngestAck,
)

log = logging.getLogger(__name__)

_REFUSED = {400, 413, 422}
_ANSWER_CHARS = 2000


class UploaderSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    batch_events: int = Field(100, ge=1, le=MAX_EVENTS_PER_BATCH)
    batch_heartbeats: int = Field(100, ge=1, le=MAX_HEARTBEATS_PER_BATCH)
    timeout_s: float = Field(10.0, gt=0)
    backoff_initial_s: float = Field(1.0, gt=0)
    backoff_max_s: float = Field(60.0, gt=0)
    backoff_multiplier: float = Field(2.0, ge=1.0)
    backoff_jitter: float = Field(0.25, ge=0.0, le=1.0, description="Waits shrink by up to this.")
    idle_poll_s: float = Field(1.0, gt=0, description="Wait when the outbox is empty.")


class Outcome(StrEnum):
    IDLE = "idle"  # nothing pending
    DELIVERED = "delivered"  # a batch acknowledged (refused items set aside)
    RETRY = "retry"  # transient failure: the batch stays, backing off
    BLOCKED = "blocked"  # the server refuses us (auth, URL): the batch stays, waiting the cap


@dataclass(frozen=True)
class Step:
    outcome: Outcome
    wait_s: float  # before the next step


@dataclass(frozen=True)
class UploaderStatus:
    batches_sent: int = 0
    events_sent: int = 0
    items_sent: int = 0
    items_rejected: int = 0
    images_refused: int = 0
    attempts_failed: int = 0
    last_error: str | None = None
    last_success_at: datetime | None = None
    backing_off_s: float = 0.0


class _UploadError(Exception):
    def __init__(
        self,
        outcome: Outcome | None,
        message: str,
        status: int | None = None,
        answer: str = "",
        retry_after_s: float | None = None,
    ):
        super().__init__(message)
        self.outcome = outcome  # None: refused (the data, not the transport)
        self.status = status
        self.answer = answer
        self.retry_after_s = retry_after_s


class Uploader:
    """Sends `outbox` to the API at `base_url` with `Authorization: Bearer <token>`."""

    def __init__(
        self,
        outbox: Outbox,
        base_url: str,
        token: str,
        *,
        settings: UploaderSettings | None = None,
        client: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        rng: random.Random | None = None,
    ):
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must start with http:// or https://, got {base_url!r}")
        if not token:
            raise ValueError("the camera token must not be empty")
        self.settings = settings or UploaderSettings()
        self._outbox = outbox
        self._base_url = base_url.rstrip("/")
        self._auth = {"Authorization": f"Bearer {token}"}
        self._own_client = client is None
        self._client = client or httpx.Client(timeout=self.settings.timeout_s)
        self._sleep, self._clock, self._now = sleep, clock, now
        self._rng = rng or random.Random()
        self._status = UploaderStatus()
        self._status_lock = threading.Lock()
        self._step_lock = threading.Lock()  # one step at a time (the thread or flush)
        self._failures = 0  # in a row
        self._uploaded: set[str] = set()  # images PUT for the batch in hand
        self._wake = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None

    def status(self) -> UploaderStatus:
        with self._status_lock:
            return self._status

    def run_once(self) -> Step:
        """Send the oldest batch, if any; say what happened and how long to wait now."""
        with self._step_lock:
            batch = self._outbox.next_batch(
                self.settings.batch_events, self.settings.batch_heartbeats
            )
            if batch is None:
                return Step(Outcome.IDLE, self.settings.idle_poll_s)
            try:
                self._deliver(batch)
            except _UploadError as failure:
                if failure.outcome is not None:
                    return self._failed(failure)
                step = self._set_aside_refused(batch, failure)
                if step is not None:
                    return step
            self._failures = 0
            self._uploaded.clear()
            self._update(backing_off_s=0.0)
            return Step(Outcome.DELIVERED, 0.0)

    def flush(self, timeout_s: float) -> bool:
        """Send everything pending; False if the outbox is still not empty after `timeout_s`."""
        deadline = self._clock() + timeout_s
        while True:
            step = self.run_once()
            if step.outcome is Outcome.IDLE:
                return True
            remaining = deadline - self._clock()
            if remaining <= 0:
                log.warning("flush gave up after %.1f s: %s", timeout_s, self._outbox.stats())
                return False
            if step.wait_s > 0:
                self._sleep(min(step.wait_s, remaining))

    def start(self) -> None:
        """Run steps in a daemon thread until `stop()`."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stopping = False
        self._thread = threading.Thread(target=self._loop, name="loomsight-uploader", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """Cut the current wait short (new items were written)."""
        self._wake.set()

    def stop(self, timeout_s: float | None = None) -> None:
        """Stop the thread after its current step (that may wait up to the HTTP timeout)."""
        self._stopping = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None

    def close(self) -> None:
        self.stop()
        if self._own_client:
            self._client.close()

    # -- internals ------------------------------------------------------------------------------

    def _loop(self) -> None:
        while not self._stopping:
            try:
                wait_s = self.run_once().wait_s
            except Exception:  # an outbox failure (disk full): keep the thread, try again later
                log.exception("upload step failed")
                wait_s = self.settings.backoff_max_s
            if wait_s > 0 and not self._stopping:
                self._wake.wait(wait_s)
                self._wake.clear()

    def _deliver(self, batch: OutboxBatch) -> None:
        """PUT the images, POST the batch, acknowledge it; raises _UploadError."""
        for sha256, jpeg in batch.images.items():
            if sha256 in self._uploaded:
                continue
            path = IMAGE_PATH.format(sha256=sha256)
            try:
                self._request("PUT", path, jpeg, "image/jpeg")
            except _UploadError as failure:
                if failure.outcome is not None:
                    raise
                log.error("image %s refused, the event goes without it: %s", sha256, failure)
                self._count(images_refused=1)
            self._uploaded.add(sha256)
        answer = self._request("POST", INGEST_PATH, batch.ingest.model_dump_json().encode(),
                               "application/json")  # fmt: skip
        try:
            ack = IngestAck.model_validate_json(answer.content)
        except ValidationError as error:
            raise _UploadError(
                Outcome.BLOCKED, f"POST {INGEST_PATH}: not an IngestAck: {error}"
            ) from None
        self._outbox.acknowledge(batch)
        if ack.missing_images:
            log.info("the API lacks %d images of the batch (dropped under the disk cap?)",
                     len(ack.missing_images))  # fmt: skip
        self._count(batches_sent=1, events_sent=len(batch.ingest.events),
                    items_sent=len(batch.items()))  # fmt: skip
        self._update(last_success_at=self._now())

    def _set_aside_refused(self, batch: OutboxBatch, failure: _UploadError) -> Step | None:
        """The API refused the batch: send each item alone, set aside those refused alone."""
        self._count(attempts_failed=1)
        self._update(last_error=str(failure))
        parts = batch.split()
        if len(parts) > 1:
            log.warning("batch of %d items refused, sending them one by one: %s", len(parts),
                        failure)  # fmt: skip
        for part in parts:
            refusal = failure
            if len(parts) > 1:
                try:
                    self._deliver(part)
                    continue
                except _UploadError as part_failure:
                    if part_failure.outcome is not None:
                        return self._failed(part_failure)
                    refusal = part_failure
            log.error("the API refused %s %s, set aside: %s", *part.items()[0][:2], refusal)
            self._outbox.reject(part, refusal.status, refusal.answer)
            self._count(items_rejected=1)
        return None

    def _request(self, method: str, path: str, content: bytes, content_type: str) -> httpx.Response:
        headers = {**self._auth, "Content-Type": content_type}
        try:
            response = self._client.request(
                method, self._base_url + path, content=content, headers=headers
            )
        except httpx.TransportError as error:
            raise _UploadError(
                Outcome.RETRY, f"{method} {path}: {type(error).__name__}: {error}"
            ) from None
        if response.is_success:
            return response
        answer = response.text[:_ANSWER_CHARS]
        message = f"{method} {path}: {response.status_code} {response.reason_phrase}: {answer}"
        code = response.status_code
        if code >= 500 or code in (408, 429):
            raise _UploadError(Outcome.RETRY, message, code, answer, _retry_after_s(response))
        raise _UploadError(None if code in _REFUSED else Outcome.BLOCKED, message, code, answer)

    def _failed(self, failure: _UploadError) -> Step:
        cfg = self.settings
        self._failures += 1
        if failure.outcome is Outcome.BLOCKED:
            log.error("the API does not accept this camera's uploads: %s", failure)
            base_s = cfg.backoff_max_s
        else:
            log.warning("upload failed (%d in a row): %s", self._failures, failure)
            base_s = cfg.backoff_initial_s * cfg.backoff_multiplier ** min(self._failures - 1, 64)
        wait_s = min(cfg.backoff_max_s, base_s) * (1.0 - cfg.backoff_jitter * self._rng.random())
        if failure.retry_after_s is not None:
            wait_s = min(cfg.backoff_max_s, max(wait_s, failure.retry_after_s))
        self._count(attempts_failed=1)
        self._update(last_error=str(failure), backing_off_s=wait_s)
        return Step(failure.outcome or Outcome.RETRY, wait_s)

    def _update(self, **changes: Any) -> None:
        with self._status_lock:
            self._status = replace(self._status, **changes)

    def _count(self, **increments: int) -> None:
        with self._status_lock:
            counts = {name: getattr(self._status, name) + n for name, n in increments.items()}
            self._status = replace(self._status, **counts)


def _retry_after_s(response: httpx.Response) -> float | None:
    try:
        return max(0.0, float(response.headers.get("Retry-After", "")))
    except ValueError:
        return None  # absent, or an HTTP date: our own backoff decides
