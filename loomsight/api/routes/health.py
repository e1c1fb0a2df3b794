"""Operations: /healthz (the process answers), /readyz (database reachable and migrated),
/metrics (Prometheus)."""

from __future__ import annotations

import hmac
import logging
from typing import Annotated

from fastapi import APIRouter, Depends, Response
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy.exc import SQLAlchemyError

from loomsight.api.deps import ContextDep
from loomsight.api.errors import NotAuthenticatedError
from loomsight.api.migrate import current_revision
from loomsight.api.schemas import Health, Readiness

logger = logging.getLogger(__name__)

router = APIRouter(tags=["operations"])
_metrics_bearer = HTTPBearer(auto_error=False, description="LOOMSIGHT_API_METRICS_TOKEN, if set.")


@router.get("/healthz", response_model=Health)
async def healthz() -> Health:
    """The process is up and answering."""
    return Health()


@router.get("/readyz", response_model=Readiness, responses={503: {"model": Readiness}})
def readyz(context: ContextDep) -> JSONResponse:
    """Ready when the database answers and is at the newest migration (else 503, with why)."""
    head = context.head_revision
    try:
        revision = current_revision(context.engine)
    except SQLAlchemyError as error:
        logger.warning("readyz: database unreachable: %s", error)
        body = Readiness(
            status="not ready",
            database="unreachable",
            revision=None,
            head=head,
            detail=str(error).splitlines()[0],
        )
        return JSONResponse(body.model_dump(), status_code=503)
    ready = revision == head
    body = Readiness(
        status="ready" if ready else "not ready",
        database="reachable",
        revision=revision,
        head=head,
        detail=None if ready else "the database is not migrated: run `loomsight api migrate`",
    )
    return JSONResponse(body.model_dump(), status_code=200 if ready else 503)


@router.get("/metrics", include_in_schema=False)
async def metrics(
    context: ContextDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_metrics_bearer)],
) -> Response:
    """Prometheus text format."""
    expected = context.settings.metrics_token
    if expected is not None:
        given = bearer.credentials if bearer is not None else ""
        if not hmac.compare_digest(given.encode(), expected.get_secret_value().encode()):
            raise NotAuthenticatedError("/metrics needs `Authorization: Bearer <metrics token>`")
    return Response(context.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)
