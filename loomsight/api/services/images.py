"""Images (defect crops, downscaled frames) by sha256: verified, stored once, read back."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sqlalchemy.orm import Session

from loomsight.api.clock import Clock
from loomsight.api.errors import InvalidInputError, NotFoundError, UnsupportedMediaTypeError
from loomsight.api.metrics import ApiMetrics
from loomsight.api.services.upsert import insert_new
from loomsight.api.storage import BlobKind, BlobStore, check_sha256
from loomsight.api.tables import Image

# What each accepted media type's bytes start with.
IMAGE_SIGNATURES = {"image/jpeg": b"\xff\xd8\xff", "image/png": b"\x89PNG\r\n\x1a\n"}


@dataclass(frozen=True)
class StoredImage:
    sha256: str
    size_bytes: int
    new: bool


def media_type(content_type: str | None) -> str:
    """`image/jpeg` of `Image/JPEG; q=1`; '' for none."""
    return (content_type or "").split(";", 1)[0].strip().lower()


class ImageService:
    def __init__(
        self, session: Session, store: BlobStore, metrics: ApiMetrics, clock: Clock
    ) -> None:
        self.session = session
        self.store = store
        self.metrics = metrics
        self.clock = clock

    def put(self, sha256: str, content_type: str | None, data: bytes, uploader: str) -> StoredImage:
        check_sha256(sha256)
        media = media_type(content_type)
        signature = IMAGE_SIGNATURES.get(media)
        if signature is None:
            raise UnsupportedMediaTypeError(
                f"images are sent as {' or '.join(IMAGE_SIGNATURES)}, got {media or 'no type'!r}"
            )
        if not data.startswith(signature):
            raise UnsupportedMediaTypeError(
                f"the body is not a {media} image: it starts with {data[:8].hex() or 'nothing'}"
            )
        actual = hashlib.sha256(data).hexdigest()
        if actual != sha256:
            raise InvalidInputError(
                f"the body's sha256 is {actual} ({len(data)} bytes), the path names {sha256}: "
                "the upload was damaged or names another image"
            )
        blob = self.store.put_bytes(BlobKind.IMAGE, sha256, data)
        row = {
            "sha256": sha256,
            "content_type": media,
            "size_bytes": len(data),
            "storage_key": blob.key,
            "uploaded_by": uploader,
            "created_at": self.clock(),
        }
        new = bool(insert_new(self.session, Image, [row], "sha256"))
        self.session.commit()
        if new:
            self.metrics.images_stored.inc()
        return StoredImage(sha256=sha256, size_bytes=len(data), new=new)

    def get(self, sha256: str) -> tuple[bytes, str]:
        """The image's bytes and media type; NotFoundError when it was never uploaded."""
        check_sha256(sha256)
        image = self.session.get(Image, sha256)
        if image is None:
            raise NotFoundError(f"no image {sha256}")
        return self.store.read_bytes(BlobKind.IMAGE, sha256), image.content_type
