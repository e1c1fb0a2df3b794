"""The two input forms a detector file may take, and letterboxed images in each.

- `TENSOR`: float32 Bx3xHxW, RGB in [0, 1], as ultralytics exports and feeds it (the fp32 file).
- `PIXELS`: uint8 BxHxWx3, BGR, the letterboxed images themselves (our int8 file: the int8 model
  quantizes its input to the 256 pixel values anyway, so it takes them as they are and skips the
  conversion to floats on both sides: training/int8_pixels.py).

A file says which it takes by its input's type and shape; `input_form` reads them.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from loomsight.inference.letterbox import UInt8Array, to_input_tensor

FORMS = "Bx3xHxW float32 (RGB in [0, 1]) or BxHxWx3 uint8 (BGR pixels)"


class InputForm(StrEnum):
    TENSOR = "tensor"  # float32 Bx3xHxW, RGB in [0, 1]
    PIXELS = "pixels"  # uint8 BxHxWx3, BGR


def input_form(shape: Sequence[object], onnx_type: str) -> InputForm | None:
    """The form of an ONNX input of SHAPE and ONNX_TYPE (`tensor(float)`), None if neither."""
    if len(shape) != 4:
        return None
    if onnx_type == "tensor(float)" and shape[1] == 3:
        return InputForm.TENSOR
    if onnx_type == "tensor(uint8)" and shape[3] == 3:
        return InputForm.PIXELS
    return None


def batch_and_hw(shape: Sequence[object], form: InputForm) -> tuple[object, object, object]:
    """(batch, height, width) of an input SHAPE of FORM: ints, or names for dynamic axes."""
    if form is InputForm.TENSOR:
        return shape[0], shape[2], shape[3]
    return shape[0], shape[1], shape[2]


def to_model_input(images: Sequence[UInt8Array], form: InputForm) -> npt.NDArray[np.generic]:
    """Letterboxed BGR HxWx3 uint8 images of one size -> one batch in FORM."""
    if form is InputForm.TENSOR:
        return to_input_tensor(images)
    return np.ascontiguousarray(images[0][None]) if len(images) == 1 else np.stack(images)


def zero_input(batch: int, input_hw: tuple[int, int], form: InputForm) -> npt.NDArray[np.generic]:
    """A zero batch of FORM (for a warm-up run)."""
    if form is InputForm.TENSOR:
        return np.zeros((batch, 3, *input_hw), np.float32)
    return np.zeros((batch, *input_hw, 3), np.uint8)
