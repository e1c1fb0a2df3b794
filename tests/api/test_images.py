"""Images by sha256: verified, stored once, read back by users; missing ones named by ingest."""

from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from loomsight.schema import IMAGE_PATH
from tests.api.conftest import LiveApi, batch, event, post_batch


def jpeg(seed: int = 0) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 255, (32, 48, 3), dtype=np.uint8)
    ok, encoded = cv2.imencode(".jpg", pixels)
    assert ok
    return bytes(encoded.tobytes())


def png() -> bytes:
    ok, encoded = cv2.imencode(".png", np.zeros((8, 8), np.uint8))
    assert ok
    return bytes(encoded.tobytes())


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_an_image_is_stored_once_and_read_back(api: LiveApi) -> None:
    api.add_machine("loom-1")
    camera = api.add_camera("loom-1", "cam-1")
    reviewer = api.add_user("rita", "reviewer")
    data = jpeg()
    path = IMAGE_PATH.format(sha256=sha256(data))

    first = camera.put(path, content=data, headers={"content-type": "image/jpeg"})
    again = camera.put(path, content=data, headers={"content-type": "image/jpeg"})
    read = reviewer.get(path)

    assert first.status_code == 200, first.text
    assert first.json() == {"sha256": sha256(data), "size_bytes": len(data), "new": True}
    assert again.json()["new"] is False
    assert read.status_code == 200
    assert read.content == data
    assert read.headers["content-type"] == "image/jpeg"
    assert read.headers["etag"] == f'"{sha256(data)}"'
    stored = list(Path(api.settings.storage_dir).rglob(sha256(data)))
    assert len(stored) == 1 and stored[0].read_bytes() == data


def test_a_png_keeps_its_media_type(api: LiveApi) -> None:
    api.add_machine("loom-1")
    camera = api.add_camera("loom-1", "cam-1")
    data = png()
    path = IMAGE_PATH.format(sha256=sha256(data))

    camera.put(path, content=data, headers={"content-type": "image/png"})

    assert api.admin.get(path).headers["content-type"] == "image/png"


def test_ingest_names_only_the_images_not_uploaded_yet(api: LiveApi) -> None:
    api.add_machine("loom-1")
    camera = api.add_camera("loom-1", "cam-1")
    uploaded, missing = jpeg(1), jpeg(2)
    camera.put(
        IMAGE_PATH.format(sha256=sha256(uploaded)),
        content=uploaded,
        headers={"content-type": "image/jpeg"},
    )
    body = batch(
        events=[
            event("loom-1", "cam-1", crop_sha256=sha256(uploaded), frame_sha256=sha256(missing))
        ]
    )

    assert post_batch(camera, body).json()["missing_images"] == [sha256(missing)]
    camera.put(
        IMAGE_PATH.format(sha256=sha256(missing)),
        content=missing,
        headers={"content-type": "image/jpeg"},
    )
    assert post_batch(camera, body).json()["missing_images"] == []


@pytest.mark.parametrize(
    ("content_type", "body", "status", "message"),
    [
        ("image/jpeg", b"\xff\xd8\xff" + b"not the named image", 422, "sha256 is"),
        ("image/gif", b"GIF89a", 415, "image/jpeg or image/png"),
        (None, jpeg(), 415, "no type"),
        ("image/jpeg", b"<html>hello</html>", 415, "not a image/jpeg image"),
        ("image/png", jpeg(), 415, "not a image/png image"),
        ("image/jpeg", b"", 415, "starts with nothing"),
    ],
    ids=["wrong hash", "gif", "no content type", "html as jpeg", "jpeg as png", "empty"],
)
def test_bad_uploads_are_refused_with_the_reason(
    api: LiveApi, content_type: str | None, body: bytes, status: int, message: str
) -> None:
    api.add_machine("loom-1")
    camera = api.add_camera("loom-1", "cam-1")
    named = sha256(jpeg())
    headers = {"content-type": content_type} if content_type else {}

    response = camera.put(IMAGE_PATH.format(sha256=named), content=body, headers=headers)

    assert response.status_code == status
    assert message in response.text
    assert api.admin.get(IMAGE_PATH.format(sha256=named)).status_code == 404
    assert not list(Path(api.settings.storage_dir).rglob(named))
