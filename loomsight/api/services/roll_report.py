"""The report of one roll: its defects by position, scored by the 4-point system, and a grade.

The roll's length is the one its end mark gave; for a roll without one, the metres its
camera inspected plus skipped (heartbeats naming the roll; with several cameras, the largest
sum). The width is the machine's web width. Without either there are points but no grade.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from loomsight.api.errors import NotFoundError
from loomsight.api.grading import (
    M_PER_YARD,
    DefectSize,
    grade,
    points_per_100_sq_yd,
    score_defect,
    yard_scores,
)
from loomsight.api.rate_models import Counting
from loomsight.api.report_settings import ReportSettings
from loomsight.api.roll_models import RollDefect, RollReport, YardPoints
from loomsight.api.services.machines import existing_machine
from loomsight.api.services.rate_tallies import FALSE_ALARM, REVIEWED
from loomsight.api.tables import Event, Heartbeat, Roll


def counted_class(event: Event, counting: Counting) -> str | None:
    """The class EVENT counts as under COUNTING, or None when it does not count."""
    if counting is Counting.ALL:
        return event.class_name
    if counting is Counting.CONFIRMED and event.verdict not in REVIEWED:
        return None
    if event.verdict == FALSE_ALARM:
        return None
    if event.verdict == "relabelled":
        return event.corrected_class or event.class_name
    return event.class_name


class RollReportService:
    def __init__(self, session: Session, settings: ReportSettings) -> None:
        self.session = session
        self.settings = settings

    def report(self, machine_id: str, roll_id: str, counting: Counting) -> RollReport:
        machine = existing_machine(self.session, machine_id)
        roll = self.session.get(Roll, (machine_id, roll_id))
        events = list(
            self.session.scalars(
                select(Event)
                .where(Event.machine_id == machine_id, Event.roll_id == roll_id)
                .order_by(Event.position_m, Event.across_mm, Event.event_id)
            )
        )
        if roll is None and not events:
            raise NotFoundError(
                f"no roll {roll_id!r} on machine {machine_id!r}: no marks and no defects"
            )
        length_m, length_source = self._length(machine_id, roll_id, roll)
        holes = set(self.settings.hole_classes)
        defects, scores = [], []
        for event in events:
            class_name = counted_class(event, counting)
            if class_name is None:
                continue
            size = DefectSize(
                event.position_m, event.length_mm, event.width_mm, class_name in holes
            )
            scored = score_defect(size)
            scores.append(scored)
            defects.append(
                RollDefect(
                    event_id=event.event_id,
                    detected_at=event.detected_at,
                    position_m=event.position_m,
                    across_mm=event.across_mm,
                    length_mm=event.length_mm,
                    width_mm=event.width_mm,
                    class_name=class_name,
                    detected_class=event.class_name,
                    verdict=event.verdict,
                    confidence=event.confidence,
                    model_version=event.model_version,
                    length_in=scored.length_in,
                    points=scored.points,
                    yards=list(scored.yards),
                    crop_sha256=event.crop_sha256,
                )
            )
        yards = yard_scores(scores)
        points = sum(y.points for y in yards)
        width_mm = machine.web_width_mm
        score, grade_name, reason = None, None, None
        if width_mm is None:
            reason = "the machine has no web width (set web_width_mm)"
        elif not length_m:
            reason = "the roll's length is unknown (no end mark with a length, no heartbeats)"
        else:
            score = points_per_100_sq_yd(points, width_mm, length_m)
            grade_name = grade(score, self.settings.grades)
        return RollReport(
            machine_id=machine_id,
            roll_id=roll_id,
            article=machine.article,
            started_at=roll.started_at if roll else None,
            ended_at=roll.ended_at if roll else None,
            length_m=length_m,
            length_source=length_source,
            web_width_mm=width_mm,
            counting=counting,
            defects=defects,
            yards=[
                YardPoints(
                    yard=y.yard,
                    start_m=y.yard * M_PER_YARD,
                    raw_points=y.raw_points,
                    points=y.points,
                )
                for y in yards
            ],
            points=points,
            points_uncapped=sum(y.raw_points for y in yards),
            points_per_100_sq_yd=score,
            grade=grade_name,
            ungraded_reason=reason,
            grades=list(self.settings.grades),
            hole_classes=list(self.settings.hole_classes),
            unreviewed=sum(1 for e in events if e.verdict is None),
            false_alarms=sum(1 for e in events if e.verdict == FALSE_ALARM),
        )

    def _length(
        self, machine_id: str, roll_id: str, roll: Roll | None
    ) -> tuple[float | None, str | None]:
        if roll is not None and roll.length_m is not None:
            return roll.length_m, "end_mark"
        per_camera = (
            select(func.sum(Heartbeat.inspected_m + Heartbeat.skipped_m).label("metres"))
            .where(Heartbeat.machine_id == machine_id, Heartbeat.roll_id == roll_id)
            .group_by(Heartbeat.camera_id)
            .subquery()
        )
        metres = self.session.scalar(select(func.max(per_camera.c.metres)))
        if metres:
            return float(metres), "heartbeats"
        return None, None
