"""Frames resampled before detection (`DetectorOptions.image_scale`), boxes back in frame pixels."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from pydantic import ValidationError

from loomsight.datasets.synth.dataset import SynthOptions, make_image
from loomsight.inference.detections import Detections
from loomsight.inference.detector import DetectorOptions, OnnxDetector
from loomsight.inference.image_scale import (
    as_scale_xy,
    parse_image_scale,
    resample,
    scale_for_mm_per_px,
    to_frame_pixels,
)
from tests.inference.conftest import ExportedModels, write_tiny_onnx
from tests.inference.test_tiling import METADATA


@pytest.mark.parametrize(
    ("text", "scale"), [("2", (2.0, 2.0)), ("0.5", (0.5, 0.5)), (" 2 , 1 ", (2.0, 1.0))]
)
def test_parse_image_scale(text: str, scale: tuple[float, float]) -> None:
    assert parse_image_scale(text) == scale


@pytest.mark.parametrize("text", ["", "two", "2,1,1", "0", "-1", "2,0", "inf", "nan"])
def test_parse_image_scale_refuses_what_is_not_one_or_two_positive_factors(text: str) -> None:
    with pytest.raises(ValueError, match="factor"):
        parse_image_scale(text)


@pytest.mark.parametrize("bad", [0, -1, float("inf"), float("nan"), (2, 0), (1, float("inf"))])
def test_options_refuse_what_is_not_a_positive_finite_factor(bad: object) -> None:
    with pytest.raises(ValidationError):
        DetectorOptions(image_scale=bad)
    assert as_scale_xy(DetectorOptions(image_scale=(2, 1)).image_scale) == (2.0, 1.0)


def test_scale_for_mm_per_px_brings_the_camera_to_the_model() -> None:
    assert scale_for_mm_per_px((0.3, 0.3), 0.15) == pytest.approx((2.0, 2.0))
    # a line-scan camera whose rows lie farther apart than its columns
    assert scale_for_mm_per_px((0.1, 0.2), 0.1) == pytest.approx((1.0, 2.0))
    with pytest.raises(ValueError, match="positive"):
        scale_for_mm_per_px((0.1, 0.1), 0)


def test_resample_sizes_and_averages() -> None:
    stripes = np.zeros((40, 60), np.uint8)
    stripes[:, ::2] = 200  # one-pixel threads: shrinking by half must average them, not alias
    half = resample(stripes, (0.5, 0.5))
    assert half.shape == (20, 30)
    assert np.all(np.abs(half.astype(int) - 100) <= 1)
    assert resample(stripes, (2.0, 1.0)).shape == (40, 120)
    assert resample(stripes, (1.0, 1.0)) is stripes
    assert resample(stripes, (0.001, 0.001)).shape == (1, 1)


def test_to_frame_pixels_maps_back_and_keeps_boxes_inside() -> None:
    found = Detections(
        np.array([[20, 10, 60, 30], [100, 50, 130, 61]], np.float32),
        np.array([0.9, 0.5], np.float32),
        np.array([1, 0], np.int64),
    )
    back = to_frame_pixels(found, (120, 60), (60, 60))  # found at twice the width
    assert back.xyxy_px.tolist() == [[10, 10, 30, 30], [50, 50, 60, 60]]
    assert back.confidence.tolist() == pytest.approx([0.9, 0.5])
    assert back.class_id.tolist() == [1, 0]
    assert to_frame_pixels(found, (60, 60), (60, 60)) is found


def test_the_detector_runs_the_resampled_frame(tmp_path: Path) -> None:
    # A fake detector: one box (cx 80, cy 80, 40 x 40) in its 160x160 input, whatever it sees.
    box = np.array([[[80.0], [80.0], [40.0], [40.0], [0.9]]], np.float32)
    path = write_tiny_onnx(tmp_path / "model.onnx", [1, 3, 160, 160], "constant", box, METADATA)
    frame = np.zeros((160, 320), np.uint8)  # as it is: 320 > 1.5 x 160, so tiled
    as_it_is = OnnxDetector(path, DetectorOptions(), threads=1)
    halved = OnnxDetector(path, DetectorOptions(image_scale=(0.5, 1.0)), threads=1)
    runs = (as_it_is.session_runs, halved.session_runs)
    tiled, found = as_it_is.detect(frame), halved.detect(frame)
    assert as_it_is.session_runs - runs[0] > 1
    assert halved.session_runs - runs[1] == 1  # 160x160 after resampling: one run, untiled
    assert found.xyxy_px.tolist() == [[120.0, 60.0, 200.0, 100.0]]  # x doubled back, y as is
    assert found.xyxy_px.tolist() != tiled.xyxy_px.tolist()


def test_min_size_is_measured_in_frame_pixels(tmp_path: Path) -> None:
    box = np.array([[[80.0], [80.0], [40.0], [40.0], [0.9]]], np.float32)  # 40 px in the input
    path = write_tiny_onnx(tmp_path / "model.onnx", [1, 3, 160, 160], "constant", box, METADATA)
    frame = np.zeros((80, 80), np.uint8)
    # x2: the box is 40 px in the 160 px resampled frame, 20 px in the frame itself
    for min_size_px, kept in ((20.0, 1), (21.0, 0)):
        options = DetectorOptions(image_scale=2, min_size_px=min_size_px)
        assert len(OnnxDetector(path, options, threads=1).detect(frame)) == kept


def test_an_exported_detector_sees_the_resampled_frame(exported: ExportedModels) -> None:
    frame = make_image(SynthOptions(count=1, seed=8, size_wh=(200, 120)), 0).image
    options = DetectorOptions(conf_threshold=0.13, tiling="off", line_trace=False)
    scaled = OnnxDetector(exported.dynamic, options.model_copy(update={"image_scale": 1.5}))
    plain = OnnxDetector(exported.dynamic, options)
    enlarged = cv2.resize(frame, (300, 180), interpolation=cv2.INTER_LINEAR)
    expected, found = plain.detect(enlarged), scaled.detect(frame)
    assert len(found) == len(expected) > 0
    back = np.clip(expected.xyxy_px / 1.5, 0, [200, 120] * 2)
    np.testing.assert_allclose(found.xyxy_px, back, atol=1e-3)
    np.testing.assert_allclose(found.confidence, expected.confidence)


def test_a_frame_resampled_smaller_than_the_input_is_padded_not_enlarged(tmp_path: Path) -> None:
    # The fake detector's box is (60, 60, 100, 100) in its 160x160 input. The frame halved to
    # 80x80 lies in the input's middle (40 px of padding each side) at its own scale: the box is
    # (20, 20, 60, 60) in it, (40, 40, 120, 120) in the frame. Enlarged back to 160 px, the
    # halving would be undone and the box come out at (60, 60, 100, 100).
    box = np.array([[[80.0], [80.0], [40.0], [40.0], [0.9]]], np.float32)
    path = write_tiny_onnx(tmp_path / "model.onnx", [1, 3, 160, 160], "constant", box, METADATA)
    frame = np.zeros((160, 160), np.uint8)
    found = OnnxDetector(path, DetectorOptions(image_scale=0.5), threads=1).detect(frame)
    assert found.xyxy_px.tolist() == [[40.0, 40.0, 120.0, 120.0]]
    plain = OnnxDetector(path, DetectorOptions(), threads=1).detect(frame)
    assert plain.xyxy_px.tolist() == [[60.0, 60.0, 100.0, 100.0]]
