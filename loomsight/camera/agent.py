"""The inspection agent: capture -> pipeline -> outbox, with heartbeats, coverage, alarms, metrics,
model hot swap and an uploader thread. `run(stop)` returns when the source ends or `stop` is set;
it then stops capture, writes a last heartbeat and flushes the outbox to the API.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import httpx

from loomsight.camera.alarms import AlarmEngine
from loomsight.camera.calibration import WebOdometer
from loomsight.camera.capture import Capture
from loomsight.camera.coverage import CoverageAmounts, CoverageMeter
from loomsight.camera.frames import Frame, utc_now
from loomsight.camera.metrics import AgentMetrics
from loomsight.camera.model_updater import ModelUpdate, ModelUpdater
from loomsight.camera.outbox import Outbox
from loomsight.camera.pipeline import FrameResult, InspectionPipeline
from loomsight.camera.uploader import Uploader
from loomsight.schema import Heartbeat

logger = logging.getLogger(__name__)

GET_TIMEOUT_S = 0.2


@dataclass
class AgentReport:
    """What one run did, for the CLI and the tests."""

    frames_processed: int = 0
    frames_skipped: int = 0
    detections: int = 0
    events: int = 0
    alarms: int = 0
    heartbeats: int = 0
    model_swaps: int = 0
    coverage: CoverageAmounts = field(default_factory=CoverageAmounts)
    source_losses: int = 0
    flushed: bool = True


@dataclass
class _Period:
    """What the current heartbeat period has seen."""

    started_at: datetime
    started_s: float
    inference_ms: list[float] = field(default_factory=list)


class Agent:
    def __init__(
        self,
        pipeline: InspectionPipeline,
        capture: Capture,
        outbox: Outbox,
        odometer: WebOdometer,
        make_coverage: Callable[[int], CoverageMeter],
        alarms: AlarmEngine,
        metrics: AgentMetrics,
        heartbeat_s: float,
        uploader: Uploader | None = None,
        updater: ModelUpdater | None = None,
        model_poll_s: float = 60.0,
        flush_timeout_s: float = 10.0,
        monotonic_s: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = utc_now,
    ) -> None:
        self.pipeline, self.capture, self.outbox = pipeline, capture, outbox
        self.odometer, self.alarms, self.metrics = odometer, alarms, metrics
        self._make_coverage = make_coverage  # from the frame height, at the first frame
        self.coverage: CoverageMeter | None = None
        self.heartbeat_s, self.uploader, self.updater = heartbeat_s, uploader, updater
        self.model_poll_s, self.flush_timeout_s = model_poll_s, flush_timeout_s
        self._monotonic_s, self._now = monotonic_s, now
        self.report = AgentReport()
        self._pending_model: ModelUpdate | None = None
        self._pending_lock = threading.Lock()
        self._dropped_seen = 0  # frames capture dropped or found bad, so far
        self._dropped_at_heartbeat = 0
        self._losses_seen = 0
        self._period = _Period(now(), monotonic_s())
        metrics.set_model(pipeline.model_version)

    def run(self, stop: threading.Event) -> AgentReport:
        """Inspect until the source ends or STOP is set; then shut down cleanly."""
        self.capture.start()
        if self.uploader is not None:
            self.uploader.start()
        poller = self._start_model_poller(stop)
        try:
            while not stop.is_set():
                self._swap_model_if_pending()
                frame = self.capture.get(timeout_s=GET_TIMEOUT_S)
                if frame is not None:
                    self._inspect(frame, self.pipeline.process(frame, self._top_m(frame)))
                elif self.capture.finished:
                    break
                self._count_capture()
                if self._monotonic_s() - self._period.started_s >= self.heartbeat_s:
                    self._heartbeat()
        finally:
            self._shut_down(stop, poller)
        return self.report

    def _top_m(self, frame: Frame) -> float:
        return self.odometer.position_m(frame.t_ns, frame.top_m)

    def _inspect(self, frame: Frame, result: FrameResult) -> None:
        if self.coverage is None:
            self.coverage = self._make_coverage(frame.size_wh_px[1])
        self.coverage.add_processed(result.frame_top_m)
        self._period.inference_ms.append(result.inference_ms)
        self.metrics.frames_processed.inc()
        self.metrics.inference_seconds.observe(result.inference_ms / 1000)
        self.report.frames_processed += 1
        self.report.detections += result.detections
        for new in result.new:
            self.outbox.add_event(new.event, new.images)
            self.metrics.defects.labels(class_name=new.event.class_name).inc()
        self.report.events += len(result.new)
        identity = self.pipeline.identity
        firings = self.alarms.observe(
            [new.defect for new in result.new],
            [new.event.event_id for new in result.new],
            identity.machine_id,
            identity.camera_id,
            self.pipeline.roll_id,
        )
        for firing in firings:
            self.outbox.add_alarm(firing)
            self.metrics.alarms.labels(rule=firing.rule, action=firing.action.value).inc()
        self.report.alarms += len(firings)
        if result.new and self.uploader is not None:
            self.uploader.wake()

    def _count_capture(self) -> None:
        status = self.capture.status()
        dropped = status.frames_dropped + status.bad_frames
        if dropped > self._dropped_seen:
            self.metrics.frames_skipped.inc(dropped - self._dropped_seen)
            self.report.frames_skipped += dropped - self._dropped_seen
            self._dropped_seen = dropped
        if status.losses > self._losses_seen:
            self.metrics.source_losses.inc(status.losses - self._losses_seen)
            self.report.source_losses = status.losses
            self._losses_seen = status.losses
        self.metrics.source_connected.set(1 if status.connected else 0)

    def _heartbeat(self) -> None:
        ended_at, ended_s = self._now(), self._monotonic_s()
        amounts = self.coverage.take_period() if self.coverage else CoverageAmounts()
        elapsed_s = max(ended_s - self._period.started_s, 1e-9)
        times = self._period.inference_ms
        stats = self.outbox.stats()
        identity = self.pipeline.identity
        heartbeat = Heartbeat(
            heartbeat_id=uuid.uuid4(),
            machine_id=identity.machine_id,
            camera_id=identity.camera_id,
            roll_id=self.pipeline.roll_id,
            period_start=self._period.started_at,
            period_end=max(ended_at, self._period.started_at),
            frames_processed=amounts.frames_processed,
            frames_skipped=amounts.frames_skipped + self._skipped_in_period(),
            inspected_m=amounts.inspected_m,
            inspected_m2=amounts.inspected_m2,
            skipped_m=amounts.skipped_m,
            skipped_m2=amounts.skipped_m2,
            fps=amounts.frames_processed / elapsed_s,
            inference_ms=sum(times) / len(times) if times else 0.0,
            outbox_depth=stats.depth,
            model_version=self.pipeline.model_version,
        )
        self.outbox.add_heartbeat(heartbeat)
        self.metrics.fps.set(heartbeat.fps)
        self.metrics.inspected_m.inc(amounts.inspected_m)
        self.metrics.skipped_m.inc(amounts.skipped_m)
        self.metrics.outbox_events.set(stats.events)
        self.metrics.outbox_bytes.set(stats.used_bytes)
        self.report.heartbeats += 1
        self.report.coverage = self.report.coverage + amounts
        self._period = _Period(ended_at, ended_s)

    def _skipped_in_period(self) -> int:
        """Frames capture dropped since the last heartbeat (the meter counts only their fabric)."""
        skipped = self._dropped_seen - self._dropped_at_heartbeat
        self._dropped_at_heartbeat = self._dropped_seen
        return skipped

    # model hot swap

    def _start_model_poller(self, stop: threading.Event) -> threading.Thread | None:
        if self.updater is None or self.model_poll_s <= 0:
            return None
        thread = threading.Thread(
            target=self._poll_models, args=(stop,), name="model poller", daemon=True
        )
        thread.start()
        return thread

    def _poll_models(self, stop: threading.Event) -> None:
        assert self.updater is not None
        while not stop.is_set():
            try:
                update = self.updater.check()
            except (httpx.HTTPError, OSError) as error:
                logger.info("cannot ask the API for the active model now: %s", error)
                update = None
            if update is not None:
                with self._pending_lock:
                    self._pending_model = update
            stop.wait(self.model_poll_s)

    def _swap_model_if_pending(self) -> None:
        with self._pending_lock:
            update, self._pending_model = self._pending_model, None
        if update is None:
            return
        old, new = self.pipeline.model_version, update.announced.version
        self.pipeline.use(update.detector, new, update.texture)
        self.metrics.set_model(new)
        self.report.model_swaps += 1
        logger.info("model swapped between frames: %s -> %s", old, new)

    # shutdown

    def _shut_down(self, stop: threading.Event, poller: threading.Thread | None) -> None:
        stop.set()
        self.capture.stop()
        self._count_capture()
        if self.coverage is not None:
            self.coverage.flush()
        self._heartbeat()
        if poller is not None:
            poller.join(timeout=5)
        if self.uploader is not None:
            self.uploader.stop()
            self.report.flushed = self.uploader.flush(self.flush_timeout_s)
            self.uploader.close()
            if not self.report.flushed:
                logger.warning(
                    "the outbox still holds %d items; they go at the next start",
                    self.outbox.stats().depth,
                )
