"""The images an event carries: a crop around the defect and a downscaled full frame, as JPEG.

Both are content-addressed by the sha256 of their JPEG bytes (the API stores each once).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field


class SnapshotOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    crop_margin_px: int = Field(default=32, ge=0)  # context around the box, each side
    crop_min_side_px: int = Field(default=96, ge=8)  # small defects get at least this much
    frame_width_px: int = Field(default=640, ge=64)  # full frame downscaled to this width
    jpeg_quality: int = Field(default=85, ge=30, le=100)


@dataclass(frozen=True)
class Snapshot:
    jpeg: bytes
    sha256: str


def encode_jpeg(image: npt.NDArray[np.uint8], quality: int) -> Snapshot:
    ok, buffer = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError(f"cannot encode a {image.shape} image as JPEG")
    jpeg = buffer.tobytes()
    return Snapshot(jpeg=jpeg, sha256=hashlib.sha256(jpeg).hexdigest())


def crop_xyxy_px(
    box_xyxy_px: tuple[float, float, float, float],
    frame_wh_px: tuple[int, int],
    options: SnapshotOptions,
) -> tuple[int, int, int, int]:
    """The crop window (integer xyxy inside the frame) around a box, with margin and minimum."""
    x1, y1, x2, y2 = box_xyxy_px
    width, height = frame_wh_px
    half_w = max((x2 - x1) / 2 + options.crop_margin_px, options.crop_min_side_px / 2)
    half_h = max((y2 - y1) / 2 + options.crop_margin_px, options.crop_min_side_px / 2)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    left, top = max(0, int(cx - half_w)), max(0, int(cy - half_h))
    right, bottom = min(width, int(np.ceil(cx + half_w))), min(height, int(np.ceil(cy + half_h)))
    return left, top, max(right, left + 1), max(bottom, top + 1)


def defect_crop(
    frame: npt.NDArray[np.uint8],
    box_xyxy_px: tuple[float, float, float, float],
    options: SnapshotOptions,
) -> Snapshot:
    height, width = frame.shape[:2]
    left, top, right, bottom = crop_xyxy_px(box_xyxy_px, (width, height), options)
    return encode_jpeg(np.ascontiguousarray(frame[top:bottom, left:right]), options.jpeg_quality)


def frame_preview(frame: npt.NDArray[np.uint8], options: SnapshotOptions) -> Snapshot:
    height, width = frame.shape[:2]
    if width > options.frame_width_px:
        new_height = max(1, round(height * options.frame_width_px / width))
        size_wh = (options.frame_width_px, new_height)
        small = cv2.resize(frame, size_wh, interpolation=cv2.INTER_AREA)
        return encode_jpeg(np.asarray(small, dtype=np.uint8), options.jpeg_quality)
    return encode_jpeg(frame, options.jpeg_quality)
