"""What the API has stored per machine, read from its database (the demo's progress and summary;
the API's own rate endpoints are not needed for this)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, func, select

from loomsight.api.database import make_engine
from loomsight.api.tables import Event, Heartbeat
from loomsight.schema import DefectEvent


@dataclass(frozen=True)
class MachineStats:
    """Totals the API holds for one machine."""

    events: int
    inspected_m: float
    skipped_m: float
    frames_processed: int
    heartbeats: int


class StoredStats:
    """Reads the API's database; `close()` when done."""

    def __init__(self, database_url: str) -> None:
        self._engine: Engine = make_engine(database_url, pool_size=1)

    def close(self) -> None:
        self._engine.dispose()

    def by_machine(self, machine_ids: list[str]) -> dict[str, MachineStats]:
        events = select(Event.machine_id, func.count()).group_by(Event.machine_id)
        beats = select(
            Heartbeat.machine_id,
            func.coalesce(func.sum(Heartbeat.inspected_m), 0.0),
            func.coalesce(func.sum(Heartbeat.skipped_m), 0.0),
            func.coalesce(func.sum(Heartbeat.frames_processed), 0),
            func.count(),
        ).group_by(Heartbeat.machine_id)
        with self._engine.connect() as connection:
            counts = {str(m): int(n) for m, n in connection.execute(events)}
            coverage = {str(row[0]): row[1:] for row in connection.execute(beats)}
        result = {}
        for machine_id in machine_ids:
            inspected, skipped, frames, heartbeats = coverage.get(machine_id, (0.0, 0.0, 0, 0))
            result[machine_id] = MachineStats(
                events=counts.get(machine_id, 0),
                inspected_m=float(inspected),
                skipped_m=float(skipped),
                frames_processed=int(frames),
                heartbeats=int(heartbeats),
            )
        return result

    def heartbeat_periods(self, machine_id: str) -> list[tuple[datetime, datetime]]:
        """The machine's heartbeat periods (start, end), oldest first (aware, UTC)."""
        query = (
            select(Heartbeat.period_start, Heartbeat.period_end)
            .where(Heartbeat.machine_id == machine_id)
            .order_by(Heartbeat.period_start)
        )
        with self._engine.connect() as connection:
            rows = connection.execute(query).all()
        return [(start, end) for start, end in rows]

    def events(self, machine_id: str) -> list[DefectEvent]:
        """The machine's stored events as the camera sent them."""
        query = select(
            Event.event_id,
            Event.detected_at,
            Event.machine_id,
            Event.camera_id,
            Event.roll_id,
            Event.position_m,
            Event.across_mm,
            Event.length_mm,
            Event.width_mm,
            Event.class_name,
            Event.confidence,
            Event.box_x1_px,
            Event.box_y1_px,
            Event.box_x2_px,
            Event.box_y2_px,
            Event.frame_w_px,
            Event.frame_h_px,
            Event.model_version,
        ).where(Event.machine_id == machine_id)
        with self._engine.connect() as connection:
            rows = connection.execute(query).all()
        return [
            DefectEvent(
                event_id=row.event_id,
                detected_at=row.detected_at,
                machine_id=row.machine_id,
                camera_id=row.camera_id,
                roll_id=row.roll_id,
                position_m=row.position_m,
                across_mm=row.across_mm,
                length_mm=row.length_mm,
                width_mm=row.width_mm,
                class_name=row.class_name,
                confidence=row.confidence,
                box_xyxy_px=(row.box_x1_px, row.box_y1_px, row.box_x2_px, row.box_y2_px),
                frame_wh_px=(row.frame_w_px, row.frame_h_px),
                model_version=row.model_version,
            )
            for row in rows
        ]
