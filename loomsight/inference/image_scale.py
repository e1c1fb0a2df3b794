"""Resampling a frame before detection, so the cloth has the scale the model learnt.

A model learns defects at the scale of its training cloth. A camera mounted higher or with a wider
lens sees the same cloth smaller, and the model misses much of it: the default model's mAP50 on
its real test split falls from 0.945 to 0.651 when the photos are shrunk to half (four in one,
`benchmarks.image_shifts`). A camera knows its own scale (its calibration's mm per pixel), so the
detector can resample each frame by `image_scale` (across, along) first: by 2 when the cloth is
seen at half the learnt size. The resampled frame is then tiled at the model input as usual, or,
smaller than the input, padded to it without being enlarged back. Boxes come back in the pixels of
the frame as the camera gave it.

Measured (`benchmarks.camera_scale`, 1280x720 frames, default model, mAP50): at 0.05 mm/px 0.841 as
they are, 0.897 resampled to 0.1 mm/px and 3x faster; at 0.035 mm/px 0.847 and 0.933, clean frames
with a false alarm 10% and 0%; at 0.2 mm/px 0.804 and 0.867, but enlarged frames are blurred and
raised false alarms on clean frames (0 to 1 of 9), and enlarging 3x lost. The real test split
shrunk to half (four photos in one): 0.651 as it is, 0.798 resampled x2; its centre enlarged
1.5x: 0.820 as it is, 0.912 resampled by 1/1.5.

`scale_for_mm_per_px` gives the factors that bring a camera's mm per pixel (across and along the
web, which a line-scan camera may set apart) to the scale a model learnt.
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from loomsight.inference.detections import Detections

UInt8Array = npt.NDArray[np.uint8]
ScaleXY = tuple[float, float]
"""Resampling factors across (x) and along (y) the frame: 2 doubles the frame's side."""

NO_SCALE: ScaleXY = (1.0, 1.0)


def as_scale_xy(image_scale: float | ScaleXY) -> ScaleXY:
    """One factor for both sides, or (x, y); ValueError unless every factor is positive."""
    scale = (
        (float(image_scale), float(image_scale))
        if isinstance(image_scale, int | float)
        else (float(image_scale[0]), float(image_scale[1]))
    )
    if not (scale[0] > 0 and scale[1] > 0 and np.isfinite(scale).all()):
        raise ValueError(f"image scale factors must be positive numbers, got {image_scale}")
    return scale


def parse_image_scale(text: str) -> ScaleXY:
    """The factors of TEXT: one for both sides ("2") or two, across and along ("2,1");
    ValueError saying what is wrong."""
    parts = [part.strip() for part in text.split(",")]
    try:
        values = [float(part) for part in parts]
    except ValueError:
        values = []
    if len(values) not in (1, 2):
        raise ValueError(f"expected a factor or two (across,along), e.g. 2 or 2,1; got {text!r}")
    return as_scale_xy(values[0] if len(values) == 1 else (values[0], values[1]))


def scale_for_mm_per_px(camera_mm_per_px_xy: ScaleXY, model_mm_per_px: float) -> ScaleXY:
    """The factors that resample a camera's frame (its mm per pixel across and along the web) to
    MODEL_MM_PER_PX: a camera at 0.3 mm/px feeding a model of 0.15 mm/px gives (2, 2)."""
    if not model_mm_per_px > 0:
        raise ValueError(f"model mm per pixel must be positive, got {model_mm_per_px}")
    across, along = camera_mm_per_px_xy
    return as_scale_xy((across / model_mm_per_px, along / model_mm_per_px))


def resampled_wh(frame_wh: tuple[int, int], scale: ScaleXY) -> tuple[int, int]:
    """The size of a FRAME_WH frame resampled by SCALE: each side rounded, at least 1 pixel."""
    return (max(1, round(frame_wh[0] * scale[0])), max(1, round(frame_wh[1] * scale[1])))


def resample(image: UInt8Array, scale: ScaleXY) -> UInt8Array:
    """IMAGE resampled by SCALE (`resize`)."""
    height, width = image.shape[:2]
    return resize(image, resampled_wh((width, height), scale))


def resize(image: UInt8Array, new_wh: tuple[int, int]) -> UInt8Array:
    """IMAGE at NEW_WH: area averaging to shrink (bilinear would sample a fine weave every few
    pixels into moiré), bilinear to enlarge; the image itself when its size would not change."""
    height, width = image.shape[:2]
    if new_wh == (width, height):
        return image
    shrinking = new_wh[0] * new_wh[1] < width * height
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    return np.asarray(cv2.resize(image, new_wh, interpolation=interpolation), dtype=np.uint8)


def to_frame_pixels(
    detections: Detections, resampled: tuple[int, int], frame_wh: tuple[int, int]
) -> Detections:
    """DETECTIONS found in a frame resampled to RESAMPLED (width, height), in the pixels of the
    frame of size FRAME_WH, kept inside it."""
    if resampled == frame_wh:
        return detections
    ratio = np.array([frame_wh[0] / resampled[0], frame_wh[1] / resampled[1]] * 2, np.float32)
    limit = np.array([frame_wh[0], frame_wh[1]] * 2, np.float32)
    xyxy = np.clip(detections.xyxy_px * ratio, 0, limit)
    return Detections(xyxy, detections.confidence, detections.class_id)
