"""POST INGEST_PATH: a camera's batch of events, heartbeats, alarms and roll marks."""

from __future__ import annotations

from fastapi import APIRouter

from loomsight.api.deps import CurrentCamera, IngestServiceDep, JsonBody
from loomsight.api.schemas import refusals
from loomsight.schema import INGEST_PATH, IngestAck, IngestBatch

router = APIRouter(tags=["cameras"])


@router.post(
    INGEST_PATH,
    response_model=IngestAck,
    responses=refusals(401, 403, 413, 415, 503),
    summary="Store a camera's batch (idempotent)",
)
def ingest(
    camera: CurrentCamera,
    batch: IngestBatch,
    service: IngestServiceDep,
    _json: None = JsonBody,
) -> IngestAck:
    """Store each event, heartbeat, alarm and roll mark of the batch once, by its UUID.

    A batch posted again stores nothing new and is answered with the counts of what was new
    and what was held already. `missing_images` lists the images the events name that were
    not uploaded yet. Every item must name the caller's machine (and camera), or the whole
    batch is refused with 403.
    """
    return service.ingest(camera, batch)
