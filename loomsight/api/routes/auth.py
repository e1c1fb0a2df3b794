"""Logging in and out (reviewers and admins).

A login answers a bearer token that expires (`session_ttl_s`) and sets the same token as an
HttpOnly, SameSite=Strict cookie, so the browser pages (and their <img> tags) are authorised
too. Tokens rather than HTTP Basic: the password is checked (scrypt, slow on purpose) once per
login instead of on every request, a login can be ended, and browsers show no Basic prompt.
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, status
from fastapi.security import OAuth2PasswordRequestForm

from loomsight.api.auth import SESSION_COOKIE
from loomsight.api.deps import CurrentUser, SettingsDep, UserServiceDep
from loomsight.api.errors import NotAuthenticatedError, UnsupportedMediaTypeError
from loomsight.api.params import IDENTIFIER_PATTERN
from loomsight.api.schemas import LoginToken, Me, refusals
from loomsight.api.services.images import media_type
from loomsight.schema import API_PREFIX

router = APIRouter(tags=["auth"])

TOKEN_PATH = f"{API_PREFIX}/auth/token"
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


async def _require_form(request: Request) -> None:
    media = media_type(request.headers.get("content-type"))
    if media not in FORM_TYPES:
        raise UnsupportedMediaTypeError(
            f"log in with a form ({' or '.join(FORM_TYPES)}), got {media or 'no content type'!r}"
        )


@router.post(
    TOKEN_PATH,
    response_model=LoginToken,
    responses=refusals(401, 415),
    dependencies=[Depends(_require_form)],
)
def log_in(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    service: UserServiceDep,
    settings: SettingsDep,
    response: Response,
) -> LoginToken:
    """Exchange a username and password (OAuth2 password form) for a login token."""
    if not re.fullmatch(IDENTIFIER_PATTERN, form.username) or len(form.username) > 64:
        raise NotAuthenticatedError("wrong username or password")
    token, login, user = service.login(form.username, form.password, settings.session_ttl_s)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=settings.session_ttl_s,
        httponly=True,
        samesite="strict",
        secure=settings.cookie_secure,
    )
    return LoginToken(
        access_token=token,
        expires_at=login.expires_at,
        username=user.username,
        role="admin" if user.role == "admin" else "reviewer",
    )


@router.post(
    f"{API_PREFIX}/auth/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=refusals(401, 403),
)
def log_out(user: CurrentUser, service: UserServiceDep) -> Response:
    """End this login: its token stops working and the cookie is cleared."""
    service.logout(user.session_sha256)
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.get(f"{API_PREFIX}/auth/me", response_model=Me, responses=refusals(401, 403))
def me(user: CurrentUser) -> Me:
    """Who the login token belongs to."""
    return Me(username=user.username, role="admin" if user.is_admin else "reviewer")
