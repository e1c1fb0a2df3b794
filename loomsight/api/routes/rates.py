"""Defect rates per machine and time bucket, alone or side by side (reviewers and admins)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from loomsight.api.deps import ContextDep, CurrentUser, SessionDep
from loomsight.api.params import MachineIdPath
from loomsight.api.rate_models import CompareQuery, MachineRates, RateComparison, RateQuery
from loomsight.api.report_deps import ReportSettingsDep
from loomsight.api.schemas import refusals
from loomsight.api.services.rates import RateService
from loomsight.schema import API_PREFIX

router = APIRouter(tags=["rates"])

RATES_PATH = f"{API_PREFIX}/rates"


async def get_rate_service(
    context: ContextDep, session: SessionDep, settings: ReportSettingsDep
) -> RateService:
    return RateService(session, context.clock, settings)


RateServiceDep = Annotated[RateService, Depends(get_rate_service)]


def _json(rates: MachineRates | RateComparison) -> Response:
    """The rates as JSON, serialised once: the service built them as validated models already
    (thousands of buckets are not worth a second validation by FastAPI)."""
    return Response(rates.model_dump_json(), media_type="application/json")


@router.get(
    f"{API_PREFIX}/machines/{{machine_id}}/rates",
    response_model=MachineRates,
    responses=refusals(401, 403, 404),
)
def machine_rates(
    machine_id: MachineIdPath,
    _user: CurrentUser,
    query: Annotated[RateQuery, Query()],
    service: RateServiceDep,
) -> Response:
    """Defects per 100 m and per 100 m² of inspected fabric, per bucket and class.

    Inspected and skipped metres come from the cameras' heartbeats (a heartbeat counts in the
    bucket where its period starts). `coverage` lists the gaps, stretches with no heartbeat
    longer than the threshold: there nothing was measured, and each bucket tells how many of
    its seconds lie in gaps (`uncovered_s`). Times are UTC; shifts come from the settings.
    """
    return _json(service.machine_rates(machine_id, query))


@router.get(RATES_PATH, response_model=RateComparison, responses=refusals(401, 403, 404))
def compare_rates(
    _user: CurrentUser, query: Annotated[CompareQuery, Query()], service: RateServiceDep
) -> Response:
    """The rates of several machines (repeat `machine`) over the same range and buckets."""
    return _json(service.compare(query))
