"""What the machines page shows besides rates: each camera's last heartbeat (age, fps, skipped
frames, outbox depth), the roll it is on, and whether the machine is silent or degraded; and a
machine's rolls with their defect counts by review state. Read-only queries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from loomsight.api.tables import Camera, Event, Heartbeat, Machine, Roll

SILENT_AFTER_S = 120.0  # no heartbeat for this long: the camera is silent
DEGRADED_SKIP_SHARE = 0.05  # more frames skipped than this share of all: degraded
DEGRADED_OUTBOX_DEPTH = 100  # more events waiting on the camera than this: degraded
MAX_ROLLS = 50

State = Literal["ok", "degraded", "silent"]
_RANK: dict[State, int] = {"silent": 0, "degraded": 1, "ok": 2}


@dataclass(frozen=True)
class CameraHealth:
    camera_id: str
    last_heartbeat_at: datetime | None
    age_s: float | None
    fps: float | None
    frames_skipped: int | None
    skipped_share: float | None
    outbox_depth: int | None
    roll_id: str | None
    state: State
    problems: tuple[str, ...]


@dataclass(frozen=True)
class MachineHealth:
    id: str
    name: str
    line: str | None
    article: str | None
    cameras: tuple[CameraHealth, ...]
    current_roll: str | None
    state: State
    problems: tuple[str, ...]


@dataclass(frozen=True)
class RollDefects:
    roll_id: str
    started_at: datetime | None
    ended_at: datetime | None
    length_m: float | None
    events: int
    confirmed: int  # confirmed or relabelled
    false_alarms: int
    unreviewed: int
    last_detected_at: datetime | None


def _camera_health(camera_id: str, beat: Heartbeat | None, now: datetime) -> CameraHealth:
    if beat is None:
        return CameraHealth(
            camera_id, None, None, None, None, None, None, None, "silent", ("no heartbeat yet",)
        )
    age_s = max((now - beat.period_end).total_seconds(), 0.0)
    frames = beat.frames_processed + beat.frames_skipped
    share = beat.frames_skipped / frames if frames else 0.0
    problems: list[str] = []
    state: State = "ok"
    if age_s > SILENT_AFTER_S:
        state = "silent"
        problems.append(f"silent: no heartbeat for {format_age(age_s)}")
    else:
        if share > DEGRADED_SKIP_SHARE:
            problems.append(f"skipping {share:.0%} of frames")
        if beat.outbox_depth > DEGRADED_OUTBOX_DEPTH:
            problems.append(f"{beat.outbox_depth} events waiting to upload")
        if problems:
            state = "degraded"
    return CameraHealth(
        camera_id=camera_id,
        last_heartbeat_at=beat.period_end,
        age_s=age_s,
        fps=beat.fps,
        frames_skipped=beat.frames_skipped,
        skipped_share=share,
        outbox_depth=beat.outbox_depth,
        roll_id=beat.roll_id,
        state=state,
        problems=tuple(problems),
    )


def format_age(age_s: float) -> str:
    if age_s < 120:
        return f"{age_s:.0f} s"
    if age_s < 7200:
        return f"{age_s / 60:.0f} min"
    if age_s < 172800:
        return f"{age_s / 3600:.0f} h"
    return f"{age_s / 86400:.0f} days"


def _last_heartbeats(session: Session) -> dict[str, Heartbeat]:
    latest = (
        select(Heartbeat.camera_id, func.max(Heartbeat.period_end).label("end"))
        .group_by(Heartbeat.camera_id)
        .subquery()
    )
    rows = session.scalars(
        select(Heartbeat).join(
            latest,
            (Heartbeat.camera_id == latest.c.camera_id) & (Heartbeat.period_end == latest.c.end),
        )
    )
    return {beat.camera_id: beat for beat in rows}


def fleet_health(session: Session, now: datetime) -> list[MachineHealth]:
    """Every machine with its cameras' health; silent ones first, then degraded, then by id."""
    beats = _last_heartbeats(session)
    cameras: dict[str, list[str]] = {}
    for camera in session.scalars(
        select(Camera).where(Camera.revoked_at.is_(None)).order_by(Camera.id)
    ):
        cameras.setdefault(camera.machine_id, []).append(camera.id)
    machines = []
    for machine in session.scalars(select(Machine).order_by(Machine.id)):
        health = tuple(_camera_health(c, beats.get(c), now) for c in cameras.get(machine.id, []))
        problems = tuple(f"{c.camera_id}: {p}" for c in health for p in c.problems)
        state: State = min((c.state for c in health), key=_RANK.__getitem__, default="silent")
        if not health:
            problems = ("no camera",)
        latest = max(
            (c for c in health if c.last_heartbeat_at is not None),
            key=lambda c: c.last_heartbeat_at or now,
            default=None,
        )
        machines.append(
            MachineHealth(
                id=machine.id,
                name=machine.name,
                line=machine.line,
                article=machine.article,
                cameras=health,
                current_roll=latest.roll_id if latest else None,
                state=state,
                problems=problems,
            )
        )
    return sorted(machines, key=lambda m: (_RANK[m.state], m.id))


def machine_rolls(session: Session, machine_id: str, limit: int = MAX_ROLLS) -> list[RollDefects]:
    """The machine's rolls that have defects or marks, the latest first, with defect counts."""
    verdict = Event.verdict
    counts = session.execute(
        select(
            Event.roll_id,
            func.count().label("events"),
            func.sum(case((verdict.in_(("confirmed", "relabelled")), 1), else_=0)),
            func.sum(case((verdict == "false_alarm", 1), else_=0)),
            func.sum(case((verdict.is_(None), 1), else_=0)),
            func.max(Event.detected_at),
        )
        .where(Event.machine_id == machine_id, Event.roll_id.is_not(None))
        .group_by(Event.roll_id)
    ).all()
    marks = {
        roll.roll_id: roll
        for roll in session.scalars(select(Roll).where(Roll.machine_id == machine_id))
    }
    rolls: dict[str, RollDefects] = {}
    for roll_id, events, confirmed, false_alarms, unreviewed, last in counts:
        mark = marks.get(roll_id)
        rolls[roll_id] = RollDefects(
            roll_id=roll_id,
            started_at=mark.started_at if mark else None,
            ended_at=mark.ended_at if mark else None,
            length_m=mark.length_m if mark else None,
            events=int(events),
            confirmed=int(confirmed or 0),
            false_alarms=int(false_alarms or 0),
            unreviewed=int(unreviewed or 0),
            last_detected_at=last,
        )
    for roll_id, mark in marks.items():
        if roll_id not in rolls:
            rolls[roll_id] = RollDefects(
                roll_id, mark.started_at, mark.ended_at, mark.length_m, 0, 0, 0, 0, None
            )

    def latest_first(roll: RollDefects) -> tuple[float, str]:
        when = roll.last_detected_at or roll.ended_at or roll.started_at
        return (-(when.timestamp() if when else 0.0), roll.roll_id)

    return sorted(rolls.values(), key=latest_first)[:limit]
