"""How well the agent found the defects planted on the synthetic moving web (ground truth).

A planted defect is found when an event's fabric box lies within `tolerance_mm` of the planted
defect's box (along and across; a long crease seen in parts is found by each part); each event
matches at most one planted defect, nearest first. The position error is the distance between
the centres, reported for compact defects (both extents under 2 x tolerance). Events that match none
are false alarms; planted defects matched by more than one event are duplicates.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from loomsight.datasets.synth.moving_web import PlantedDefect
from loomsight.schema import DefectEvent


@dataclass(frozen=True)
class WebRecall:
    planted: int
    found: int
    duplicates: int  # events beyond the first on the same planted defect
    false_alarms: int
    max_position_error_mm: float  # centre to centre, compact defects
    missed: list[PlantedDefect]

    @property
    def recall(self) -> float:
        return self.found / self.planted if self.planted else 1.0


def _gap_mm(centre_a: float, extent_a: float, centre_b: float, extent_b: float) -> float:
    return max(0.0, abs(centre_a - centre_b) - (extent_a + extent_b) / 2)


def _box_gap_mm(event: DefectEvent, planted: PlantedDefect) -> float:
    along = _gap_mm(
        event.position_m * 1000, event.length_mm, planted.position_m * 1000, planted.length_mm
    )
    across = _gap_mm(event.across_mm, event.width_mm, planted.across_mm, planted.width_mm)
    return math.hypot(along, across)


def _centre_error_mm(event: DefectEvent, planted: PlantedDefect) -> float:
    along_mm = (event.position_m - planted.position_m) * 1000
    return math.hypot(along_mm, event.across_mm - planted.across_mm)


def web_recall(
    events: Sequence[DefectEvent], planted: Sequence[PlantedDefect], tolerance_mm: float = 10.0
) -> WebRecall:
    pairs = sorted(
        (gap, _centre_error_mm(event, defect), e, p)
        for e, event in enumerate(events)
        for p, defect in enumerate(planted)
        if (gap := _box_gap_mm(event, defect)) <= tolerance_mm
    )
    event_taken: set[int] = set()
    matches: dict[int, list[float]] = {}
    for _gap, centre_error, e, p in pairs:
        if e not in event_taken:
            event_taken.add(e)
            matches.setdefault(p, []).append(centre_error)
    compact = 2 * tolerance_mm
    firsts = [
        min(errors)
        for p, errors in matches.items()
        if max(planted[p].length_mm, planted[p].width_mm) < compact
    ]
    return WebRecall(
        planted=len(planted),
        found=len(matches),
        duplicates=sum(len(d) - 1 for d in matches.values()),
        false_alarms=len(events) - len(event_taken),
        max_position_error_mm=max(firsts, default=0.0),
        missed=[defect for p, defect in enumerate(planted) if p not in matches],
    )
