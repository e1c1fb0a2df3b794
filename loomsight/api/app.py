"""`create_app(settings)`: the FastAPI app with its routers, handlers and middleware.

Nothing is built at import time; each call makes an app with its own engine, store and metrics
registry. The database is not migrated here: `loomsight serve` does that before it starts (and
/readyz says 503 until it is).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

from fastapi import FastAPI

from loomsight import __version__
from loomsight.api.clock import Clock, utc_now
from loomsight.api.context import build_context
from loomsight.api.handlers import install_handlers
from loomsight.api.middleware import BodyLimit, BodyLimitMiddleware, ObservabilityMiddleware
from loomsight.api.routes import (
    auth,
    calibrations,
    cameras,
    datasets,
    health,
    images,
    ingest,
    machines,
    models,
    rates,
    review,
    rolls,
    users,
)
from loomsight.api.settings import ApiSettings
from loomsight.api.storage import BlobStore
from loomsight.api.web.install import install as install_pages
from loomsight.schema import API_PREFIX, SCHEMA_VERSION

DESCRIPTION = f"""Defects from the line cameras, kept per machine and roll; images; models.

Cameras send `Authorization: Bearer <camera token>` (an admin adds the camera to its machine and
gets the token once). Reviewers and admins log in at `{API_PREFIX}/auth/token`.
Wire schema version {SCHEMA_VERSION} (`loomsight.schema`).
"""


def body_limit_for(settings: ApiSettings, method: str, path: str) -> BodyLimit:
    """The body size limit of a request: images and model uploads have their own."""
    if method == "PUT" and path.startswith(f"{API_PREFIX}/images/"):
        return BodyLimit(settings.max_image_bytes, "LOOMSIGHT_API_MAX_IMAGE_BYTES")
    if method == "POST" and path == models.MODELS_PATH:
        return BodyLimit(settings.max_model_bytes, "LOOMSIGHT_API_MAX_MODEL_BYTES")
    return BodyLimit(settings.max_body_bytes, "LOOMSIGHT_API_MAX_BODY_BYTES")


def create_app(
    settings: ApiSettings, clock: Clock = utc_now, store: BlobStore | None = None
) -> FastAPI:
    """The API for SETTINGS; CLOCK and STORE replace the UTC clock and the folder store."""
    context = build_context(settings, clock, store)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        context.engine.dispose()

    app = FastAPI(
        title="loomsight API",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.context = context
    install_handlers(app)
    for module in (
        ingest,
        images,
        models,
        machines,
        cameras,
        users,
        auth,
        health,
        review,
        datasets,
        rates,
        rolls,
        calibrations,
    ):
        app.include_router(module.router)
    install_pages(app)  # the browser pages, their static files, the redirect to /login
    app.add_middleware(BodyLimitMiddleware, limit_for=partial(body_limit_for, settings))
    app.add_middleware(ObservabilityMiddleware, metrics=context.metrics)  # outermost
    return app
