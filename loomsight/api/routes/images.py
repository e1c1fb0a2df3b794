"""PUT and GET IMAGE_PATH: images by sha256, uploaded by cameras, read by reviewers."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from loomsight.api.deps import CurrentCamera, CurrentUser, ImageServiceDep
from loomsight.api.params import Sha256Path
from loomsight.api.schemas import ImageStored, refusals
from loomsight.api.services.images import IMAGE_SIGNATURES
from loomsight.schema import IMAGE_PATH

router = APIRouter(tags=["images"])

_BINARY = {"schema": {"type": "string", "format": "binary"}}


async def _body(request: Request) -> bytes:
    return await request.body()


@router.put(
    IMAGE_PATH,
    response_model=ImageStored,
    responses=refusals(401, 403, 413, 415, 503),
    openapi_extra={
        "requestBody": {"required": True, "content": dict.fromkeys(IMAGE_SIGNATURES, _BINARY)}
    },
    summary="Upload an image (idempotent)",
)
def put_image(
    sha256: Sha256Path,
    camera: CurrentCamera,
    request: Request,
    data: Annotated[bytes, Depends(_body)],
    service: ImageServiceDep,
) -> ImageStored:
    """Store the JPEG or PNG bytes under their sha256, which must be the one in the path.

    An image the server holds already is accepted and stored once (`new` is false).
    """
    stored = service.put(sha256, request.headers.get("content-type"), data, camera.camera_id)
    return ImageStored(sha256=stored.sha256, size_bytes=stored.size_bytes, new=stored.new)


@router.get(
    IMAGE_PATH,
    response_class=Response,
    responses={
        200: {"content": dict.fromkeys(IMAGE_SIGNATURES, _BINARY), "description": "The image."},
        **refusals(401, 403, 404),
    },
    summary="Download an image",
)
def get_image(sha256: Sha256Path, _user: CurrentUser, service: ImageServiceDep) -> Response:
    """The image's bytes, with its media type; content-addressed, so cacheable for ever."""
    data, media = service.get(sha256)
    return Response(
        data,
        media_type=media,
        headers={"Cache-Control": "private, max-age=31536000, immutable", "ETag": f'"{sha256}"'},
    )
