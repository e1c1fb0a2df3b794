"""Request and response models of the API's own routes (the camera wire types are in
`loomsight.schema`). They document the OpenAPI schema; inputs forbid unknown fields."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from loomsight.inference.model_card import ModelCard
from loomsight.schema import Identifier, Positive, Sha256


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("text must not contain NUL characters")
    return value


Text = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_no_nul)]
Role = Literal["reviewer", "admin"]


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Output(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class MachineCreate(_Input):
    id: Identifier
    name: Text
    line: Text | None = None
    article: Text | None = Field(None, description="The fabric article now running.")
    web_width_mm: Positive | None = Field(None, description="Width of the fabric web, mm.")


class MachineUpdate(_Input):
    """Fields to change; a field left out stays as it is, null clears it."""

    name: Text | None = None
    line: Text | None = None
    article: Text | None = None
    web_width_mm: Positive | None = None


class MachineOut(_Output):
    id: str
    name: str
    line: str | None
    article: str | None
    web_width_mm: float | None
    created_at: datetime


class CameraCreate(_Input):
    id: Identifier = Field(description="The camera_id its events will carry.")


class CameraOut(_Output):
    id: str
    machine_id: str
    created_at: datetime
    revoked_at: datetime | None


class CameraToken(CameraOut):
    token: str = Field(
        description="The camera's bearer token. Shown once: only its hash is stored."
    )


class UserCreate(_Input):
    username: Identifier
    password: Annotated[str, Field(min_length=10, max_length=256), AfterValidator(_no_nul)]
    role: Role


class UserOut(_Output):
    username: str
    role: Role
    created_at: datetime


class LoginToken(BaseModel):
    access_token: str = Field(description="Send as `Authorization: Bearer <access_token>`.")
    token_type: Literal["bearer"] = "bearer"
    expires_at: datetime
    username: str
    role: Role


class Me(BaseModel):
    username: str
    role: Role


class ImageStored(BaseModel):
    sha256: Sha256
    size_bytes: int
    new: bool = Field(description="False when the server held this image already.")


class ModelOut(BaseModel):
    name: str
    version: str
    sha256: Sha256
    size_bytes: int
    uploaded_at: datetime
    uploaded_by: str | None
    active_for_all: bool = Field(description="The model every machine without its own runs.")
    active_machines: list[str] = Field(description="Machines that run this model by choice.")
    download_path: str
    card: ModelCard


class Activation(_Input):
    machines: list[Identifier] | None = Field(
        None,
        max_length=1000,
        description="Machines to (de)activate the model for; null: for all machines.",
    )


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    status: Literal["ready", "not ready"]
    database: Literal["reachable", "unreachable"]
    revision: str | None = Field(description="The migration the database is at.")
    head: str = Field(description="The newest migration this version of the service has.")
    detail: str | None = None


class ErrorOut(BaseModel):
    detail: str = Field(description="What was expected and what came.")


_REFUSALS = {
    401: "No credential, or an unknown, revoked or expired one.",
    403: "The credential may not do this.",
    404: "Not found.",
    409: "Conflicts with what is stored.",
    413: "The body is over the size limit.",
    415: "The body has the wrong content type.",
    503: "The database is unavailable or busy.",
}


def refusals(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries for the refusals a route can answer (422 is FastAPI's own)."""
    return {code: {"model": ErrorOut, "description": _REFUSALS[code]} for code in codes}
