"""The demo's summary: per machine, what the API stored against what the synthetic web planted
in the stretch the camera passed (the same seed and settings as the agent's source)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from rich.table import Table

from loomsight.camera.sources import SyntheticSource
from loomsight.camera.web_recall import web_recall
from loomsight.demo.plan import MachinePlan
from loomsight.demo.stats import MachineStats
from loomsight.schema import DefectEvent


@dataclass(frozen=True)
class MachineSummary:
    machine_id: str
    speed_m_per_min: float
    faulty: bool
    inspected_m: float  # from the heartbeats
    skipped_m: float  # passed uninspected: dropouts, frames dropped under load
    defects_stored: int
    planted: int  # in the stretch passed, less what dropouts hid from every frame
    found: int
    false_alarms: int
    recall: float

    @property
    def per_100m(self) -> float:
        return 100 * self.defects_stored / self.inspected_m if self.inspected_m else 0.0

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "per_100m": self.per_100m}


def summarize(
    plan: MachinePlan, stored: MachineStats, events: Sequence[DefectEvent]
) -> MachineSummary:
    """Score EVENTS against the defects planted on PLAN's web over the metres STORED covers."""
    source = SyntheticSource(plan.source())
    start_m = source.config.start_m
    end_m = start_m + stored.inspected_m + stored.skipped_m
    unseen = source.dropout_spans_m(end_m)
    planted = [
        defect
        for defect in source.web.defects_between(start_m, end_m)
        if not any(a <= defect.position_m < b for a, b in unseen)
    ]
    score = web_recall(events, planted)
    return MachineSummary(
        machine_id=plan.machine_id,
        speed_m_per_min=plan.speed_m_per_min,
        faulty=plan.faulty,
        inspected_m=stored.inspected_m,
        skipped_m=stored.skipped_m,
        defects_stored=len(events),
        planted=score.planted,
        found=score.found,
        false_alarms=score.false_alarms,
        recall=score.recall,
    )


def summary_table(rows: Sequence[MachineSummary]) -> Table:
    table = Table(
        title="What the API stored vs. what the web planted",
        caption="* a faulty camera: what its dropouts hid from every frame is not counted",
    )
    table.add_column("machine", no_wrap=True)
    headers = ("m/min", "inspected m", "skipped m", "stored", "planted", "found", "recall")
    for header in (*headers, "false alarms", "per 100 m"):
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
            str(row.false_alarms),
            f"{row.per_100m:.0f}",
        )
    return table
