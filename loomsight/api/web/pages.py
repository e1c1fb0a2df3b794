"""The HTML pages (not part of the OpenAPI schema): each needs a reviewer's or admin's login;
their scripts call the API on the same origin with the login cookie."""

from __future__ import annotations

import pathlib
from importlib import resources
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from loomsight.api.auth import UserPrincipal
from loomsight.api.calibration_models import DEFAULT_LENGTH_M, CalibrationFigures
from loomsight.api.deps import ContextDep, MachineServiceDep, ModelServiceDep, SessionDep
from loomsight.api.params import IDENTIFIER_PATTERN, MachineIdPath
from loomsight.api.schemas import ModelOut
from loomsight.api.services.calibrations import CalibrationService
from loomsight.api.web.access import PageUser, safe_next
from loomsight.api.web.fleet import fleet_health, format_age, machine_rolls
from loomsight.datasets.synth.defects import FABRIC_CLASSES

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=pathlib.Path(__file__).parent / "templates")
templates.env.filters["age"] = format_age

RollIdPath = Annotated[
    str, Path(min_length=1, max_length=64, pattern=IDENTIFIER_PATTERN, description="Roll id.")
]
MAX_KEYED_CLASSES = 9  # number keys 1..9 relabel to the n-th class


def plotly_js_path() -> pathlib.Path:
    """plotly.min.js as the installed `plotly` package ships it (served, never downloaded)."""
    return pathlib.Path(str(resources.files("plotly") / "package_data" / "plotly.min.js"))


def review_classes(models: list[ModelOut]) -> list[str]:
    """The classes the number keys relabel to: the fleet model's, else the newest model's, else
    the default fabric taxonomy."""
    active = [m for m in models if m.active_for_all] or models
    return list(active[0].card.classes if active else FABRIC_CLASSES)


def _page(request: Request, template: str, user: UserPrincipal, **context: Any) -> HTMLResponse:
    return templates.TemplateResponse(
        request,
        template,
        {"user": user, "is_admin": user.is_admin, **context},
        headers={"Cache-Control": "no-store"},
    )


@router.get("/", response_class=RedirectResponse)
def home(_user: PageUser) -> RedirectResponse:
    return RedirectResponse("/review", 303)


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: Annotated[str | None, Query()] = None) -> HTMLResponse:
    return templates.TemplateResponse(request, "login.html", {"next": safe_next(next)})


@router.get("/review", response_class=HTMLResponse)
def review_page(
    request: Request, user: PageUser, machines: MachineServiceDep, models: ModelServiceDep
) -> HTMLResponse:
    described = [models.describe(model) for model in models.all()]
    classes = review_classes(described)
    return _page(
        request,
        "review.html",
        user,
        machines=[m.id for m in machines.all()],
        classes=classes[:MAX_KEYED_CLASSES],
        all_classes=classes,
    )


@router.get("/machines", response_class=HTMLResponse)
def machines_page(
    request: Request, user: PageUser, context: ContextDep, session: SessionDep
) -> HTMLResponse:
    now = context.clock()
    return _page(
        request, "machines.html", user, machines=fleet_health(session, now), now=now.isoformat()
    )


@router.get("/machines/{machine_id}", response_class=HTMLResponse)
def machine_page(
    request: Request,
    machine_id: MachineIdPath,
    user: PageUser,
    context: ContextDep,
    session: SessionDep,
    machines: MachineServiceDep,
) -> HTMLResponse:
    machine = machines.get(machine_id)
    health = next(m for m in fleet_health(session, context.clock()) if m.id == machine.id)
    requested = CalibrationService(session, context.clock).for_machine(machine.id)
    return _page(
        request,
        "machine.html",
        user,
        machine=machine,
        health=health,
        rolls=machine_rolls(session, machine.id),
        calibrations=[(c, CalibrationFigures.of(c.result)) for c in requested],
        default_length_m=DEFAULT_LENGTH_M,
        now=context.clock().isoformat(),
    )


@router.get("/machines/{machine_id}/rolls/{roll_id}", response_class=HTMLResponse)
def roll_page(
    request: Request,
    machine_id: MachineIdPath,
    roll_id: RollIdPath,
    user: PageUser,
    machines: MachineServiceDep,
) -> HTMLResponse:
    machine = machines.get(machine_id)
    return _page(request, "roll.html", user, machine=machine, roll_id=roll_id)


@router.get("/models", response_class=HTMLResponse)
def models_page(
    request: Request, user: PageUser, machines: MachineServiceDep, models: ModelServiceDep
) -> HTMLResponse:
    described = [models.describe(model) for model in models.all()]
    fleet = next((m for m in described if m.active_for_all), None)
    running: dict[str, ModelOut | None] = {}
    for machine in machines.all():
        own = next((m for m in described if machine.id in m.active_machines), None)
        running[machine.id] = own or fleet
    return _page(request, "models.html", user, models=described, running=running, fleet=fleet)


@router.get("/vendor/plotly.min.js")
def plotly_js() -> FileResponse:
    return FileResponse(
        plotly_js_path(),
        media_type="text/javascript",
        headers={"Cache-Control": "public, max-age=86400"},
    )
