"""Machines: registered by admins, read by reviewers and admins."""

from __future__ import annotations

from fastapi import APIRouter, status

from loomsight.api.deps import CurrentUser, JsonBody, MachineServiceDep, RequireAdmin
from loomsight.api.params import MachineIdPath
from loomsight.api.schemas import MachineCreate, MachineOut, MachineUpdate, refusals
from loomsight.schema import API_PREFIX

router = APIRouter(tags=["machines"])

MACHINES_PATH = f"{API_PREFIX}/machines"


@router.post(
    MACHINES_PATH,
    response_model=MachineOut,
    status_code=status.HTTP_201_CREATED,
    responses=refusals(401, 403, 409, 415),
)
def create_machine(
    _admin: RequireAdmin,
    new: MachineCreate,
    service: MachineServiceDep,
    _json: None = JsonBody,
) -> MachineOut:
    """Register a machine (its id is what cameras put in machine_id)."""
    return MachineOut.model_validate(service.create(new))


@router.get(MACHINES_PATH, response_model=list[MachineOut], responses=refusals(401, 403))
def list_machines(_user: CurrentUser, service: MachineServiceDep) -> list[MachineOut]:
    """Every machine, by id."""
    return [MachineOut.model_validate(machine) for machine in service.all()]


@router.get(
    f"{MACHINES_PATH}/{{machine_id}}", response_model=MachineOut, responses=refusals(401, 403, 404)
)
def get_machine(
    machine_id: MachineIdPath, _user: CurrentUser, service: MachineServiceDep
) -> MachineOut:
    """One machine."""
    return MachineOut.model_validate(service.get(machine_id))


@router.patch(
    f"{MACHINES_PATH}/{{machine_id}}",
    response_model=MachineOut,
    responses=refusals(401, 403, 404, 409, 415),
)
def update_machine(
    machine_id: MachineIdPath,
    _admin: RequireAdmin,
    changes: MachineUpdate,
    service: MachineServiceDep,
    _json: None = JsonBody,
) -> MachineOut:
    """Change a machine's name, line, article or web width (fields left out stay)."""
    return MachineOut.model_validate(service.update(machine_id, changes))
