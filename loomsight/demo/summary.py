"""The demo's summary: per machine, what the API stored against what the synthetic web planted
on the fabric the camera saw.

On the loom's clock the web is at a known place at any time (`MachinePlan.position_m`), so the
fabric a camera saw is the span of its heartbeat periods (an agent's first second aside: it is
opening the camera), less what dropouts and cut cables hid from every frame. Planted defects
elsewhere (while an agent was dead, say) are not counted; events there are not false alarms if a
planted defect explains them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from rich.table import Table

from loomsight.camera.sources import SyntheticSource
from loomsight.camera.web_recall import web_recall
from loomsight.demo.faults import FaultKind, FaultWindow
from loomsight.demo.plan import FRAME_LENGTH_M, MachinePlan
from loomsight.demo.stats import MachineStats
from loomsight.schema import DefectEvent

START_MARGIN_S = 1.0  # an agent's first heartbeat period begins as it opens the camera

Span = tuple[float, float]


@dataclass(frozen=True)
class MachineSummary:
    machine_id: str
    speed_m_per_min: float
    faulty: bool
    inspected_m: float  # from the heartbeats
    skipped_m: float  # passed uninspected: dropouts, cut cables, frames dropped under load
    defects_stored: int
    planted: int  # on the fabric the camera saw
    found: int
    duplicates: int  # events beyond the first on one planted defect
    false_alarms: int
    recall: float

    @property
    def per_100m(self) -> float:
        return 100 * self.defects_stored / self.inspected_m if self.inspected_m else 0.0

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "per_100m": self.per_100m}


def _merge(spans: Sequence[Span]) -> list[Span]:
    merged: list[Span] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _subtract(spans: Sequence[Span], holes: Sequence[Span]) -> list[Span]:
    result = list(spans)
    for hole_start, hole_end in holes:
        cut: list[Span] = []
        for start, end in result:
            if hole_end <= start or end <= hole_start:
                cut.append((start, end))
                continue
            if start < hole_start:
                cut.append((start, hole_start))
            if hole_end < end:
                cut.append((hole_end, end))
        result = cut
    return result


def seen_spans_m(
    plan: MachinePlan,
    periods: Sequence[tuple[datetime, datetime]],
    windows: Sequence[FaultWindow] = (),
) -> list[Span]:
    """The stretches of roll PLAN's camera saw: its heartbeat PERIODS on the loom's clock, less
    the planned dropouts and the cuts in WINDOWS."""
    if not periods:
        return []
    lead_m = plan.speed_m_per_min / 60 * START_MARGIN_S
    runs = _merge(
        [
            (plan.position_m(start.timestamp()), plan.position_m(end.timestamp()) + FRAME_LENGTH_M)
            for start, end in periods
        ]
    )
    spans = [(start + lead_m, end) for start, end in runs if end > start + lead_m]
    until_m = spans[-1][1] if spans else 0.0
    holes = SyntheticSource(plan.source()).dropout_spans_m(until_m)
    holes += [
        (
            plan.position_m(w.start.timestamp()) - FRAME_LENGTH_M,
            plan.position_m(w.end.timestamp()) + lead_m,
        )
        for w in windows
        if w.kind is FaultKind.CAMERA_CUT and w.target == plan.machine_id
    ]
    return _subtract(spans, holes)


def summarize(
    plan: MachinePlan,
    stored: MachineStats,
    events: Sequence[DefectEvent],
    periods: Sequence[tuple[datetime, datetime]],
    windows: Sequence[FaultWindow] = (),
) -> MachineSummary:
    """Score EVENTS against the defects planted on PLAN's web where its camera saw the fabric."""
    spans = seen_spans_m(plan, periods, windows)
    web = SyntheticSource(plan.source()).web
    everything = web.defects_between(0.0, spans[-1][1]) if spans else []
    score = web_recall(events, everything)
    missed = {d.defect_id for d in score.missed}
    seen = [d for d in everything if any(a <= d.position_m < b for a, b in spans)]
    found = sum(1 for d in seen if d.defect_id not in missed)
    return MachineSummary(
        machine_id=plan.machine_id,
        speed_m_per_min=plan.speed_m_per_min,
        faulty=plan.faulty,
        inspected_m=stored.inspected_m,
        skipped_m=stored.skipped_m,
        defects_stored=len(events),
        planted=len(seen),
        found=found,
        duplicates=score.duplicates,
        false_alarms=score.false_alarms,
        recall=found / len(seen) if seen else 1.0,
    )


def summary_table(rows: Sequence[MachineSummary]) -> Table:
    table = Table(
        title="What the API stored vs. what the web planted",
        caption="planted: on the fabric the camera saw (dropouts, cut cables and dead agents aside)"
        "; * a faulty camera",
    )
    table.add_column("machine", no_wrap=True)
    headers = ("m/min", "inspected m", "skipped m", "stored", "planted", "found", "recall")
    for header in (*headers, "twice", "false alarms", "per 100 m"):
        table.add_column(header, justify="right")
    for row in rows:
        table.add_row(
            row.machine_id + (" *" if row.faulty else ""),
            f"{row.speed_m_per_min:.1f}",
            f"{row.inspected_m:.2f}",
            f"{row.skipped_m:.2f}",
            str(row.defects_stored),
            str(row.planted),
            str(row.found),
            f"{row.recall:.2f}",
            str(row.duplicates),
            str(row.false_alarms),
            f"{row.per_100m:.0f}",
        )
    return table
