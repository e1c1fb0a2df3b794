"""Calibration requests: reviewers and admins ask for a machine's model to be calibrated for a new
fabric article and list the requests; the calibration worker on the machine's edge PC (an admin
token: `loomsight calibrate --pending`) claims the oldest pending one and reports its result."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response, status

from loomsight.api.calibration_models import (
    CalibrationIn,
    CalibrationOut,
    CalibrationResultIn,
    ClaimIn,
)
from loomsight.api.deps import ContextDep, CurrentUser, JsonBody, RequireAdmin, SessionDep
from loomsight.api.params import MachineIdPath
from loomsight.api.schemas import refusals
from loomsight.api.services.calibrations import CalibrationService
from loomsight.schema import API_PREFIX

router = APIRouter(tags=["calibrations"])

MACHINE_CALIBRATIONS_PATH = f"{API_PREFIX}/machines/{{machine_id}}/calibrations"
CALIBRATIONS_PATH = f"{API_PREFIX}/calibrations"
CLAIM_PATH = f"{CALIBRATIONS_PATH}/claim"
RESULT_PATH = f"{CALIBRATIONS_PATH}/{{calibration_id}}/result"

CalibrationIdPath = Annotated[
    int, Path(ge=1, le=2**31 - 1, description="The calibration request's id.")
]


async def get_calibration_service(context: ContextDep, session: SessionDep) -> CalibrationService:
    return CalibrationService(session, context.clock)


CalibrationServiceDep = Annotated[CalibrationService, Depends(get_calibration_service)]


@router.post(
    MACHINE_CALIBRATIONS_PATH,
    response_model=CalibrationOut,
    status_code=status.HTTP_201_CREATED,
    responses=refusals(401, 403, 404, 409, 415),
)
def request_calibration(
    machine_id: MachineIdPath,
    user: CurrentUser,
    new: CalibrationIn,
    service: CalibrationServiceDep,
    _json: None = JsonBody,
) -> CalibrationOut:
    """Ask for the machine's model to be calibrated for a new article (pending until the
    machine's calibration worker claims it); 409 if one for that article is pending already."""
    return service.request(machine_id, new, user.username)


@router.get(
    MACHINE_CALIBRATIONS_PATH,
    response_model=list[CalibrationOut],
    responses=refusals(401, 403, 404),
)
def list_calibrations(
    machine_id: MachineIdPath, _user: CurrentUser, service: CalibrationServiceDep
) -> list[CalibrationOut]:
    """The machine's calibration requests and their results, newest first (at most 50)."""
    return service.for_machine(machine_id)


@router.post(
    CLAIM_PATH,
    response_model=CalibrationOut,
    responses={
        204: {"description": "No request of the machine is pending."},
        **refusals(401, 403, 404, 415),
    },
)
def claim_calibration(
    _admin: RequireAdmin,
    claim: ClaimIn,
    service: CalibrationServiceDep,
    _json: None = JsonBody,
) -> CalibrationOut | Response:
    """For the calibration worker: the machine's oldest pending request, now running (each is
    claimed once, however many workers ask at the same time); 204 when none is pending."""
    claimed = service.claim(claim.machine_id)
    if claimed is None:
        return Response(status_code=status.HTTP_204_NO_CONTENT)
    return claimed


@router.put(
    RESULT_PATH,
    response_model=CalibrationOut,
    responses=refusals(401, 403, 404, 409, 415),
)
def report_calibration(
    calibration_id: CalibrationIdPath,
    _admin: RequireAdmin,
    outcome: CalibrationResultIn,
    service: CalibrationServiceDep,
    _json: None = JsonBody,
) -> CalibrationOut:
    """For the calibration worker: how a claimed calibration ended (done or failed), with the
    calibrated model's version and what it measured; 409 unless the request is running."""
    return service.finish(calibration_id, outcome)
