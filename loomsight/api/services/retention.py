"""Image retention: images older than a cut-off are deleted from storage; events are kept.

An event whose crop or frame is gone keeps its sha256; the review queue then shows no image
(`crop_url`/`frame_url` null), and the dataset export leaves its frame out.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from loomsight.api.storage import BlobKind, BlobStore
from loomsight.api.tables import Image

logger = logging.getLogger(__name__)

BATCH = 500


@dataclass(frozen=True)
class PruneResult:
    images_deleted: int
    bytes_freed: int


def prune_images(session: Session, store: BlobStore, older_than: datetime) -> PruneResult:
    """Delete images stored before OLDER_THAN (rows and blobs), in batches; events stay."""
    deleted = freed = 0
    while True:
        rows = session.execute(
            select(Image.sha256, Image.size_bytes).where(Image.created_at < older_than).limit(BATCH)
        ).all()
        if not rows:
            break
        names = [sha256 for sha256, _ in rows]
        session.execute(delete(Image).where(Image.sha256.in_(names)))
        session.commit()  # rows first: a crash between leaves orphan files, never dangling rows
        for sha256, size_bytes in rows:
            store.delete(BlobKind.IMAGE, sha256)
            freed += size_bytes
        deleted += len(rows)
    logger.info("pruned %d images (%d bytes) stored before %s", deleted, freed, older_than)
    return PruneResult(deleted, freed)
