"""Soak: the demo (the API and three agents on the synthetic web, as `loomsight demo` runs them)
for --minutes, with or without the scripted faults; then the proof the issue asks for.

- Memory: resident memory of every process sampled every --sample-s seconds; growth from the mean
  of the first three samples after --warmup-min to the mean of the last three must stay under 10%.
- Nothing lost or stored twice: each agent's outbox counts every event it ever took in; the API
  must hold exactly as many for the machine (unique event ids), with nothing left unsent.
- No crash: every process lives to the end (a scripted kill aside) and stops cleanly.
- With --faults: the demo's script (kill -9 loom-1's agent at 60 s and restart it, the API down
  for 2 minutes at 120 s, loom-2's camera cut for 30 s at 300 s); each fault shown by the API.

Prints a table per process and per machine and exits 1 if a check fails. The run's folder (logs,
database, summary.json) stays in --folder.
Usage: .venv/bin/python -m benchmarks.demo_soak [--minutes 30] [--faults] [--folder soak-run]
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from rich.console import Console
from rich.table import Table

from loomsight.demo.faults import FaultPlan
from loomsight.demo.memory import MemoryGrowth
from loomsight.demo.session import DemoOptions, DemoSession

MAX_GROWTH = 0.10
REPO = Path(__file__).resolve().parents[1]


def memory_table(growth: list[MemoryGrowth]) -> Table:
    table = Table(title="Resident memory (MiB)")
    table.add_column("process")
    for header in ("samples", "at start", "after warm-up", "at the end", "peak", "growth"):
        table.add_column(header, justify="right")
    for g in sorted(growth, key=lambda g: g.name):
        table.add_row(
            f"{g.name} (pid {g.pid})",
            str(g.samples),
            f"{g.start_mib:.0f}",
            f"{g.warm_mib:.0f}",
            f"{g.end_mib:.0f}",
            f"{g.peak_mib:.0f}",
            f"{g.growth:+.1%}",
        )
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--faults", action="store_true", help="The demo's scripted faults.")
    parser.add_argument("--folder", type=Path, default=Path("soak-run"))
    parser.add_argument("--warmup-min", type=float, default=5.0)
    parser.add_argument("--sample-s", type=float, default=30.0)
    args = parser.parse_args(argv)
    console = Console(width=160)
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    options = DemoOptions(
        folder=args.folder,
        duration_s=args.minutes * 60,
        weights_dir=REPO / "weights",
        progress_s=args.sample_s,
        faults=FaultPlan() if args.faults else None,
        memory_warmup_s=args.warmup_min * 60,
    )
    session = DemoSession(options, console, stop)
    code = session.run()
    growth = session.memory.growth(options.memory_warmup_s)
    console.print(memory_table(growth))
    failures = [f"{g.name}: memory grew {g.growth:+.1%}" for g in growth if g.growth > MAX_GROWTH]
    if not growth:
        failures.append(f"no process ran past the {args.warmup_min} min warm-up")
    failures += [f"{a.machine_id}: {p}" for a in session.audits for p in a.problems]
    if not session.audits:
        failures.append("no audit (the API was not running at the end)")
    if code != 0:
        failures.append(f"the demo session ended with {code} (see {args.folder / 'logs'})")
    summary = json.loads((args.folder / "summary.json").read_text())
    made = sum(a["events_made"] for a in summary["audit"])
    stored = sum(a["events_stored"] for a in summary["audit"])
    console.print(
        f"{args.minutes:.0f} min{' with faults' if args.faults else ''}: {made} events made, "
        f"{stored} stored; growth limit {MAX_GROWTH:.0%} after {args.warmup_min:.0f} min"
    )
    for failure in failures:
        console.print(f"[red]FAILED[/red] {failure}")
    console.print("all checks passed" if not failures else f"{len(failures)} check(s) failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
