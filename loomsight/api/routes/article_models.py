"""Article models: the model a machine runs while it weaves one fabric article. Admins set and
remove them; reviewers and admins list them. A camera learns the result from
`GET /api/v1/camera/model` (routes/models.py), so it switches when the machine's article changes.

Included by `routes/models.py`'s router."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, status

from loomsight.api.article_models import ArticleModelIn, ArticleModelOut
from loomsight.api.deps import ContextDep, CurrentUser, JsonBody, RequireAdmin, SessionDep
from loomsight.api.params import MachineIdPath
from loomsight.api.schemas import refusals
from loomsight.api.services.article_models import ArticleModelService
from loomsight.schema import API_PREFIX

router = APIRouter(tags=["models"])

ARTICLES_PATH = f"{API_PREFIX}/machines/{{machine_id}}/articles"
# `:path` lets an article hold a slash ("2/1 twill"), sent URL-quoted as %2F.
ARTICLE_MODEL_PATH = f"{ARTICLES_PATH}/{{article:path}}/model"

ArticlePath = Annotated[
    str,
    Path(
        min_length=1,
        max_length=200,
        pattern=r"^[^\x00]+$",
        description="The fabric article as the machine's `article` names it, URL-quoted.",
    ),
]


async def get_article_model_service(
    context: ContextDep, session: SessionDep
) -> ArticleModelService:
    return ArticleModelService(session, context.clock)


ArticleModelServiceDep = Annotated[ArticleModelService, Depends(get_article_model_service)]


@router.put(
    ARTICLE_MODEL_PATH,
    response_model=ArticleModelOut,
    responses=refusals(401, 403, 404, 415),
)
def set_article_model(
    machine_id: MachineIdPath,
    article: ArticlePath,
    admin: RequireAdmin,
    choice: ArticleModelIn,
    service: ArticleModelServiceDep,
    _json: None = JsonBody,
) -> ArticleModelOut:
    """Make the model the one the machine runs while it weaves the article (a model calibrated
    for both); it wins over the machine's own model and the model for all machines."""
    return service.set(machine_id, article, choice.version, admin.username)


@router.delete(
    ARTICLE_MODEL_PATH,
    status_code=status.HTTP_204_NO_CONTENT,
    responses=refusals(401, 403, 404),
)
def remove_article_model(
    machine_id: MachineIdPath,
    article: ArticlePath,
    _admin: RequireAdmin,
    service: ArticleModelServiceDep,
) -> None:
    """The machine no longer has a model for the article: it falls back to its own model, then
    to the model for all machines."""
    service.remove(machine_id, article)


@router.get(
    ARTICLES_PATH,
    response_model=list[ArticleModelOut],
    responses=refusals(401, 403, 404),
)
def list_article_models(
    machine_id: MachineIdPath, _user: CurrentUser, service: ArticleModelServiceDep
) -> list[ArticleModelOut]:
    """The articles the machine has a model for, by article; `current` marks the one it
    weaves now."""
    return service.for_machine(machine_id)
