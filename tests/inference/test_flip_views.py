"""Flip views: parsing, mirroring boxes back, fusing the views' boxes, and through a detector."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from loomsight.inference.detections import Detections
from loomsight.inference.detector import DetectorOptions, OnnxDetector
from loomsight.inference.flip_views import (
    FlipView,
    flip_image,
    fuse_views,
    parse_flip_views,
    unflip_detections,
)
from tests.inference.conftest import ExportedModels, fabric_images
from tests.inference.test_detector import card_for

IOU_BY_CLASS = np.array([0.7, 0.5], np.float32)  # class 0 fuses above 0.7, class 1 above 0.5


def boxes(*rows: tuple[float, float, float, float, float, int]) -> Detections:
    """Detections from rows (x1, y1, x2, y2, score, class_id)."""
    table = np.array(rows, np.float32).reshape(-1, 6)
    return Detections(table[:, :4], table[:, 4], table[:, 5].astype(np.int64))


@pytest.mark.parametrize(
    ("text", "expected"),
    [("h,v", ("h", "v")), ("hv", ("hv",)), (" v , h ", ("v", "h")), ("none", ()), ("", ())],
)
def test_parse_flip_views(text: str, expected: tuple[str, ...]) -> None:
    assert parse_flip_views(text) == expected


@pytest.mark.parametrize("text", ["x", "h,h", "h,,v", "left"])
def test_parse_flip_views_refuses(text: str) -> None:
    with pytest.raises(ValueError, match=f"views from h, v, hv .* got {text!r}"):
        parse_flip_views(text)


@pytest.mark.parametrize("channels", [0, 1, 3])
@pytest.mark.parametrize(("view", "rows", "columns"), [("h", 1, -1), ("v", -1, 1), ("hv", -1, -1)])
def test_flip_image_mirrors_like_reversed_indexing(
    view: FlipView, rows: int, columns: int, channels: int
) -> None:
    shape = (7, 11, channels) if channels else (7, 11)
    image = np.random.default_rng(channels).integers(0, 256, shape, dtype=np.uint8)
    flipped = flip_image(image, view)
    assert flipped.flags.c_contiguous and flipped.shape == image.shape
    np.testing.assert_array_equal(flipped, image[::rows, ::columns])


@pytest.mark.parametrize("view", ["h", "v", "hv"])
def test_a_box_found_in_a_view_is_mirrored_back_onto_the_image(view: FlipView) -> None:
    """A bright patch is found where the flipped image has it; mirrored back, the box is where
    the patch is in the image."""
    image = np.zeros((60, 100), np.uint8)
    image[10:20, 5:35] = 255
    flipped = flip_image(image, view)
    ys, xs = np.nonzero(flipped)
    seen = boxes((xs.min(), ys.min(), xs.max() + 1, ys.max() + 1, 0.9, 0))
    back = unflip_detections(seen, view, (60, 100))
    assert back.xyxy_px[0].tolist() == [5, 10, 35, 20]
    assert back.confidence.tolist() == pytest.approx([0.9]) and back.class_id.tolist() == [0]


def test_boxes_that_agree_are_averaged_and_keep_their_score() -> None:
    fused = fuse_views(
        [boxes((10, 10, 50, 30, 0.6, 0)), boxes((14, 10, 54, 30, 0.3, 0))], IOU_BY_CLASS
    )
    assert len(fused) == 1
    # weighted by score: x1 = (0.6 * 10 + 0.3 * 14) / 0.9
    assert fused.xyxy_px[0].tolist() == pytest.approx([34 / 3, 10, 154 / 3, 30], abs=1e-4)
    assert fused.confidence.tolist() == pytest.approx([0.45])  # (0.6 + 0.3) / 2 views


def test_a_box_one_view_saw_keeps_its_share_of_the_score() -> None:
    fused = fuse_views(
        [boxes((10, 10, 50, 30, 0.9, 0)), boxes(), boxes((80, 80, 90, 90, 0.6, 0))], IOU_BY_CLASS
    )
    assert fused.confidence.tolist() == pytest.approx([0.3, 0.2])
    assert fused.xyxy_px.tolist() == [[10, 10, 50, 30], [80, 80, 90, 90]]


@pytest.mark.parametrize(
    ("class_id", "fused_count"),
    [(0, 2), (1, 1)],  # IoU 0.6 between the two: under class 0's 0.7, over class 1's 0.5
)
def test_boxes_fuse_above_their_class_iou(class_id: int, fused_count: int) -> None:
    a, b = (0, 0, 100, 10, 0.8, class_id), (0, 0, 60, 10, 0.7, class_id)
    assert len(fuse_views([boxes(a), boxes(b)], IOU_BY_CLASS)) == fused_count


def test_classes_do_not_fuse_and_a_view_gives_one_box_to_each_fused_box() -> None:
    other_class = fuse_views(
        [boxes((0, 0, 40, 40, 0.8, 0)), boxes((0, 0, 40, 40, 0.8, 1))], IOU_BY_CLASS
    )
    assert sorted(other_class.class_id.tolist()) == [0, 1]
    # the second view's two boxes both overlap the first view's: the weaker is a duplicate
    duplicate = fuse_views(
        [boxes((0, 0, 40, 40, 0.8, 0)), boxes((0, 0, 40, 40, 0.6, 0), (1, 0, 41, 40, 0.5, 0))],
        IOU_BY_CLASS,
    )
    assert len(duplicate) == 1 and duplicate.confidence.tolist() == pytest.approx([0.7])
    assert fuse_views([boxes(), boxes()], IOU_BY_CLASS).xyxy_px.shape == (0, 4)


def test_the_detector_fuses_the_model_output_of_each_view(exported: ExportedModels) -> None:
    """A real exported model: what the detector reports with the h view is what fusing its own
    output on the frame and on the mirrored frame gives, at one model run per view."""
    plain_options = dict(conf_threshold=0.1, tiling="off", line_classes=(), flip_views=())
    plain = OnnxDetector(exported.static, DetectorOptions.model_validate(plain_options))
    with_h = OnnxDetector(
        exported.static, DetectorOptions.model_validate({**plain_options, "flip_views": ("h",)})
    )
    for frame in fabric_images(3, seed=11):
        frame = np.ascontiguousarray(frame[:160, :160])
        runs = with_h.session_runs
        got = with_h.detect(frame)
        assert with_h.session_runs == runs + 2
        views = [
            plain.detect(frame),
            unflip_detections(plain.detect(frame[:, ::-1]), "h", (160, 160)),
        ]
        expected = fuse_views(views, plain.class_iou_thresholds)
        expected = expected.filter(expected.confidence >= 0.1)
        assert len(got) > 0 and len(got) == len(expected)
        np.testing.assert_allclose(got.xyxy_px, expected.xyxy_px, atol=1e-3)
        np.testing.assert_allclose(got.confidence, expected.confidence, atol=1e-6)
        assert got.class_id.tolist() == expected.class_id.tolist()


def test_the_flip_views_come_from_the_card_unless_the_options_say(
    exported: ExportedModels, tmp_path: Path
) -> None:
    shutil.copyfile(exported.dynamic, tmp_path / "model.onnx")
    card_for(tmp_path, flip_views=("h", "v"))
    assert OnnxDetector(tmp_path / "model.onnx").flip_views == ("h", "v")
    only_frame = OnnxDetector(tmp_path / "model.onnx", DetectorOptions(flip_views=()))
    assert only_frame.flip_views == ()
    assert OnnxDetector(exported.dynamic).flip_views == ()  # no card: the frame only
    with pytest.raises(ValueError, match=r"flip_views names a view twice: \['h', 'h'\]"):
        card_for(tmp_path, flip_views=("h", "h"))


def test_with_flip_views_the_detector_reports_what_keeping_every_score_reports(
    exported: ExportedModels,
) -> None:
    """A fused box scores the mean over the views, so boxes under the threshold count: the
    detector at its operating threshold reports the boxes that one keeping every score (as
    `loomsight evaluate` does) scores at or above it. (The untrained model scores its boxes
    about 0.12 to 0.14: at 0.13, decoding each view at the threshold itself loses boxes.)"""
    options = {"tiling": "off", "line_classes": (), "flip_views": ("h", "v")}
    operating = OnnxDetector(
        exported.static, DetectorOptions.model_validate({**options, "conf_threshold": 0.13})
    )
    every_score = OnnxDetector(
        exported.static, DetectorOptions.model_validate({**options, "conf_threshold": 0.001})
    )
    reported = 0
    for frame in fabric_images(4, seed=5):
        frame = np.ascontiguousarray(frame[:160, :160])
        got = operating.detect(frame)
        kept = every_score.detect(frame)
        expected = kept.filter(kept.confidence >= 0.13)
        assert got.class_id.tolist() == expected.class_id.tolist()
        np.testing.assert_allclose(got.xyxy_px, expected.xyxy_px, atol=0.05)
        np.testing.assert_allclose(got.confidence, expected.confidence, atol=1e-3)
        reported += len(got)
    assert reported >= 10
