"""The agent's Prometheus metrics, in a registry of its own, served on a local port (/metrics)."""

from __future__ import annotations

from dataclasses import dataclass, field
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

INFERENCE_BUCKETS_S = (0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)


@dataclass
class AgentMetrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.frames_processed = Counter(
            "loomsight_frames_processed", "Frames run through the detector.", registry=r
        )
        self.frames_skipped = Counter(
            "loomsight_frames_skipped", "Frames not inspected (overload or bad frames).", registry=r
        )
        self.inference_seconds = Histogram(
            "loomsight_inference_seconds",
            "Detector time per frame, tiles included.",
            buckets=INFERENCE_BUCKETS_S,
            registry=r,
        )
        self.fps = Gauge("loomsight_fps", "Frames inspected per second, last period.", registry=r)
        self.inspected_m = Counter(
            "loomsight_inspected_metres", "Fabric length inspected.", registry=r
        )
        self.skipped_m = Counter(
            "loomsight_skipped_metres", "Fabric length that passed uninspected.", registry=r
        )
        self.defects = Counter(
            "loomsight_defects", "Defects reported (after dedup).", ["class_name"], registry=r
        )
        self.duplicates = Counter(
            "loomsight_duplicates", "Detections suppressed as already reported.", registry=r
        )
        self.alarms = Counter("loomsight_alarms", "Alarm firings.", ["rule", "action"], registry=r)
        self.outbox_events = Gauge(
            "loomsight_outbox_events", "Events waiting in the outbox.", registry=r
        )
        self.outbox_bytes = Gauge("loomsight_outbox_bytes", "Outbox size on disk.", registry=r)
        self.source_connected = Gauge(
            "loomsight_source_connected", "1 while the capture source delivers.", registry=r
        )
        self.source_losses = Counter(
            "loomsight_source_losses", "Times the capture source was lost.", registry=r
        )
        self.model_info = Gauge(
            "loomsight_model_info", "The model in use (value 1).", ["version"], registry=r
        )

    def set_model(self, version: str) -> None:
        self.model_info.clear()
        self.model_info.labels(version=version).set(1)

    def serve(self, port: int, host: str = "127.0.0.1") -> WSGIServer:
        """Serve /metrics in a daemon thread; call .shutdown() on the result to stop."""
        server, _thread = start_http_server(port, addr=host, registry=self.registry)
        return server
