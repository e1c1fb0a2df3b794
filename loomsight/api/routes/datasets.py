"""Reviewed detections exported as a YOLO dataset (a zip, streamed), for retraining."""

from __future__ import annotations

from datetime import UTC
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse

from loomsight.api.deps import ContextDep, CurrentUser, SessionDep
from loomsight.api.review_models import ExportQuery
from loomsight.api.schemas import refusals
from loomsight.api.services.datasets import DatasetService
from loomsight.schema import API_PREFIX

router = APIRouter(tags=["datasets"])

REVIEWED_DATASET_PATH = f"{API_PREFIX}/datasets/reviewed"


async def get_dataset_service(context: ContextDep, session: SessionDep) -> DatasetService:
    return DatasetService(session, context.store, context.clock)


DatasetServiceDep = Annotated[DatasetService, Depends(get_dataset_service)]


@router.get(
    REVIEWED_DATASET_PATH,
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}},
            "description": "The dataset as a zip.",
        },
        **refusals(401, 403, 404),
    },
    summary="Download the reviewed detections as a YOLO dataset (zip)",
)
def reviewed_dataset(
    _user: CurrentUser, query: Annotated[ExportQuery, Query()], service: DatasetServiceDep
) -> StreamingResponse:
    """Confirmed and relabelled detections with their full frames, as a YOLO dataset.

    One image per stored frame; boxes scaled from the frame's pixels to the stored image, the
    corrected class and box where relabelled; false alarms give no box. The filters choose frames
    by their detections; a chosen frame carries every reviewed box on it, and a frame that still
    has an unreviewed detection is left out (it would teach that the defect is background).
    The zip holds data.yaml, images/, labels/ and export.json (counts, what was left out and why,
    each image's detections). `loomsight dataset pull` writes it as a folder ready for
    `loomsight train`.
    """
    plan = service.plan(query)
    stamp = service.clock().astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    return StreamingResponse(
        service.stream_zip(plan),
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="loomsight-reviewed-{stamp}.zip"'},
    )
