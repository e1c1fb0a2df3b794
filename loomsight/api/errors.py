"""Errors the API's services raise; each becomes a JSON answer `{"detail": message}` with its
HTTP status (see `handlers.py`). The CLI shows them as one line, like every LoomsightError."""

from __future__ import annotations

from loomsight.errors import LoomsightError


class ApiError(LoomsightError):
    status_code = 400


class NotAuthenticatedError(ApiError):
    """No credential, or one that is unknown, revoked or expired."""

    status_code = 401


class ForbiddenError(ApiError):
    """A known credential that may not do this."""

    status_code = 403


class NotFoundError(ApiError):
    status_code = 404


class ConflictError(ApiError):
    """The thing exists already (a machine with the same id) or contradicts what is stored."""

    status_code = 409


class TooLargeError(ApiError):
    status_code = 413


class UnsupportedMediaTypeError(ApiError):
    status_code = 415


class InvalidInputError(ApiError):
    """Well-formed but unusable input: a hash that does not match, a value out of range."""

    status_code = 422
