"""Dependencies as Annotated aliases: the context's parts, who is calling, and the services.

This is the one place that reads the app's context; routes declare `SessionDep`,
`CurrentCamera`, `RequireAdmin`, `IngestServiceDep`... and get them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, cast

from fastapi import Depends, Request
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from loomsight.api.auth import (
    SESSION_COOKIE,
    CameraPrincipal,
    Principal,
    UserPrincipal,
    resolve_token,
)
from loomsight.api.context import AppContext
from loomsight.api.errors import ForbiddenError, NotAuthenticatedError, UnsupportedMediaTypeError
from loomsight.api.metrics import ApiMetrics
from loomsight.api.services.images import ImageService, media_type
from loomsight.api.services.ingest import IngestService
from loomsight.api.services.machines import MachineService
from loomsight.api.services.models import ModelService
from loomsight.api.services.users import UserService
from loomsight.api.settings import ApiSettings
from loomsight.api.storage import BlobStore


async def get_context(request: Request) -> AppContext:
    return cast(AppContext, request.app.state.context)


ContextDep = Annotated[AppContext, Depends(get_context)]


async def get_settings(context: ContextDep) -> ApiSettings:
    return context.settings


async def get_store(context: ContextDep) -> BlobStore:
    return context.store


async def get_metrics(context: ContextDep) -> ApiMetrics:
    return context.metrics


def get_session(context: ContextDep) -> Iterator[Session]:
    with context.sessions() as session:
        yield session


SettingsDep = Annotated[ApiSettings, Depends(get_settings)]
StoreDep = Annotated[BlobStore, Depends(get_store)]
MetricsDep = Annotated[ApiMetrics, Depends(get_metrics)]
SessionDep = Annotated[Session, Depends(get_session)]

_bearer = HTTPBearer(
    auto_error=False,
    description="A camera token (lsc_...) or a login token from POST /api/v1/auth/token.",
)
_cookie = APIKeyCookie(
    name=SESSION_COOKIE, auto_error=False, description="The login token, set by logging in."
)


def get_principal(
    context: ContextDep,
    session: SessionDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    cookie: Annotated[str | None, Depends(_cookie)],
) -> Principal:
    token = bearer.credentials if bearer is not None else cookie
    if not token:
        raise NotAuthenticatedError(
            "this route needs a credential: `Authorization: Bearer <token>` with a camera token "
            "or a login token from POST /api/v1/auth/token"
        )
    return resolve_token(session, token, context.clock())


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


async def require_camera(principal: CurrentPrincipal) -> CameraPrincipal:
    if not isinstance(principal, CameraPrincipal):
        raise ForbiddenError("this route is for cameras (a camera token), not for users")
    return principal


async def require_user(principal: CurrentPrincipal) -> UserPrincipal:
    if not isinstance(principal, UserPrincipal):
        raise ForbiddenError("this route is for reviewers and admins, not for cameras")
    return principal


CurrentCamera = Annotated[CameraPrincipal, Depends(require_camera)]
CurrentUser = Annotated[UserPrincipal, Depends(require_user)]


async def require_admin(user: CurrentUser) -> UserPrincipal:
    if not user.is_admin:
        raise ForbiddenError(f"this route is for admins; {user.username!r} is a {user.role}")
    return user


RequireAdmin = Annotated[UserPrincipal, Depends(require_admin)]


async def require_json(request: Request) -> None:
    """415 unless the body is declared as JSON (checked before the body is validated)."""
    media = media_type(request.headers.get("content-type"))
    if media != "application/json":
        raise UnsupportedMediaTypeError(
            f"the body must be sent as application/json, got {media or 'no content type'!r}"
        )


async def require_multipart(request: Request) -> None:
    """415 unless the body is declared as multipart/form-data (file uploads)."""
    media = media_type(request.headers.get("content-type"))
    if media != "multipart/form-data":
        raise UnsupportedMediaTypeError(
            f"the body must be sent as multipart/form-data, got {media or 'no content type'!r}"
        )


JsonBody = Depends(require_json)
MultipartBody = Depends(require_multipart)


async def get_machine_service(context: ContextDep, session: SessionDep) -> MachineService:
    return MachineService(session, context.clock)


async def get_user_service(context: ContextDep, session: SessionDep) -> UserService:
    return UserService(session, context.clock)


async def get_ingest_service(context: ContextDep, session: SessionDep) -> IngestService:
    return IngestService(session, context.metrics, context.clock)


async def get_image_service(context: ContextDep, session: SessionDep) -> ImageService:
    return ImageService(session, context.store, context.metrics, context.clock)


async def get_model_service(context: ContextDep, session: SessionDep) -> ModelService:
    return ModelService(session, context.store, context.clock)


MachineServiceDep = Annotated[MachineService, Depends(get_machine_service)]
UserServiceDep = Annotated[UserService, Depends(get_user_service)]
IngestServiceDep = Annotated[IngestService, Depends(get_ingest_service)]
ImageServiceDep = Annotated[ImageService, Depends(get_image_service)]
ModelServiceDep = Annotated[ModelService, Depends(get_model_service)]
