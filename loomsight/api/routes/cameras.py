"""Cameras: admins add them to machines and get each one's token (shown once), rotate, revoke."""

from __future__ import annotations

from fastapi import APIRouter, status

from loomsight.api.deps import JsonBody, MachineServiceDep, RequireAdmin
from loomsight.api.params import CameraIdPath, MachineIdPath
from loomsight.api.schemas import CameraCreate, CameraOut, CameraToken, refusals
from loomsight.api.tables import Camera
from loomsight.schema import API_PREFIX

router = APIRouter(tags=["cameras"])


def _with_token(camera: Camera, token: str) -> CameraToken:
    return CameraToken(**CameraOut.model_validate(camera).model_dump(), token=token)


@router.post(
    f"{API_PREFIX}/machines/{{machine_id}}/cameras",
    response_model=CameraToken,
    status_code=status.HTTP_201_CREATED,
    responses=refusals(401, 403, 404, 409, 415),
)
def add_camera(
    machine_id: MachineIdPath,
    _admin: RequireAdmin,
    new: CameraCreate,
    service: MachineServiceDep,
    _json: None = JsonBody,
) -> CameraToken:
    """Add a camera to the machine; the answer holds its token, shown this once."""
    return _with_token(*service.add_camera(machine_id, new.id))


@router.get(
    f"{API_PREFIX}/machines/{{machine_id}}/cameras",
    response_model=list[CameraOut],
    responses=refusals(401, 403, 404),
)
def list_cameras(
    machine_id: MachineIdPath, _admin: RequireAdmin, service: MachineServiceDep
) -> list[CameraOut]:
    """The machine's cameras (without tokens)."""
    return [CameraOut.model_validate(camera) for camera in service.cameras(machine_id)]


@router.post(
    f"{API_PREFIX}/cameras/{{camera_id}}/token",
    response_model=CameraToken,
    responses=refusals(401, 403, 404),
)
def rotate_camera_token(
    camera_id: CameraIdPath, _admin: RequireAdmin, service: MachineServiceDep
) -> CameraToken:
    """A new token for the camera (the old one stops working; a revoked camera is restored)."""
    return _with_token(*service.rotate_token(camera_id))


@router.delete(
    f"{API_PREFIX}/cameras/{{camera_id}}",
    response_model=CameraOut,
    responses=refusals(401, 403, 404),
)
def revoke_camera(
    camera_id: CameraIdPath, _admin: RequireAdmin, service: MachineServiceDep
) -> CameraOut:
    """Revoke the camera's token; its stored data stays."""
    return CameraOut.model_validate(service.revoke(camera_id))
