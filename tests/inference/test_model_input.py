"""model_input: which form an ONNX input has, and letterboxed images in that form."""

from __future__ import annotations

import numpy as np
import pytest

from loomsight.inference.letterbox import to_input_tensor
from loomsight.inference.model_input import (
    InputForm,
    batch_and_hw,
    input_form,
    to_model_input,
    zero_input,
)


@pytest.mark.parametrize(
    ("shape", "onnx_type", "form"),
    [
        (["batch", 3, "height", "width"], "tensor(float)", InputForm.TENSOR),
        ([1, 3, 416, 416], "tensor(float)", InputForm.TENSOR),
        (["batch", "height", "width", 3], "tensor(uint8)", InputForm.PIXELS),
        ([1, 416, 416, 3], "tensor(float)", None),  # channels last, but floats
        ([1, 3, 416, 416], "tensor(uint8)", None),  # pixels, but channels first
        ([1, 416, 416], "tensor(uint8)", None),
        ([1, 3, 416, 416], "tensor(float16)", None),
    ],
)
def test_input_form(shape: list[object], onnx_type: str, form: InputForm | None) -> None:
    assert input_form(shape, onnx_type) is form


def test_batch_and_hw_by_form() -> None:
    assert batch_and_hw([2, 3, 256, 416], InputForm.TENSOR) == (2, 256, 416)
    assert batch_and_hw(["b", 256, 416, 3], InputForm.PIXELS) == ("b", 256, 416)


def test_images_in_each_form() -> None:
    rng = np.random.default_rng(3)
    frame = rng.integers(0, 256, (40, 60, 3), dtype=np.uint8)
    images = [frame[:32, :48], rng.integers(0, 256, (32, 48, 3), dtype=np.uint8)]  # a view
    pixels = to_model_input(images, InputForm.PIXELS)
    assert pixels.dtype == np.uint8 and pixels.shape == (2, 32, 48, 3)
    np.testing.assert_array_equal(pixels[0], images[0])
    one = to_model_input(images[:1], InputForm.PIXELS)
    assert one.shape == (1, 32, 48, 3) and one.flags.c_contiguous  # the view made contiguous
    tensor = to_model_input(images, InputForm.TENSOR)
    np.testing.assert_array_equal(tensor, to_input_tensor(images))
    assert tensor.shape == (2, 3, 32, 48) and tensor.dtype == np.float32
    assert zero_input(2, (32, 48), InputForm.PIXELS).shape == (2, 32, 48, 3)
    assert zero_input(1, (32, 48), InputForm.TENSOR).dtype == np.float32
