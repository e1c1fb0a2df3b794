"""Reviewer and admin accounts, and their logins (session tokens that expire)."""

from __future__ import annotations

import functools
import secrets
from datetime import timedelta

from sqlalchemy import delete, exists, select
from sqlalchemy.orm import Session

from loomsight.api.clock import Clock
from loomsight.api.errors import (
    ConflictError,
    InvalidInputError,
    NotAuthenticatedError,
    NotFoundError,
)
from loomsight.api.security import (
    SESSION_TOKEN_PREFIX,
    hash_password,
    new_token,
    password_problem,
    token_sha256,
    verify_password,
)
from loomsight.api.tables import ROLES, LoginSession, User


@functools.cache
def _dummy_hash() -> str:
    """Verified when the username is unknown, so a wrong name takes as long as a wrong password."""
    return hash_password(secrets.token_urlsafe(16))


class UserService:
    def __init__(self, session: Session, clock: Clock) -> None:
        self.session = session
        self.clock = clock

    def create(self, username: str, password: str, role: str) -> User:
        if role not in ROLES:
            raise InvalidInputError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
        if problem := password_problem(password):
            raise InvalidInputError(problem)
        if self.session.get(User, username) is not None:
            raise ConflictError(f"user {username!r} exists already")
        user = User(
            username=username,
            password_hash=hash_password(password),
            role=role,
            created_at=self.clock(),
        )
        self.session.add(user)
        self.session.commit()
        return user

    def all(self) -> list[User]:
        return list(self.session.scalars(select(User).order_by(User.username)))

    def delete(self, username: str, acting_username: str) -> None:
        if username == acting_username:
            raise ConflictError("an admin cannot delete their own account; ask another admin")
        user = self.session.get(User, username)
        if user is None:
            raise NotFoundError(f"no user {username!r}")
        self.session.execute(delete(LoginSession).where(LoginSession.username == username))
        self.session.delete(user)
        self.session.commit()

    def has_admin(self) -> bool:
        return bool(self.session.scalar(select(exists().where(User.role == "admin"))))

    def login(self, username: str, password: str, ttl_s: int) -> tuple[str, LoginSession, User]:
        """A new session token for USERNAME; NotAuthenticatedError for a wrong name or password."""
        user = self.session.get(User, username) if len(username) <= 64 else None
        matches = verify_password(password, user.password_hash if user else _dummy_hash())
        if user is None or not matches:
            raise NotAuthenticatedError("wrong username or password")
        now = self.clock()
        self.session.execute(delete(LoginSession).where(LoginSession.expires_at <= now))
        token = new_token(SESSION_TOKEN_PREFIX)
        login = LoginSession(
            token_sha256=token_sha256(token),
            username=user.username,
            created_at=now,
            expires_at=now + timedelta(seconds=ttl_s),
        )
        self.session.add(login)
        self.session.commit()
        return token, login, user

    def logout(self, session_sha256: str) -> None:
        self.session.execute(
            delete(LoginSession).where(LoginSession.token_sha256 == session_sha256)
        )
        self.session.commit()
