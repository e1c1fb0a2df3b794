"""Rolls: listed, started and ended by hand, and their reports (JSON, printable page, SVG map);
for reviewers and admins."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response, status
from fastapi.responses import HTMLResponse

from loomsight.api.deps import ContextDep, CurrentUser, JsonBody, SessionDep
from loomsight.api.params import IDENTIFIER_PATTERN, MachineIdPath
from loomsight.api.report_deps import ReportSettingsDep
from loomsight.api.roll_map import roll_map_svg
from loomsight.api.roll_models import (
    RollListQuery,
    RollMarkIn,
    RollOut,
    RollReport,
    RollReportQuery,
)
from loomsight.api.roll_page import render_roll_page
from loomsight.api.schemas import refusals
from loomsight.api.services.roll_report import RollReportService
from loomsight.api.services.rolls import RollService
from loomsight.schema import API_PREFIX

router = APIRouter(tags=["rolls"])

ROLLS_PATH = f"{API_PREFIX}/machines/{{machine_id}}/rolls"
ROLL_PATH = f"{ROLLS_PATH}/{{roll_id}}"

RollIdPath = Annotated[
    str, Path(min_length=1, max_length=64, pattern=IDENTIFIER_PATTERN, description="Roll id.")
]
ReportQuery = Annotated[RollReportQuery, Query()]


async def get_roll_service(context: ContextDep, session: SessionDep) -> RollService:
    return RollService(session, context.clock)


async def get_roll_report_service(
    session: SessionDep, settings: ReportSettingsDep
) -> RollReportService:
    return RollReportService(session, settings)


RollServiceDep = Annotated[RollService, Depends(get_roll_service)]
RollReportServiceDep = Annotated[RollReportService, Depends(get_roll_report_service)]


@router.get(ROLLS_PATH, response_model=list[RollOut], responses=refusals(401, 403, 404))
def list_rolls(
    machine_id: MachineIdPath,
    _user: CurrentUser,
    query: Annotated[RollListQuery, Query()],
    service: RollServiceDep,
) -> list[RollOut]:
    """The machine's rolls as their start and end marks describe them, the latest first."""
    return [RollOut.model_validate(roll) for roll in service.latest(machine_id, query.limit)]


@router.post(
    f"{ROLL_PATH}/marks",
    response_model=RollOut,
    status_code=status.HTTP_201_CREATED,
    responses=refusals(401, 403, 404, 409, 415),
)
def mark_roll(
    machine_id: MachineIdPath,
    roll_id: RollIdPath,
    user: CurrentUser,
    mark: RollMarkIn,
    service: RollServiceDep,
    _json: None = JsonBody,
) -> RollOut:
    """Start or end a roll by hand (beside the marks cameras send).

    The roll keeps its earliest start and its latest end; an end with `length_m` gives the
    roll's length for grading.
    """
    return RollOut.model_validate(service.mark(machine_id, roll_id, mark, user.username))


@router.get(ROLL_PATH, response_model=RollReport, responses=refusals(401, 403, 404))
def roll_report(
    machine_id: MachineIdPath,
    roll_id: RollIdPath,
    _user: CurrentUser,
    query: ReportQuery,
    service: RollReportServiceDep,
) -> RollReport:
    """The roll's defects by position, scored by the 4-point system (ASTM D5430), its points
    per 100 square yards and its grade against the limits in the settings."""
    return service.report(machine_id, roll_id, query.counting)


@router.get(
    f"{ROLL_PATH}/report.html",
    response_class=HTMLResponse,
    responses={200: {"content": {"text/html": {}}}, **refusals(401, 403, 404)},
)
def roll_report_page(
    machine_id: MachineIdPath,
    roll_id: RollIdPath,
    _user: CurrentUser,
    query: ReportQuery,
    service: RollReportServiceDep,
) -> HTMLResponse:
    """The roll report as a printable page, with the roll map."""
    report = service.report(machine_id, roll_id, query.counting)
    return HTMLResponse(render_roll_page(report, roll_map_svg(report)))


@router.get(
    f"{ROLL_PATH}/map.svg",
    response_class=Response,
    responses={200: {"content": {"image/svg+xml": {}}}, **refusals(401, 403, 404)},
)
def roll_map(
    machine_id: MachineIdPath,
    roll_id: RollIdPath,
    _user: CurrentUser,
    query: ReportQuery,
    service: RollReportServiceDep,
) -> Response:
    """The roll map: defects along the length and across the width, coloured by class."""
    report = service.report(machine_id, roll_id, query.counting)
    return Response(roll_map_svg(report), media_type="image/svg+xml")
