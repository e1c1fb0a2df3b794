"""What the outbox hands out and reports: a batch to send, its state, the items set aside."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from loomsight.schema import IngestBatch

# kind -> (table, which is also the IngestBatch field; id column, which is also the item's field).
# Rows are read and dropped in rowid order, the order they were written in.
KINDS = {
    "event": ("events", "event_id"),
    "heartbeat": ("heartbeats", "heartbeat_id"),
    "alarm": ("alarms", "alarm_id"),
    "roll": ("rolls", "mark_id"),
}


@dataclass(frozen=True)
class OutboxBatch:
    """An IngestBatch to post, and the images (sha256 -> JPEG bytes) to PUT before it."""

    ingest: IngestBatch
    images: Mapping[str, bytes]

    def items(self) -> list[tuple[str, str, str]]:
        """(kind, id, JSON body) of every item in the batch."""
        return [
            (kind, str(getattr(item, id_field)), item.model_dump_json())
            for kind, (field, id_field) in KINDS.items()
            for item in getattr(self.ingest, field)
        ]

    @property
    def named_images(self) -> set[str]:
        """The sha256 of every image the batch's events name (held here or not)."""
        return {s for e in self.ingest.events for s in (e.crop_sha256, e.frame_sha256) if s}

    def split(self) -> list[OutboxBatch]:
        """One batch per item; an event's batch carries its images."""
        parts = [
            IngestBatch.model_validate({field: [item]})
            for field, _ in KINDS.values()
            for item in getattr(self.ingest, field)
        ]
        return [OutboxBatch(part, images_for(part, self.images)) for part in parts]


@dataclass(frozen=True)
class OutboxStats:
    """What the outbox holds now (`depth`: items still to send), and what it took in over its
    lifetime (`*_added`, new ids only, kept across restarts)."""

    events: int
    heartbeats: int
    alarms: int
    rolls: int
    images: int
    image_bytes: int
    used_bytes: int
    images_dropped: int
    rejected: int
    events_added: int  # with what the API holds: the proof that none was lost
    heartbeats_added: int

    @property
    def depth(self) -> int:
        return self.events + self.heartbeats + self.alarms + self.rolls


@dataclass(frozen=True)
class RejectedItem:
    """An item set aside because the API refused it (or it no longer reads as the schema)."""

    kind: str
    item_id: str
    body: str
    status_code: int | None
    answer: str


def images_for(batch: IngestBatch, images: Mapping[str, bytes]) -> dict[str, bytes]:
    named = {s for e in batch.events for s in (e.crop_sha256, e.frame_sha256) if s}
    return {sha: jpeg for sha, jpeg in images.items() if sha in named}
