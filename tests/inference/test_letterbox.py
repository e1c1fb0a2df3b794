"""Letterbox placement, image, box mapping back and frame checks; as ultralytics does them."""

from __future__ import annotations

from types import ModuleType

import cv2
import numpy as np
import pytest

from loomsight.inference.letterbox import Letterbox, as_bgr, letterbox, to_input_tensor


@pytest.mark.parametrize(
    ("source_hw", "input_hw", "resized_wh", "pad_left_px", "pad_top_px"),
    [
        ((480, 640), (640, 640), (640, 480), 0, 80),  # landscape: pad top and bottom
        ((640, 480), (640, 640), (480, 640), 80, 0),  # portrait: pad left and right
        ((640, 640), (640, 640), (640, 640), 0, 0),  # exact fit
        ((256, 4096), (640, 640), (640, 40), 0, 300),  # line-scan strip, scaled down
        ((97, 131), (160, 160), (160, 118), 0, 21),  # small frame, scaled up
        ((99, 160), (160, 160), (160, 99), 0, 30),  # odd padding: 30 above, 31 below
        ((1, 3000), (160, 160), (160, 1), 0, 79),  # thin: at least one pixel
        ((480, 640), (320, 640), (427, 320), 106, 0),  # non-square input
    ],
)
def test_fit(
    source_hw: tuple[int, int],
    input_hw: tuple[int, int],
    resized_wh: tuple[int, int],
    pad_left_px: int,
    pad_top_px: int,
) -> None:
    assert Letterbox.fit(source_hw, input_hw) == Letterbox(
        source_hw, input_hw, resized_wh, pad_left_px, pad_top_px
    )


def test_apply_pads_grey_around_the_resized_image() -> None:
    image = np.full((99, 160, 3), 7, np.uint8)
    padded, placement = letterbox(image, (160, 160))
    assert padded.shape == (160, 160, 3)
    assert (padded[:30] == 114).all() and (padded[129:] == 114).all()  # 30 above, 31 below
    assert (padded[30:129] == 7).all()
    assert placement.pad_top_px == 30


def test_shrink_by_area_averages_a_fine_weave_instead_of_sampling_it() -> None:
    # one-pixel stripes shrunk to 0.4: bilinear samples them into moiré, area averages them out
    image = np.zeros((400, 400, 3), np.uint8)
    image[:, ::2] = 255
    placement = Letterbox.fit(image.shape[:2], (160, 160))
    by_area = placement.apply(image, shrink_by_area=True)
    np.testing.assert_array_equal(
        by_area, cv2.resize(image, (160, 160), interpolation=cv2.INTER_AREA)
    )
    assert by_area.std() < 0.5 * placement.apply(image).std()  # 25.5 against 63.5
    small = np.random.default_rng(3).integers(0, 256, (80, 100, 3), np.uint8)
    enlarging = Letterbox.fit(small.shape[:2], (160, 160))  # enlarged: bilinear either way
    np.testing.assert_array_equal(
        enlarging.apply(small, shrink_by_area=True), enlarging.apply(small)
    )


def test_to_source_xyxy_inverts_the_placement_and_clips() -> None:
    placement = Letterbox.fit((256, 4096), (640, 640))  # gain 0.15625 on both axes, pad top 300
    gain = np.array([640 / 4096, 40 / 256] * 2, np.float32)
    source = np.array([[100, 10, 900, 200], [0, 0, 4096, 256]], np.float32)
    in_input = source * gain + np.array([0, 300, 0, 300], np.float32)
    np.testing.assert_allclose(placement.to_source_xyxy(in_input), source, atol=1e-3)
    outside = np.array([[-20, 250, 700, 400]], np.float32)  # reaches into the padding
    np.testing.assert_allclose(placement.to_source_xyxy(outside), [[0, 0, 4096, 256]], atol=1e-3)


