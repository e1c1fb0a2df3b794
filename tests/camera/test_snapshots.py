from __future__ import annotations

import hashlib

import cv2
import numpy as np
import pytest

from loomsight.camera.snapshots import (
    SnapshotOptions,
    crop_xyxy_px,
    defect_crop,
    frame_preview,
)

OPTIONS = SnapshotOptions(crop_margin_px=10, crop_min_side_px=40, frame_width_px=320)


@pytest.mark.parametrize(
    ("box", "expected"),
    [
        ((100, 100, 110, 104), (85, 82, 125, 122)),  # small: grown to the minimum side
        ((100, 100, 200, 150), (90, 90, 210, 160)),  # large: margin each side
        ((0, 0, 5, 5), (0, 0, 23, 23)),  # at the corner: clipped to the frame
        ((630, 470, 640, 480), (615, 455, 640, 480)),
    ],
)
def test_crop_window(box: tuple[float, float, float, float], expected: tuple[int, ...]) -> None:
    assert crop_xyxy_px(box, (640, 480), OPTIONS) == expected


def test_crop_and_preview_are_jpegs_named_by_their_sha256() -> None:
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 255, (480, 1280, 3), dtype=np.uint8)
    crop = defect_crop(frame, (100, 100, 200, 150), OPTIONS)
    preview = frame_preview(frame, OPTIONS)
    assert crop.sha256 == hashlib.sha256(crop.jpeg).hexdigest()
    decoded_crop = cv2.imdecode(np.frombuffer(crop.jpeg, np.uint8), cv2.IMREAD_COLOR)
    decoded_preview = cv2.imdecode(np.frombuffer(preview.jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert decoded_crop.shape == (70, 120, 3)
    assert decoded_preview.shape == (120, 320, 3)  # downscaled to the width, aspect kept
    assert crop.sha256 != preview.sha256
