"""Letterbox an image into the model input, and map boxes back: the same numbers as ultralytics.

Ultralytics' predict (`LetterBox` in ultralytics/data/augment.py) scales by
r = min(in_h / h, in_w / w) (up or down), resizes to (max(round(w * r), 1), max(round(h * r), 1))
with `cv2.INTER_LINEAR` (only when the size changes), and pads with grey 114 on both sides:
left = round(dw / 2 - 0.1), right = round(dw / 2 + 0.1). For a model of fixed input size the
padding fills the input (`auto=False`); for a model with dynamic height and width it pads only to
the next multiple of the stride (`auto=True`: a 1280x720 frame becomes 416x256, not 416x416).
Boxes go back as in `ultralytics.utils.ops.scale_boxes`: minus the left/top pad, divided by the
per-axis gain (resized / source size), clipped to the image. Frames are checked and made BGR
first (`as_bgr`); the input tensor is RGB, 0..1, float32, as ultralytics feeds it (our int8
files take the letterboxed BGR pixels themselves: model_input.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from loomsight.inference.image_scale import resize

PAD_VALUE = 114
FRAME = "a frame as a HxW (grey) or HxWx3 (BGR) uint8 array"

UInt8Array = npt.NDArray[np.uint8]
Float32Array = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Letterbox:
    """Where a source image of `source_hw` lies in the model input of `input_hw`."""

    source_hw: tuple[int, int]
    input_hw: tuple[int, int]
    resized_wh: tuple[int, int]
    pad_left_px: int
    pad_top_px: int

    @classmethod
    def fit(
        cls,
        source_hw: tuple[int, int],
        input_hw: tuple[int, int],
        stride: int | None = None,
        scale_up: bool = True,
    ) -> Letterbox:
        """The placement ultralytics' LetterBox (centred, scale up or down) chooses; with STRIDE
        (a model of dynamic height and width) the input shrinks to the next multiple of it.
        SCALE_UP False: a source smaller than the input keeps its size, padded (`scaleup=False`)."""
        height, width = source_hw
        in_h, in_w = input_hw
        if min(height, width, in_h, in_w) <= 0:
            raise ValueError(f"sizes must be positive, got source {source_hw} and input {input_hw}")
        ratio = min(in_h / height, in_w / width)
        if not scale_up:
            ratio = min(ratio, 1.0)
        resized_wh = (max(round(width * ratio), 1), max(round(height * ratio), 1))
        dw, dh = in_w - resized_wh[0], in_h - resized_wh[1]
        if stride is not None:
            dw, dh = dw % stride, dh % stride
            input_hw = (resized_wh[1] + dh, resized_wh[0] + dw)
        placement = (round(dw / 2 - 0.1), round(dh / 2 - 0.1))
        return cls(source_hw, input_hw, resized_wh, *placement)

    def apply(self, image: UInt8Array, shrink_by_area: bool = False) -> UInt8Array:
        """IMAGE (HxWx3 uint8, of `source_hw`) resized and padded to `input_hw`. SHRINK_BY_AREA:
        an image made smaller is averaged over each new pixel's area (`image_scale.resize`)
        instead of ultralytics' bilinear, which samples a fine weave every few pixels into moiré."""
        if image.shape[:2] != self.source_hw:
            raise ValueError(f"image must be {self.source_hw} (h, w), got {image.shape[:2]}")
        if shrink_by_area:
            image = resize(image, self.resized_wh)
        elif image.shape[1::-1] != self.resized_wh:
            image = np.asarray(
                cv2.resize(image, self.resized_wh, interpolation=cv2.INTER_LINEAR), dtype=np.uint8
            )
        in_h, in_w = self.input_hw
        bottom = in_h - self.resized_wh[1] - self.pad_top_px
        right = in_w - self.resized_wh[0] - self.pad_left_px
        padded = cv2.copyMakeBorder(
            image,
            self.pad_top_px,
            bottom,
            self.pad_left_px,
            right,
            cv2.BORDER_CONSTANT,
            value=(PAD_VALUE, PAD_VALUE, PAD_VALUE),
        )
        return np.asarray(padded, dtype=np.uint8)

    def to_source_xyxy(self, xyxy_input_px: Float32Array) -> Float32Array:
        """(N, 4) boxes in model-input pixels -> source-image pixels, clipped to the image."""
        height, width = self.source_hw
        gain = np.array(
            [self.resized_wh[0] / width, self.resized_wh[1] / height] * 2, dtype=np.float32
        )
        pad = np.array([self.pad_left_px, self.pad_top_px] * 2, dtype=np.float32)
        xyxy = (np.asarray(xyxy_input_px, dtype=np.float32) - pad) / gain
        xyxy[:, [0, 2]] = xyxy[:, [0, 2]].clip(0, width)
        xyxy[:, [1, 3]] = xyxy[:, [1, 3]].clip(0, height)
        return xyxy


def as_bgr(frame: object) -> UInt8Array:
    """FRAME as a HxWx3 uint8 BGR array (grey is copied to 3 channels); ValueError if unusable."""
    if not isinstance(frame, np.ndarray):
        raise ValueError(f"expected {FRAME}, got {type(frame).__name__}")
    if frame.dtype != np.uint8:
        raise ValueError(f"expected {FRAME}, got dtype {frame.dtype} of shape {frame.shape}")
    channels = frame.shape[2] if frame.ndim == 3 else 1
    if frame.size == 0 or frame.ndim not in (2, 3) or channels not in (1, 3):
        raise ValueError(f"expected {FRAME}, got shape {frame.shape}")
    if channels == 1:
        return np.asarray(cv2.cvtColor(frame.reshape(frame.shape[:2]), cv2.COLOR_GRAY2BGR))
    return np.asarray(frame, dtype=np.uint8)


def letterbox(image: UInt8Array, input_hw: tuple[int, int]) -> tuple[UInt8Array, Letterbox]:
    """IMAGE (HxWx3 uint8) letterboxed into `input_hw`, and the placement to map boxes back."""
    placement = Letterbox.fit((int(image.shape[0]), int(image.shape[1])), input_hw)
    return placement.apply(image), placement


def to_input_tensor(images: Sequence[UInt8Array]) -> Float32Array:
    """Letterboxed BGR HxWx3 uint8 images -> one Bx3xHxW float32 RGB tensor in [0, 1]."""
    stacked = images[0][None] if len(images) == 1 else np.stack(images)
    batch = stacked[..., ::-1].transpose(0, 3, 1, 2)
    tensor: Float32Array = np.ascontiguousarray(batch, dtype=np.float32)
    tensor /= 255
    return tensor
