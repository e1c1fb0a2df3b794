"""Machines and their cameras: register, change, issue and revoke camera tokens."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from loomsight.api.clock import Clock
from loomsight.api.errors import ConflictError, NotFoundError
from loomsight.api.schemas import MachineCreate, MachineUpdate
from loomsight.api.security import CAMERA_TOKEN_PREFIX, new_token, token_sha256
from loomsight.api.tables import Camera, Machine


def existing_machine(session: Session, machine_id: str) -> Machine:
    """The machine MACHINE_ID; NotFoundError if there is none."""
    machine = session.get(Machine, machine_id)
    if machine is None:
        raise NotFoundError(f"no machine {machine_id!r}")
    return machine


class MachineService:
    def __init__(self, session: Session, clock: Clock) -> None:
        self.session = session
        self.clock = clock

    def create(self, new: MachineCreate) -> Machine:
        if self.session.get(Machine, new.id) is not None:
            raise ConflictError(f"machine {new.id!r} exists already")
        machine = Machine(**new.model_dump(), created_at=self.clock())
        self.session.add(machine)
        self.session.commit()
        return machine

    def all(self) -> list[Machine]:
        return list(self.session.scalars(select(Machine).order_by(Machine.id)))

    def get(self, machine_id: str) -> Machine:
        return existing_machine(self.session, machine_id)

    def update(self, machine_id: str, changes: MachineUpdate) -> Machine:
        machine = self.get(machine_id)
        for field in changes.model_fields_set:
            value = getattr(changes, field)
            if field == "name" and value is None:
                raise ConflictError("a machine must keep a name; send a new one instead of null")
            setattr(machine, field, value)
        self.session.commit()
        return machine

    def add_camera(self, machine_id: str, camera_id: str) -> tuple[Camera, str]:
        """A new camera of MACHINE_ID and its token (returned once, stored hashed)."""
        self.get(machine_id)
        existing = self.session.get(Camera, camera_id)
        if existing is not None:
            raise ConflictError(
                f"camera {camera_id!r} exists already (on machine {existing.machine_id!r}); "
                "rotate its token instead"
            )
        token = new_token(CAMERA_TOKEN_PREFIX)
        camera = Camera(
            id=camera_id,
            machine_id=machine_id,
            token_sha256=token_sha256(token),
            created_at=self.clock(),
            revoked_at=None,
        )
        self.session.add(camera)
        self.session.commit()
        return camera, token

    def cameras(self, machine_id: str) -> list[Camera]:
        self.get(machine_id)
        query = select(Camera).where(Camera.machine_id == machine_id).order_by(Camera.id)
        return list(self.session.scalars(query))

    def _camera(self, camera_id: str) -> Camera:
        camera = self.session.get(Camera, camera_id)
        if camera is None:
            raise NotFoundError(f"no camera {camera_id!r}")
        return camera

    def rotate_token(self, camera_id: str) -> tuple[Camera, str]:
        """A new token for the camera (also un-revokes it); the old token stops working."""
        camera = self._camera(camera_id)
        token = new_token(CAMERA_TOKEN_PREFIX)
        camera.token_sha256 = token_sha256(token)
        camera.revoked_at = None
        self.session.commit()
        return camera, token

    def revoke(self, camera_id: str) -> Camera:
        camera = self._camera(camera_id)
        if camera.revoked_at is None:
            camera.revoked_at = self.clock()
            self.session.commit()
        return camera
