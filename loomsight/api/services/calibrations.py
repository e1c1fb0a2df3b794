"""Calibration requests: QA engineers ask for a machine's model to be calibrated for a new
article; a calibration worker (admin token, on the machine's edge PC) claims the oldest pending
request of its machine, runs it and reports the result.

A claim is an UPDATE guarded by `status = 'pending'`: when two workers pick the same request, the
database lets one update it and the other sees no row changed and takes the next one, so a request
is never run twice (on PostgreSQL the second UPDATE waits for the first and re-reads the row).
"""

from __future__ import annotations

import logging

from sqlalchemy import CursorResult, null, select, update
from sqlalchemy.orm import Session

from loomsight.api.calibration_models import (
    MAX_LISTED_CALIBRATIONS,
    CalibrationIn,
    CalibrationOut,
    CalibrationResultIn,
)
from loomsight.api.clock import Clock
from loomsight.api.errors import ConflictError, NotFoundError
from loomsight.api.services.machines import existing_machine
from loomsight.api.tables import Calibration, Machine

logger = logging.getLogger(__name__)


class CalibrationService:
    def __init__(self, session: Session, clock: Clock) -> None:
        self.session = session
        self.clock = clock

    def _machine(self, machine_id: str) -> Machine:
        return existing_machine(self.session, machine_id)

    def request(self, machine_id: str, new: CalibrationIn, username: str) -> CalibrationOut:
        """A pending calibration of MACHINE_ID for NEW.article, asked for by USERNAME;
        ConflictError if one for that article is pending already."""
        self._machine(machine_id)
        waiting = self.session.scalar(
            select(Calibration.id).where(
                Calibration.machine_id == machine_id,
                Calibration.article == new.article,
                Calibration.status == "pending",
            )
        )
        if waiting is not None:
            raise ConflictError(
                f"machine {machine_id!r} has a calibration for article {new.article!r} waiting "
                f"already (#{waiting}); it runs when the machine's calibration worker claims it"
            )
        calibration = Calibration(
            machine_id=machine_id,
            article=new.article,
            length_m=new.length_m,
            status="pending",
            requested_by=username,
            requested_at=self.clock(),
        )
        self.session.add(calibration)
        self.session.commit()
        logger.info(
            "calibration #%d of %s for %r requested", calibration.id, machine_id, new.article
        )
        return CalibrationOut.model_validate(calibration)

    def for_machine(self, machine_id: str) -> list[CalibrationOut]:
        """MACHINE_ID's requests, newest first (at most MAX_LISTED_CALIBRATIONS)."""
        self._machine(machine_id)
        rows = self.session.scalars(
            select(Calibration)
            .where(Calibration.machine_id == machine_id)
            .order_by(Calibration.requested_at.desc(), Calibration.id.desc())
            .limit(MAX_LISTED_CALIBRATIONS)
        )
        return [CalibrationOut.model_validate(row) for row in rows]

    def claim(self, machine_id: str) -> CalibrationOut | None:
        """The oldest pending request of MACHINE_ID, now running; None when none is pending."""
        self._machine(machine_id)
        while True:
            candidate = self.session.scalar(
                select(Calibration.id)
                .where(Calibration.machine_id == machine_id, Calibration.status == "pending")
                .order_by(Calibration.requested_at, Calibration.id)
                .limit(1)
            )
            if candidate is None:
                self.session.rollback()
                return None
            claimed = self.session.execute(
                update(Calibration)
                .where(Calibration.id == candidate, Calibration.status == "pending")
                .values(status="running", started_at=self.clock())
            )
            assert isinstance(claimed, CursorResult)
            if claimed.rowcount == 1:
                self.session.commit()
                calibration = self.session.get(Calibration, candidate, populate_existing=True)
                assert calibration is not None
                logger.info("calibration #%d of %s claimed", candidate, machine_id)
                return CalibrationOut.model_validate(calibration)
            self.session.rollback()  # another worker took it first: try the next one

    def finish(self, calibration_id: int, outcome: CalibrationResultIn) -> CalibrationOut:
        """Record how the running calibration CALIBRATION_ID ended; ConflictError unless it is
        running (claimed and not reported yet)."""
        finished = self.session.execute(
            update(Calibration)
            .where(Calibration.id == calibration_id, Calibration.status == "running")
            .values(
                status=outcome.status,
                finished_at=self.clock(),
                model_version=outcome.model_version,
                result=null() if outcome.result is None else outcome.result,
                message=outcome.message,
            )
        )
        assert isinstance(finished, CursorResult)
        if finished.rowcount != 1:
            self.session.rollback()
            calibration = self.session.get(Calibration, calibration_id)
            if calibration is None:
                raise NotFoundError(f"no calibration #{calibration_id}")
            raise ConflictError(
                f"calibration #{calibration_id} is {calibration.status}; only a running one "
                "(claimed by a worker) takes a result"
            )
        self.session.commit()
        calibration = self.session.get(Calibration, calibration_id, populate_existing=True)
        assert calibration is not None
        logger.info("calibration #%d %s", calibration_id, outcome.status)
        return CalibrationOut.model_validate(calibration)