def test_to_input_tensor_is_rgb_nchw_in_0_1() -> None:
    image = np.zeros((4, 6, 3), np.uint8)
    image[..., 0] = 255  # blue in BGR
    tensor = to_input_tensor([image, image])
    assert tensor.shape == (2, 3, 4, 6) and tensor.dtype == np.float32
    assert (tensor[:, 2] == 1).all() and (tensor[:, :2] == 0).all()  # blue is the last RGB plane


@pytest.mark.parametrize("shape", [(5, 7), (5, 7, 1)])
def test_as_bgr_copies_grey_to_three_channels(shape: tuple[int, ...]) -> None:
    grey = np.arange(35, dtype=np.uint8).reshape(shape)
    bgr = as_bgr(grey)
    assert bgr.shape == (5, 7, 3)
    assert (bgr == grey.reshape(5, 7, 1)).all()


@pytest.mark.parametrize(
    ("frame", "fragments"),
    [
        (None, ["HxW (grey) or HxWx3 (BGR) uint8", "got NoneType"]),
        ([[1, 2], [3, 4]], ["uint8 array", "got list"]),
        (np.zeros((8, 8, 3), np.float32), ["uint8", "got dtype float32"]),
        (np.zeros((8, 8), np.uint16), ["uint8", "got dtype uint16"]),
        (np.zeros((0, 0, 3), np.uint8), ["got shape (0, 0, 3)"]),
        (np.zeros((0, 640), np.uint8), ["got shape (0, 640)"]),
        (np.zeros((8, 8, 4), np.uint8), ["HxWx3", "got shape (8, 8, 4)"]),
        (np.zeros((8,), np.uint8), ["got shape (8,)"]),
        (np.zeros((2, 8, 8, 3), np.uint8), ["got shape (2, 8, 8, 3)"]),
    ],
)
def test_as_bgr_refuses_what_is_not_a_frame(frame: object, fragments: list[str]) -> None:
    with pytest.raises(ValueError) as caught:
        as_bgr(frame)
    for fragment in fragments:
        assert fragment in str(caught.value)


SIZES_HW = [(480, 640), (640, 480), (97, 131), (99, 160), (256, 4096), (1, 300), (160, 160)]


@pytest.mark.parametrize("source_hw", SIZES_HW)
def test_same_image_and_boxes_as_ultralytics(
    ultralytics_offline: ModuleType, source_hw: tuple[int, int]
) -> None:
    import torch
    from ultralytics.data.augment import LetterBox
    from ultralytics.utils.ops import scale_boxes

    rng = np.random.default_rng(sum(source_hw))
    image = rng.integers(0, 256, (*source_hw, 3), dtype=np.uint8)
    ours, placement = letterbox(image, (160, 160))
    theirs = LetterBox((160, 160), auto=False, stride=32)(image=image)
    np.testing.assert_array_equal(ours, theirs)

    boxes = np.sort(rng.uniform(-10, 170, (50, 4)).astype(np.float32).reshape(50, 2, 2), axis=1)
    boxes = boxes.transpose(0, 2, 1).reshape(50, 4)  # x1 <= x2, y1 <= y2
    expected = scale_boxes((160, 160), torch.from_numpy(boxes.copy()), source_hw).numpy()
    np.testing.assert_allclose(placement.to_source_xyxy(boxes), expected, rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize("source_hw", [(100, 60), (120, 200), (300, 90)])
def test_without_scale_up_as_ultralytics_scaleup_false(
    ultralytics_offline: ModuleType, source_hw: tuple[int, int]
) -> None:
    from ultralytics.data.augment import LetterBox

    image = np.random.default_rng(sum(source_hw)).integers(0, 256, (*source_hw, 3), np.uint8)
    placement = Letterbox.fit(source_hw, (160, 160), scale_up=False)
    theirs = LetterBox((160, 160), auto=False, scaleup=False, stride=32)(image=image)
    np.testing.assert_array_equal(placement.apply(image), theirs)
    gain = min(160 / source_hw[0], 160 / source_hw[1], 1.0)  # never enlarged
    assert placement.resized_wh == (round(source_hw[1] * gain), round(source_hw[0] * gain))
