"""Reviewer and admin accounts, managed by admins."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from loomsight.api.deps import JsonBody, RequireAdmin, UserServiceDep
from loomsight.api.params import UsernamePath
from loomsight.api.schemas import UserCreate, UserOut, refusals
from loomsight.schema import API_PREFIX

router = APIRouter(tags=["users"])

USERS_PATH = f"{API_PREFIX}/users"


@router.post(
    USERS_PATH,
    response_model=UserOut,
    status_code=status.HTTP_201_CREATED,
    responses=refusals(401, 403, 409, 415),
)
def create_user(
    _admin: RequireAdmin, new: UserCreate, service: UserServiceDep, _json: None = JsonBody
) -> UserOut:
    """Create a reviewer or an admin."""
    return UserOut.model_validate(service.create(new.username, new.password, new.role))


@router.get(USERS_PATH, response_model=list[UserOut], responses=refusals(401, 403))
def list_users(_admin: RequireAdmin, service: UserServiceDep) -> list[UserOut]:
    """Every user, by name."""
    return [UserOut.model_validate(user) for user in service.all()]


@router.delete(
    f"{USERS_PATH}/{{username}}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=refusals(401, 403, 404, 409),
)
def delete_user(username: UsernamePath, admin: RequireAdmin, service: UserServiceDep) -> Response:
    """Delete a user and end their logins (an admin cannot delete themself)."""
    service.delete(username, admin.username)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
