"""`loomsight demo`: the API, three machines and their inspection agents on the synthetic moving
web, on this box, until Ctrl-C or for a fixed time; then a summary against the planted defects."""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path
from types import FrameType

import typer
from rich.console import Console

MIN_WIDTH = 110


def demo_command(
    duration_s: float | None = typer.Option(
        None, "--duration-s", min=1, help="Stop after this many seconds of inspection and sum up."
    ),
    machines: int = typer.Option(3, "--machines", min=1, max=12, help="Machines, a camera each."),
    folder: Path = typer.Option(
        Path("demo-run"),
        "--folder",
        help="Where the API database, outboxes, logs and logins go (emptied if a former demo's).",
    ),
    fps: float = typer.Option(
        2.0, "--fps", min=0.5, max=10, help="Frames per second per camera (line speeds follow)."
    ),
    weights_dir: Path = typer.Option(
        Path("weights"), "--weights-dir", help="Model registry with the active default model."
    ),
    faults: bool = typer.Option(
        False,
        "--faults",
        help="Script faults into the run: at 60 s kill -9 loom-1's agent and start it again 10 s "
        "later; at 120 s stop the API for 2 minutes; at 300 s cut loom-2's camera for 30 s. "
        "The audit then shows that nothing was lost or stored twice and where the gaps are. "
        "Needs --duration-s of at least 360, or no duration.",
    ),
) -> None:
    """Run the whole loop on this box: the API on SQLite, MACHINES machines with a camera each
    (different fabrics, speeds and defect rates; one camera drops out now and then), and one
    `loomsight inspect` agent per machine on the synthetic moving web with the shipped model.

    Prints the API address and a reviewer login, then progress every 10 s. Ctrl-C (or SIGTERM)
    stops the agents, which flush to the API, then the API; a summary table follows: metres
    inspected, defects stored, defects planted, recall and rate per 100 m per machine, and an
    audit: events the agents made against events the API holds, rates and coverage gaps.
    Exits 1 if a process died or the audit found a problem.
    """
    from loomsight.demo.faults import FaultPlan
    from loomsight.demo.session import DemoOptions, DemoSession

    logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per set-up request
    console = Console(highlight=False)
    if not console.is_terminal:
        console.width = max(console.width, MIN_WIDTH)  # a log file: keep the table whole
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        if not stop.is_set():
            console.print(f"{signal.Signals(signum).name}: stopping everything")
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    options = DemoOptions(
        folder=folder,
        machines=machines,
        duration_s=duration_s,
        fps=fps,
        weights_dir=weights_dir,
        faults=FaultPlan() if faults else None,
    )
    code = DemoSession(options, console, stop).run()
    raise typer.Exit(code)
