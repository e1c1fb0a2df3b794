"""`install(app)`: the pages, their static files and the redirect of logged-out visitors."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from loomsight.api.web.access import LoginRequiredError, login_redirect
from loomsight.api.web.pages import router

STATIC_DIR = Path(__file__).parent / "static"


def install(app: FastAPI) -> None:
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.add_exception_handler(LoginRequiredError, login_redirect)
