"""Models: upload and activate (admins), list (users), the camera's active model and the file.
The model per machine and article is in `routes/article_models.py`, included here."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Response, UploadFile, status
from fastapi.responses import StreamingResponse

from loomsight.api.deps import (
    CurrentCamera,
    CurrentPrincipal,
    CurrentUser,
    JsonBody,
    ModelServiceDep,
    MultipartBody,
    RequireAdmin,
    SettingsDep,
)
from loomsight.api.errors import TooLargeError
from loomsight.api.params import VersionPath
from loomsight.api.routes import article_models
from loomsight.api.schemas import Activation, ModelOut, refusals
from loomsight.schema import (
    ACTIVE_MODEL_PATH,
    API_PREFIX,
    MODEL_FILE_PATH,
    MODEL_TEXTURE_PATH,
    ActiveModel,
)

router = APIRouter(tags=["models"])
router.include_router(article_models.router)

MODELS_PATH = f"{API_PREFIX}/models"
MAX_CARD_BYTES = 1024 * 1024


@router.post(
    MODELS_PATH,
    response_model=ModelOut,
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {"model": ModelOut, "description": "Held already."},
        **refusals(401, 403, 409, 413, 415),
    },
    summary="Upload a model (ONNX file and its card)",
)
def upload_model(
    admin: RequireAdmin,
    onnx: Annotated[UploadFile, File(description="The ONNX file (model.onnx).")],
    card: Annotated[UploadFile, File(description="Its model card (model.json).")],
    service: ModelServiceDep,
    settings: SettingsDep,
    response: Response,
    texture: Annotated[
        UploadFile | None,
        File(
            description="The article's texture-anomaly model (texture.npz): when, and only "
            "when, the card names one (card.texture)."
        ),
    ] = None,
    _multipart: None = MultipartBody,
) -> ModelOut:
    """Store a model; the card's onnx.sha256 and size must be the file's (and its texture's,
    when it names one). Uploading the same version again with the same file answers 200 and
    stores nothing new."""
    card_json = card.file.read(MAX_CARD_BYTES + 1)
    if len(card_json) > MAX_CARD_BYTES:
        raise TooLargeError(f"a model card is at most {MAX_CARD_BYTES} bytes")
    model, new = service.upload(
        onnx.file,
        card_json,
        admin.username,
        settings.max_model_bytes,
        None if texture is None else texture.file,
    )
    if not new:
        response.status_code = status.HTTP_200_OK
    return service.describe(model)


@router.get(MODELS_PATH, response_model=list[ModelOut], responses=refusals(401, 403))
def list_models(_user: CurrentUser, service: ModelServiceDep) -> list[ModelOut]:
    """Every uploaded model, newest first, with where it is active."""
    return [service.describe(model) for model in service.all()]


@router.get(
    f"{MODELS_PATH}/{{version}}", response_model=ModelOut, responses=refusals(401, 403, 404)
)
def get_model(version: VersionPath, _user: CurrentUser, service: ModelServiceDep) -> ModelOut:
    """One model and its card."""
    return service.describe(service.get(version))


@router.post(
    f"{MODELS_PATH}/{{version}}/activate",
    response_model=ModelOut,
    responses=refusals(401, 403, 404, 415),
)
def activate_model(
    version: VersionPath,
    admin: RequireAdmin,
    activation: Activation,
    service: ModelServiceDep,
    _json: None = JsonBody,
) -> ModelOut:
    """Make the model active for all machines (`machines` null) or for the machines listed;
    a machine's own choice wins over the model for all."""
    return service.describe(service.activate(version, activation.machines, admin.username))


@router.post(
    f"{MODELS_PATH}/{{version}}/deactivate",
    response_model=ModelOut,
    responses=refusals(401, 403, 404, 415),
)
def deactivate_model(
    version: VersionPath,
    _admin: RequireAdmin,
    activation: Activation,
    service: ModelServiceDep,
    _json: None = JsonBody,
) -> ModelOut:
    """Stop the model being active for all machines (null) or for the machines listed."""
    return service.describe(service.deactivate(version, activation.machines))


@router.get(
    ACTIVE_MODEL_PATH,
    response_model=ActiveModel,
    response_model_exclude_none=True,  # no texture: the answer agents without one understand
    responses=refusals(401, 403, 404),
    tags=["cameras"],
)
def active_model(camera: CurrentCamera, service: ModelServiceDep) -> ActiveModel:
    """The model the caller's machine should run and where to download it; 404: none."""
    return service.active_for(camera.machine_id)


@router.get(
    MODEL_FILE_PATH,
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
            },
            "description": "The ONNX file.",
        },
        **refusals(401, 404),
    },
    tags=["cameras"],
)
def model_file(
    version: VersionPath, _caller: CurrentPrincipal, service: ModelServiceDep
) -> StreamingResponse:
    """The model's ONNX file (for cameras and users); its sha256 is in the ETag header."""
    model, chunks = service.file(version)
    return StreamingResponse(
        chunks,
        media_type="application/octet-stream",
        headers={
            "Content-Length": str(model.size_bytes),
            "ETag": f'"{model.sha256}"',
            "Content-Disposition": 'attachment; filename="model.onnx"',
        },
    )


@router.get(
    MODEL_TEXTURE_PATH,
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
            },
            "description": "The texture-anomaly model (texture.npz).",
        },
        **refusals(401, 404),
    },
    tags=["cameras"],
)
def model_texture_file(
    version: VersionPath, _caller: CurrentPrincipal, service: ModelServiceDep
) -> StreamingResponse:
    """The model's texture-anomaly file (cameras run it beside the detector); 404 when the
    model has none. Its sha256 is in the ETag header."""
    texture, chunks = service.texture_file(version)
    return StreamingResponse(
        chunks,
        media_type="application/octet-stream",
        headers={
            "Content-Length": str(texture.size_bytes),
            "ETag": f'"{texture.sha256}"',
            "Content-Disposition": 'attachment; filename="texture.npz"',
        },
    )
