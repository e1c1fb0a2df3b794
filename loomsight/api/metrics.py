"""Prometheus metrics of one app, in a registry of its own (never the process-global one), so two
apps in one process (tests) count separately."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1.0, 2.5, 5.0, 10.0)


class ApiMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "loomsight_http_requests",
            "HTTP requests answered, by route template, method and status code.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "loomsight_http_request_duration_seconds",
            "Time to answer an HTTP request, by route template and method.",
            ["route", "method"],
            buckets=LATENCY_BUCKETS_S,
            registry=self.registry,
        )
        self.ingest_batches = Counter(
            "loomsight_ingest_batches",
            "Ingest batches accepted.",
            registry=self.registry,
        )
        self.events_stored = Counter(
            "loomsight_events_stored",
            "Defect events stored (new).",
            ["machine"],
            registry=self.registry,
        )
        self.events_duplicate = Counter(
            "loomsight_events_duplicate",
            "Defect events posted again and not stored a second time.",
            registry=self.registry,
        )
        self.heartbeats_stored = Counter(
            "loomsight_heartbeats_stored",
            "Heartbeats stored (new).",
            registry=self.registry,
        )
        self.images_stored = Counter(
            "loomsight_images_stored",
            "Images stored (new).",
            registry=self.registry,
        )

    def exposition(self) -> bytes:
        """The registry in Prometheus' text format."""
        return generate_latest(self.registry)
