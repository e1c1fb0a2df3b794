"""`loomsight inspect`: run the camera agent until the source ends, Ctrl-C or SIGTERM."""

from __future__ import annotations

import signal
import threading
from contextlib import ExitStack
from pathlib import Path
from types import FrameType
from typing import Any

import typer

from loomsight.errors import ConfigError


def parse_source(spec: str) -> dict[str, Any]:
    """synthetic | video:PATH | folder:PATH | usb:N | rtsp://... | http(s)://..."""
    kind, _, rest = spec.partition(":")
    if spec == "synthetic":
        return {"type": "synthetic"}
    if kind in ("video", "folder") and rest:
        return {"type": kind, "path": rest}
    if kind == "usb" and rest.isdigit():
        return {"type": "usb", "device": int(rest)}
    if kind in ("rtsp", "rtsps", "http", "https"):
        return {"type": "stream", "url": spec}
    raise ConfigError(
        f"--source {spec!r}: expected synthetic, video:PATH, folder:PATH, usb:N or a stream URL"
    )


def _overrides(**flags: Any) -> dict[str, Any]:
    """Nested settings from the flags given (None: not given)."""
    tree: dict[str, Any] = {}
    for dotted, value in flags.items():
        if value is None:
            continue
        *parents, leaf = dotted.split("__")
        node = tree
        for parent in parents:
            node = node.setdefault(parent, {})
        node[leaf] = value
    return tree


def inspect_command(
    config: Path | None = typer.Option(
        None, "--config", "-c", help="Agent settings (YAML). Flags below override it."
    ),
    source: str | None = typer.Option(
        None,
        "--source",
        help="synthetic, video:PATH, folder:PATH, usb:N, or an rtsp:// or http:// stream URL.",
    ),
    machine: str | None = typer.Option(None, "--machine", help="Machine id."),
    camera: str | None = typer.Option(None, "--camera", help="Camera id."),
    mm_per_px: float | None = typer.Option(None, "--mm-per-px", help="Camera scale."),
    web_width_mm: float | None = typer.Option(None, "--web-width-mm", help="Web width."),
    speed: float | None = typer.Option(None, "--speed-m-per-min", help="Line speed."),
    roll: str | None = typer.Option(None, "--roll", help="Roll id on the events."),
    model: str | None = typer.Option(
        None, "--model", help="Registry name or .onnx path (default: the active model)."
    ),
    api_url: str | None = typer.Option(None, "--api-url", help="Where events go."),
    outbox: Path | None = typer.Option(None, "--outbox", help="Outbox SQLite file."),
    metrics_port: int | None = typer.Option(None, "--metrics-port", help="/metrics port."),
    duration_s: float | None = typer.Option(
        None, "--duration-s", help="Stop after this many seconds (default: run until stopped)."
    ),
) -> None:
    """Inspect fabric: frames from a camera, stream, file, folder or the synthetic moving web go
    through the detector; each defect, placed on the roll in metres and mm and reported once,
    is written to a local outbox and sent to the API. Heartbeats report the metres inspected and
    skipped; /metrics serves Prometheus metrics; alarms fire webhooks or commands.

    Settings come from --config (an example: docs/agent.example.yaml) and the flags; the
    camera token from the environment: LOOMSIGHT_AGENT_API__TOKEN.
    """
    from loomsight.camera.assemble import build_agent
    from loomsight.camera.settings import load_settings

    flags = _overrides(
        source=parse_source(source) if source else None,
        machine_id=machine,
        camera_id=camera,
        calibration__mm_per_px=mm_per_px,
        calibration__web_width_mm=web_width_mm,
        calibration__speed_m_per_min=speed,
        calibration__roll_id=roll,
        detector__model=model,
        api__url=api_url,
        outbox__path=outbox,
        metrics_port=metrics_port,
    )
    settings = load_settings(config, flags)
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        typer.echo(f"{signal.Signals(signum).name}: stopping", err=True)
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    if duration_s is not None:
        timer = threading.Timer(duration_s, stop.set)
        timer.daemon = True
        timer.start()
    with ExitStack() as stack:
        agent = build_agent(settings, stack)
        report = agent.run(stop)
    coverage = report.coverage
    typer.echo(
        f"inspected {report.frames_processed} frames ({report.frames_skipped} skipped), "
        f"{coverage.inspected_m:.1f} m inspected and {coverage.skipped_m:.1f} m skipped; "
        f"{report.events} defects, {report.alarms} alarms, {report.heartbeats} heartbeats"
        + ("" if report.flushed else "; the outbox still holds events (sent at the next start)")
    )
