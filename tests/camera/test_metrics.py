from __future__ import annotations

import socket

import httpx

from loomsight.camera.metrics import AgentMetrics


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_metrics_are_served_on_a_local_port_from_the_agents_own_registry() -> None:
    metrics, other = AgentMetrics(), AgentMetrics()  # two agents in one process do not clash
    metrics.frames_processed.inc(3)
    metrics.defects.labels(class_name="hole").inc()
    metrics.set_model("default@1")
    metrics.set_model("default@2")
    other.frames_processed.inc(100)
    server = metrics.serve(_free_port())
    try:
        host, port = server.server_address[:2]
        text = httpx.get(f"http://{host}:{port}/metrics", timeout=5).text
    finally:
        server.shutdown()
        server.server_close()
    assert "loomsight_frames_processed_total 3.0" in text
    assert 'loomsight_defects_total{class_name="hole"} 1.0' in text
    assert 'loomsight_model_info{version="default@2"} 1.0' in text
    assert "default@1" not in text
