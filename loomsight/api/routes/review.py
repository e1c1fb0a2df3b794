"""Review: the queue of unreviewed detections, verdicts (reviewers and admins), counts."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Path, Query

from loomsight.api.deps import ContextDep, CurrentUser, JsonBody, SessionDep
from loomsight.api.review_models import (
    QueueQuery,
    ReviewFilters,
    ReviewItem,
    ReviewPage,
    ReviewSummary,
    VerdictIn,
)
from loomsight.api.schemas import refusals
from loomsight.api.services.review import ReviewService
from loomsight.schema import API_PREFIX

router = APIRouter(tags=["review"])

REVIEW_PATH = f"{API_PREFIX}/review"
VERDICT_PATH = f"{REVIEW_PATH}/events/{{event_id}}/verdict"


async def get_review_service(context: ContextDep, session: SessionDep) -> ReviewService:
    return ReviewService(session, context.clock)


ReviewServiceDep = Annotated[ReviewService, Depends(get_review_service)]
EventIdPath = Annotated[uuid.UUID, Path(description="The detection's event_id (a UUID).")]
Filters = Annotated[ReviewFilters, Query()]


@router.get(f"{REVIEW_PATH}/queue", response_model=ReviewPage, responses=refusals(401, 403))
def review_queue(
    _user: CurrentUser,
    page: Annotated[QueueQuery, Query()],
    service: ReviewServiceDep,
) -> ReviewPage:
    """A page of detections without a verdict, with their images' URLs.

    Filters combine (AND); repeat `machine` or `class_name` for several. Page on with `after`:
    detections reviewed in between are neither skipped nor shown twice.
    """
    return service.queue(page)


@router.get(f"{REVIEW_PATH}/summary", response_model=ReviewSummary, responses=refusals(401, 403))
def review_summary(
    _user: CurrentUser, filters: Filters, service: ReviewServiceDep
) -> ReviewSummary:
    """Detections matching the filters counted by verdict, overall and per detected class."""
    return service.summary(filters)


@router.get(
    f"{REVIEW_PATH}/events/{{event_id}}",
    response_model=ReviewItem,
    responses=refusals(401, 403, 404),
)
def get_detection(
    event_id: EventIdPath, _user: CurrentUser, service: ReviewServiceDep
) -> ReviewItem:
    """One detection, reviewed or not."""
    return service.get(event_id)


@router.put(VERDICT_PATH, response_model=ReviewItem, responses=refusals(401, 403, 404, 415))
def set_verdict(
    event_id: EventIdPath,
    user: CurrentUser,
    verdict: Annotated[VerdictIn, Body()],
    service: ReviewServiceDep,
    _json: None = JsonBody,
) -> ReviewItem:
    """Give the detection a verdict as the logged-in user, now; it replaces any earlier one.

    `relabelled` names the right `class_name` and/or `box_xyxy_px` (frame pixels, inside the
    frame) and must change at least one of them.
    """
    return service.set_verdict(event_id, verdict, user.username)


@router.delete(VERDICT_PATH, response_model=ReviewItem, responses=refusals(401, 403, 404))
def clear_verdict(
    event_id: EventIdPath, user: CurrentUser, service: ReviewServiceDep
) -> ReviewItem:
    """Take the verdict back (undo): the detection is unreviewed and in the queue again."""
    return service.clear_verdict(event_id, user.username)
