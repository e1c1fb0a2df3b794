"""Who may see a page: a logged-in reviewer or admin (the login cookie, or a bearer token).

A caller without a valid login is sent to the login page (303) with the page to come back to;
a camera token is refused (403), as it is on the API's user routes.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.responses import RedirectResponse

from loomsight.api.auth import SESSION_COOKIE, UserPrincipal, resolve_token
from loomsight.api.deps import ContextDep, SessionDep
from loomsight.api.errors import ForbiddenError, NotAuthenticatedError

LOGIN_PAGE = "/login"


class LoginRequiredError(Exception):
    """Raised by a page dependency: answer with a redirect to the login page."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


def safe_next(path: str | None) -> str:
    """PATH if it is a path on this site (not `//host` or a URL), else the default page."""
    if not path or not path.startswith("/") or path.startswith("//") or "\\" in path:
        return "/review"
    return path


def _token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() == "bearer" and credentials:
        return credentials
    return request.cookies.get(SESSION_COOKIE)


def page_user(request: Request, context: ContextDep, session: SessionDep) -> UserPrincipal:
    """The logged-in user; LoginRequiredError without a valid login, 403 for a camera."""
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    token = _token(request)
    if not token:
        raise LoginRequiredError(here)
    try:
        principal = resolve_token(session, token, context.clock())
    except NotAuthenticatedError:
        raise LoginRequiredError(here) from None
    if not isinstance(principal, UserPrincipal):
        raise ForbiddenError("the pages are for reviewers and admins, not for cameras")
    return principal


PageUser = Annotated[UserPrincipal, Depends(page_user)]


def login_redirect(_request: Request, error: Exception) -> RedirectResponse:
    assert isinstance(error, LoginRequiredError)
    return RedirectResponse(f"{LOGIN_PAGE}?next={quote(safe_next(error.next_path))}", 303)
