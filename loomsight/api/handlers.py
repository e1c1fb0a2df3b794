"""Exception handlers: every refusal is JSON `{"detail": ...}` that says what was expected.

Validation errors (422) list where and why without echoing the input back (a batch can be a
megabyte). Database errors that bad input could still provoke are answered as the client's fault
(422, 409), an unreachable or busy database as 503; nothing of that becomes a 500.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, IntegrityError, OperationalError

from loomsight.api.errors import ApiError, NotAuthenticatedError

logger = logging.getLogger(__name__)

MAX_LISTED_ERRORS = 20


def _api_error(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, ApiError)
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(error, NotAuthenticatedError) else None
    if error.status_code == 422:  # the same shape as FastAPI's own validation errors
        detail: Any = [{"loc": ["body"], "msg": str(error), "type": "invalid_input"}]
    else:
        detail = str(error)
    return JSONResponse({"detail": detail}, status_code=error.status_code, headers=headers)


def _validation_error(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    errors: list[dict[str, Any]] = [
        {"loc": list(item.get("loc", ())), "msg": item.get("msg", ""), "type": item.get("type", "")}
        for item in error.errors()[:MAX_LISTED_ERRORS]
    ]
    for listed, item in zip(errors, error.errors(), strict=False):
        if item.get("type") == "json_invalid" and "ctx" in item:
            listed["msg"] = f"JSON decode error: {item['ctx'].get('error', '')}"
    return JSONResponse({"detail": errors}, status_code=422)


def _data_error(_request: Request, error: Exception) -> JSONResponse:
    logger.warning("the database refused a value: %s", error)
    message = f"the database refused a value: {getattr(error, 'orig', error)}"
    return JSONResponse(
        {"detail": [{"loc": ["body"], "msg": message, "type": "database_refused"}]},
        status_code=422,
    )


def _integrity_error(_request: Request, error: Exception) -> JSONResponse:
    logger.info("conflict with stored data: %s", error)
    return JSONResponse(
        {
            "detail": "the request conflicts with what is stored (it exists already, or names "
            "something that does not exist)"
        },
        status_code=409,
    )


def _operational_error(_request: Request, error: Exception) -> JSONResponse:
    logger.error("database unavailable: %s", error)
    return JSONResponse(
        {"detail": "the database is unavailable or busy; try again later"},
        status_code=503,
        headers={"Retry-After": "5"},
    )


def install_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(DataError, _data_error)
    app.add_exception_handler(IntegrityError, _integrity_error)
    app.add_exception_handler(OperationalError, _operational_error)
