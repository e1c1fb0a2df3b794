"""Agent steady state on the synthetic moving web: frames/s, the line speed kept, resident memory.

The web is 1.6 m wide at 0.5 mm per pixel: 3200 px wide frames, which abut along the roll (each
starts where the last ended), so the line speed the agent sustains without gaps is
frame length x frames/s x 60. Frame height 416 by default: the 416x416 model tiles a frame into
squares of 416 with a fifth overlap, and 416 rows are exactly one row of 10 tiles (20.8 mm of roll
per tile); 512 rows would need two tile rows (20 tiles, 12.8 mm per tile), 800 three.
The agent is built as `loomsight inspect` builds it (`load_settings` + `build_agent`): the shipped
default model, queue-mode capture of the non-realtime synthetic source (the agent runs flat out and
no frame is dropped), an outbox in a temporary folder, no API, no metrics port. It runs once per
--threads value (ONNX Runtime intra-op threads) for --minutes, counted from its first frame.
The synthetic source renders each frame itself, in the capture thread, on the same CPU as the
detector: the render time per frame is timed alone first and shown apart, with the detector's own
time per frame (from the agent's inference histogram, measured while the renderer competes) and
the line speed the detector alone would keep with a real camera (frame length / detector time).
Resident memory (VmRSS) is sampled at the first frame, every --sample-s seconds and at the end; it
must stay flat: growth from the one-minute sample (the start, in runs under two minutes) to the
end under 5%.
The detector runs the model card's flip views (each tile also mirrored, see
loomsight/inference/flip_views.py) unless --flip-views says otherwise (none: the frame only).
With two threads or more a frame's tiles are shared among single-thread ONNX Runtime sessions
(lanes, inference/onnx_session.py); --lanes on,off also runs each such thread count without them
(one session with all the threads). The runs share one process: memory freed by a run is not
always returned, so compare resident memory between runs with care.
Usage: .venv/bin/python -m benchmarks.agent_steady_state [--minutes 10] [--threads 1,2]
       [--frame-height 416] [--model FILE.onnx] [--flip-views none|h,v] [--lanes on,off]
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import threading
import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from loomsight.camera.agent import Agent
from loomsight.camera.assemble import build_agent
from loomsight.camera.settings import load_settings
from loomsight.camera.sources.config import SyntheticSourceConfig
from loomsight.camera.sources.synthetic import SyntheticSource
from loomsight.inference.cpu_info import cpu_info
from loomsight.inference.flip_views import FlipView, parse_flip_views

MODEL = Path(__file__).resolve().parents[1] / "weights" / "default" / "model.onnx"
WEB_WIDTH_MM, MM_PER_PX = 1600.0, 0.5
NOMINAL_FPS = 10.0  # only sets the step between frames (speed / 60 / fps = one frame length)
FLAT_GROWTH = 0.05
FIRST_FRAME_TIMEOUT_S = 300.0


@dataclass
class RunResult:
    threads: int
    lanes: bool  # a frame's tiles shared among single-thread sessions (threads > 1)
    frames: int
    window_s: float
    detector_ms: float
    skipped: int
    events: int
    rss_mib: list[tuple[float, float]] = field(default_factory=list)  # (minutes, MiB)

    @property
    def fps(self) -> float:
        return self.frames / self.window_s if self.window_s > 0 else 0.0


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="run length per thread count")
    parser.add_argument("--threads", default="1,2", help="ONNX Runtime thread counts")
    parser.add_argument("--frame-height", type=int, default=416, help="frame rows (along)")
    parser.add_argument("--model", type=Path, default=MODEL, help="ONNX file")
    parser.add_argument("--render-frames", type=int, default=5, help="frames to time the source")
    parser.add_argument("--sample-s", type=float, default=60.0, help="RSS sampling period")
    parser.add_argument(
        "--flip-views", default=None, help="detector flip views: none, or e.g. h,v [the card's]"
    )
    parser.add_argument(
        "--lanes", default="on", help="on, off or on,off: tiles in single-thread lanes (2+ threads)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    source = _source(args.frame_height)
    frame_length_m = args.frame_height * MM_PER_PX / 1000
    render_ms = _render_ms(source, args.render_frames)
    views = None if args.flip_views is None else parse_flip_views(args.flip_views)
    if not set(args.lanes.split(",")) <= {"on", "off"}:
        parser.error(f"--lanes: expected on, off or on,off, got {args.lanes!r}")
    lanes_modes = [mode == "on" for mode in args.lanes.split(",")]
    results = [
        _run_agent(source, args.model, threads, lanes, args.minutes * 60, args.sample_s, views)
        for threads in (int(t) for t in args.threads.split(","))
        for lanes in (lanes_modes if threads > 1 else [True])
    ]
    console = Console(width=max(Console().width, 130))  # the tables are wider than 80 columns
    console.print(_speed_table(results, args, frame_length_m, render_ms))
    console.print(_memory_table(results))
    for result in results:
        series = ", ".join(f"{minute:.1f} min {mib:.0f}" for minute, mib in result.rss_mib)
        lanes = f", lanes {_lanes(result)}" if result.threads > 1 else ""
        console.print(f"RSS MiB, {result.threads} thread(s){lanes}: {series}")


def _source(frame_height_px: int) -> dict[str, Any]:
    frame_length_m = frame_height_px * MM_PER_PX / 1000
    return {
        "type": "synthetic",
        "seed": 7,
        "width_px": round(WEB_WIDTH_MM / MM_PER_PX),
        "frame_height_px": frame_height_px,
        "mm_per_px": MM_PER_PX,
        "speed_m_per_min": frame_length_m * NOMINAL_FPS * 60,
        "fps": NOMINAL_FPS,
        "defects_per_100m": 20.0,
        "realtime": False,
    }


def _render_ms(source: dict[str, Any], frames: int) -> float:
    """Milliseconds per frame of the synthetic source alone (what the agent's capture pays)."""
    synthetic = SyntheticSource(SyntheticSourceConfig(**source))
    synthetic.open()
    started = time.perf_counter()
    for _ in range(frames):
        synthetic.read()
    synthetic.close()
    return (time.perf_counter() - started) * 1000 / max(frames, 1)


def _rss_mib() -> float:
    """Resident memory of this process in MiB (VmRSS)."""
    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text(encoding="ascii").splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    import importlib

    return float(importlib.import_module("psutil").Process().memory_info().rss) / 2**20


def _inference_s(agent: Agent) -> tuple[float, float]:
    """(sum of seconds, count) of the agent's inference histogram."""
    registry = agent.metrics.registry
    total = registry.get_sample_value("loomsight_inference_seconds_sum") or 0.0
    count = registry.get_sample_value("loomsight_inference_seconds_count") or 0.0
    return total, count


def _run_agent(
    source: dict[str, Any],
    model: Path,
    threads: int,
    lanes: bool,
    run_s: float,
    sample_s: float,
    flip_views: tuple[FlipView, ...] | None = None,
) -> RunResult:
    options: dict[str, Any] = {"lanes": lanes}
    if flip_views is not None:
        options["flip_views"] = flip_views
    with tempfile.TemporaryDirectory(prefix="agent-bench-") as folder, ExitStack() as stack:
        settings = load_settings(
            None,
            {
                "machine_id": "bench-loom",
                "camera_id": "bench-cam",
                "source": source,
                "calibration": {
                    "mm_per_px": MM_PER_PX,
                    "web_width_mm": WEB_WIDTH_MM,
                    "speed_m_per_min": source["speed_m_per_min"],
                    "roll_id": "BENCH-1",
                },
                "capture": {"mode": "queue"},
                "detector": {
                    "model": str(model),
                    "threads": threads,
                    "options": options,
                },
                "outbox": {"path": str(Path(folder) / "outbox.sqlite")},
                "metrics_port": None,
            },
        )
        agent = build_agent(settings, stack)
        stop, errors = threading.Event(), list[BaseException]()

        def run() -> None:
            try:
                agent.run(stop)
            except BaseException as error:  # shown in the main thread
                errors.append(error)
                stop.set()

        thread = threading.Thread(target=run, name="agent")
        thread.start()
        try:
            return _observe(agent, threads, lanes, run_s, sample_s, stop)
        finally:
            stop.set()
            thread.join()
            if errors:
                raise errors[0]


def _observe(
    agent: Agent, threads: int, lanes: bool, run_s: float, sample_s: float, stop: threading.Event
) -> RunResult:
    """Wait for the first frame, then sample memory until RUN_S have passed."""
    deadline = time.monotonic() + FIRST_FRAME_TIMEOUT_S
    while agent.report.frames_processed < 1:
        if stop.is_set() or time.monotonic() > deadline:
            raise SystemExit("the agent processed no frame")
        time.sleep(0.05)
    started, first = time.monotonic(), agent.report.frames_processed
    inference_start = _inference_s(agent)
    samples = [(0.0, _rss_mib())]
    next_s = sample_s
    while not stop.is_set():
        target_s = min(next_s, run_s)
        if stop.wait(max(target_s - (time.monotonic() - started), 0.0)):
            break
        samples.append(((time.monotonic() - started) / 60, _rss_mib()))
        if target_s >= run_s:
            break
        next_s += sample_s
    window_s, frames = time.monotonic() - started, agent.report.frames_processed - first
    inference_end = _inference_s(agent)
    count = inference_end[1] - inference_start[1]
    detector_ms = (inference_end[0] - inference_start[0]) * 1000 / count if count else 0.0
    skipped = agent.report.frames_skipped
    events = agent.report.events
    return RunResult(threads, lanes, frames, window_s, detector_ms, skipped, events, samples)


def _speed_table(
    results: list[RunResult], args: argparse.Namespace, frame_length_m: float, render_ms: float
) -> Table:
    width_px = round(WEB_WIDTH_MM / MM_PER_PX)
    table = Table(
        title=f"agent steady state: {width_px}x{args.frame_height} frames ({frame_length_m:.3f} m "
        f"of roll each, {MM_PER_PX} mm/px, {WEB_WIDTH_MM / 1000:.1f} m web), {args.model.name}, "
        f"flip views {args.flip_views or 'as the card says'}, queue capture, "
        f"{args.minutes:g} min per run, {os.cpu_count()} cores",
        caption=f"synthetic source alone: {render_ms:.0f} ms to render a frame (in the loop, "
        "in the capture thread); detector ms: the agent's inference time per frame, tiles included",
    )
    table.caption = f"CPU: {cpu_info().describe()}"
    columns = ["threads", "lanes", "frames", "frames/s", "m/min sustained", "detector ms/frame"]
    columns += ["detector-only m/min", "skipped", "events"]
    for column in columns:
        table.add_column(column, justify="right")
    for result in results:
        detector_fps = 1000 / result.detector_ms if result.detector_ms else 0.0
        table.add_row(
            str(result.threads),
            _lanes(result),
            str(result.frames),
            f"{result.fps:.2f}",
            f"{frame_length_m * result.fps * 60:.1f}",
            f"{result.detector_ms:.0f}",
            f"{frame_length_m * detector_fps * 60:.1f}",
            str(result.skipped),
            str(result.events),
        )
    return table


def _memory_table(results: list[RunResult]) -> Table:
    table = Table(title=f"resident memory (VmRSS, MiB); flat: growth under {FLAT_GROWTH:.0%}")
    for column in ("threads", "lanes", "start", "at 1 min", "end", "growth", "flat"):
        table.add_column(column, justify="right")
    for result in results:
        start, end = result.rss_mib[0][1], result.rss_mib[-1][1]
        at_1 = next((mib for minute, mib in result.rss_mib if minute >= 1 - 1e-6), None)
        base = at_1 if at_1 is not None and result.rss_mib[-1][0] >= 2 else start
        growth = (end - base) / base
        table.add_row(
            str(result.threads),
            _lanes(result),
            f"{start:.0f}",
            "" if at_1 is None else f"{at_1:.0f}",
            f"{end:.0f}",
            f"{end - base:+.1f} MiB ({growth:+.1%})",
            "yes" if growth < FLAT_GROWTH else "NO",
        )
    return table


def _lanes(result: RunResult) -> str:
    return ("on" if result.lanes else "off") if result.threads > 1 else ""


if __name__ == "__main__":
    main()
