"""The demo's audit, once the agents have stopped and while the API still runs: nothing lost,
nothing stored twice, rates that add up, and every fault shown where the API shows such things.

- Lost or doubled: each agent's outbox counts every event it ever took in (across restarts, in the
  transaction that stored it); the API must hold exactly that many for the machine, by event id,
  and the outbox must be empty.
- Rates: the API's rate endpoint over the run must count the stored events, per 100 m of the
  metres its heartbeats inspected.
- Faults: an agent killed shows as a coverage gap of its machine over the kill; a cut camera as
  skipped metres near the cut (at least half of what passed); the API stopped shows as no gap at
  all (the agents kept inspecting and their heartbeats arrived afterwards).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import httpx
from rich.table import Table

from loomsight.camera.outbox import Outbox
from loomsight.demo.faults import FaultKind, FaultWindow
from loomsight.demo.plan import HEARTBEAT_S, MachinePlan
from loomsight.demo.stats import MachineStats

OUTBOX_CAP_BYTES = 1 << 40  # reading only: the cap is never reached
RATE_TOLERANCE = 1e-6


@dataclass(frozen=True)
class MachineAudit:
    machine_id: str
    events_made: int  # every agent run's outbox took in
    events_stored: int  # the API's database holds (unique event ids)
    left_in_outbox: int  # items not sent when the agents stopped
    rate_events: int  # the API's rate endpoint over the run
    rate_per_100m: float | None
    gaps: tuple[tuple[datetime, datetime], ...]  # coverage gaps the API shows
    problems: tuple[str, ...]

    @property
    def lost(self) -> int:
        return max(self.events_made - self.events_stored, 0)


@dataclass(frozen=True)
class _Rates:
    events: int
    inspected_m: float
    skipped_m: float
    per_100m: float | None
    gaps: tuple[tuple[datetime, datetime], ...]


def _rates(client: httpx.Client, machine_id: str, start: datetime, end: datetime) -> _Rates:
    query = {"start": start.isoformat(), "end": end.isoformat(), "bucket": "hour"}
    response = client.get(f"/api/v1/machines/{machine_id}/rates", params=query)
    response.raise_for_status()
    body = response.json()
    total, coverage = body["total"], body["coverage"]
    gaps = tuple(
        (datetime.fromisoformat(g["start"]), datetime.fromisoformat(g["end"]))
        for g in coverage["gaps"]
    )
    return _Rates(
        total["events"], total["inspected_m"], total["skipped_m"], total["per_100_m"], gaps
    )


def _overlaps(gap: tuple[datetime, datetime], window: FaultWindow) -> bool:
    return gap[0] < window.end and window.start < gap[1]


def _fault_problems(
    plan: MachinePlan,
    rates: _Rates,
    windows: Sequence[FaultWindow],
    cut_rates: dict[datetime, _Rates],
) -> list[str]:
    problems = []
    killed = [
        w for w in windows if w.kind is FaultKind.AGENT_KILLED and w.target == plan.machine_id
    ]
    for window in killed:
        if not any(_overlaps(gap, window) for gap in rates.gaps):
            problems.append(f"no coverage gap shown for the agent killed at {window.start:%X}")
    for window in windows:
        if window.kind is FaultKind.API_STOPPED:
            unexplained = [
                gap
                for gap in rates.gaps
                if _overlaps(gap, window) and not any(_overlaps(gap, k) for k in killed)
            ]
            if unexplained:
                problems.append(f"a coverage gap while the API was down ({window.start:%X})")
        if window.kind is FaultKind.CAMERA_CUT and window.target == plan.machine_id:
            passed_m = (window.end - window.start).total_seconds() * plan.speed_m_per_min / 60
            skipped_m = cut_rates[window.start].skipped_m
            if skipped_m < 0.5 * passed_m:
                problems.append(
                    f"the camera cut at {window.start:%X} shows {skipped_m:.2f} m skipped, "
                    f"expected about {passed_m:.2f}"
                )
    return problems


def audit_machine(
    client: httpx.Client,
    plan: MachinePlan,
    outbox_path: Path,
    stored: MachineStats,
    run: tuple[datetime, datetime],
    windows: Sequence[FaultWindow] = (),
) -> MachineAudit:
    """Audit one machine over RUN (start, end) with CLIENT logged in to the API."""
    with Outbox(outbox_path, OUTBOX_CAP_BYTES) as outbox:
        held = outbox.stats()
    rates = _rates(client, plan.machine_id, *run)
    around = timedelta(seconds=3 * HEARTBEAT_S)
    cut_rates = {
        w.start: _rates(client, plan.machine_id, w.start - around, w.end + around)
        for w in windows
        if w.kind is FaultKind.CAMERA_CUT and w.target == plan.machine_id
    }
    problems = []
    if held.events_added != stored.events:
        problems.append(
            f"the agents made {held.events_added} events, the API holds {stored.events}"
        )
    if held.depth:
        problems.append(f"{held.depth} items left unsent in the outbox")
    if rates.events != stored.events:
        problems.append(f"the rate counts {rates.events} events, the API holds {stored.events}")
    expected = 100 * stored.events / stored.inspected_m if stored.inspected_m else None
    if (expected is None) != (rates.per_100m is None) or (
        expected is not None
        and rates.per_100m is not None
        and abs(rates.per_100m - expected) > RATE_TOLERANCE * max(expected, 1.0)
    ):
        problems.append(f"rate {rates.per_100m} per 100 m, expected {expected}")
    problems += _fault_problems(plan, rates, windows, cut_rates)
    return MachineAudit(
        machine_id=plan.machine_id,
        events_made=held.events_added,
        events_stored=stored.events,
        left_in_outbox=held.depth,
        rate_events=rates.events,
        rate_per_100m=rates.per_100m,
        gaps=rates.gaps,
        problems=tuple(problems),
    )


def audit_table(rows: Sequence[MachineAudit]) -> Table:
    table = Table(title="Audit: made by the agents vs. held by the API")
    table.add_column("machine", no_wrap=True)
    for header in ("made", "stored", "lost", "unsent", "rate events", "per 100 m", "gaps"):
        table.add_column(header, justify="right")
    table.add_column("problems")
    for row in rows:
        table.add_row(
            row.machine_id,
            str(row.events_made),
            str(row.events_stored),
            str(row.lost),
            str(row.left_in_outbox),
            str(row.rate_events),
            "-" if row.rate_per_100m is None else f"{row.rate_per_100m:.0f}",
            ", ".join(f"{a:%X}-{b:%X}" for a, b in row.gaps) or "none",
            "; ".join(row.problems) or "none",
        )
    return table
