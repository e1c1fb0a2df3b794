"""Who is calling: a bearer token (or the session cookie) resolved to a camera or a user.

A camera token belongs to one camera of one machine and lives until revoked; a user's session
token comes from logging in and expires. Unknown, revoked and expired tokens are all answered
the same way (401), so a caller learns nothing about which tokens exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from loomsight.api.errors import NotAuthenticatedError
from loomsight.api.security import CAMERA_TOKEN_PREFIX, SESSION_TOKEN_PREFIX, token_sha256
from loomsight.api.tables import Camera, LoginSession, User

SESSION_COOKIE = "loomsight_session"


@dataclass(frozen=True)
class CameraPrincipal:
    camera_id: str
    machine_id: str


@dataclass(frozen=True)
class UserPrincipal:
    username: str
    role: str  # reviewer | admin
    session_sha256: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


Principal = CameraPrincipal | UserPrincipal


def resolve_token(session: Session, token: str, now: datetime) -> Principal:
    """The camera or user TOKEN stands for; NotAuthenticatedError when it stands for nobody."""
    digest = token_sha256(token)
    if token.startswith(CAMERA_TOKEN_PREFIX):
        camera = session.scalar(
            select(Camera).where(Camera.token_sha256 == digest, Camera.revoked_at.is_(None))
        )
        if camera is not None:
            return CameraPrincipal(camera_id=camera.id, machine_id=camera.machine_id)
    elif token.startswith(SESSION_TOKEN_PREFIX):
        row = session.execute(
            select(User.username, User.role)
            .join(LoginSession, LoginSession.username == User.username)
            .where(LoginSession.token_sha256 == digest, LoginSession.expires_at > now)
        ).first()
        if row is not None:
            return UserPrincipal(username=row.username, role=row.role, session_sha256=digest)
    raise NotAuthenticatedError("the token is unknown, revoked or expired; log in again")
