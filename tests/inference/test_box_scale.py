"""Box scale by class: parsing, scaling about the centre, the card, and through a detector."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from loomsight.datasets.synth.defects import FABRIC_CLASSES
from loomsight.inference.box_scale import parse_box_scale, scale_boxes, scales_by_class_id
from loomsight.inference.detections import Detections
from loomsight.inference.detector import DetectorOptions, OnnxDetector
from tests.inference.conftest import ExportedModels, fabric_images
from tests.inference.test_detector import card_for


def boxes(*rows: tuple[float, float, float, float, float, int]) -> Detections:
    """Detections from rows (x1, y1, x2, y2, score, class_id)."""
    table = np.array(rows, np.float32).reshape(-1, 6)
    return Detections(table[:, :4], table[:, 4], table[:, 5].astype(np.int64))


@pytest.mark.parametrize(
    ("text", "expected"), [("0.85", (0.85, 0.85)), ("0.85,1", (0.85, 1.0)), ("1.2, 4", (1.2, 4))]
)
def test_parse_box_scale(text: str, expected: tuple[float, float]) -> None:
    assert parse_box_scale(text) == pytest.approx(expected)


@pytest.mark.parametrize("text", ["", "0", "-0.5", "4.5", "0.8,0", "0.8,0.9,1", "big", "0.8;1"])
def test_parse_box_scale_refuses(text: str) -> None:
    with pytest.raises(ValueError, match=f"ACROSS\\[,ALONG\\].* got {text!r}"):
        parse_box_scale(text)


def test_boxes_are_scaled_about_their_centre_across_and_along() -> None:
    """The first factor scales the shorter side, whichever way the box lies; a class without a
    scale keeps its boxes; scores and classes stay."""
    scales = np.array([[0.5, 0.8], [1.0, 1.0]], np.float32)
    found = boxes(
        (10, 20, 110, 40, 0.9, 0),  # wide: 100 x 20 about (60, 30)
        (10, 20, 30, 120, 0.8, 0),  # tall: 20 x 100 about (20, 70)
        (0, 0, 10, 10, 0.7, 0),  # square: the width counts as the shorter side
        (10, 20, 110, 40, 0.6, 1),  # a class left as it is
    )
    scaled = scale_boxes(found, scales)
    np.testing.assert_allclose(
        scaled.xyxy_px,
        [[20, 25, 100, 35], [15, 30, 25, 110], [2.5, 1, 7.5, 9], [10, 20, 110, 40]],
    )
    assert scaled.confidence.tolist() == pytest.approx([0.9, 0.8, 0.7, 0.6])
    assert scaled.class_id.tolist() == [0, 0, 0, 1]
    assert len(scale_boxes(Detections.empty(), scales)) == 0


def test_scales_by_class_id() -> None:
    rows = scales_by_class_id(["hole", "knot", "slub"], {"knot": (0.9, 0.8)})
    np.testing.assert_allclose(rows, [[1, 1], [0.9, 0.8], [1, 1]])
    with pytest.raises(ValueError, match=r"box_scale names unknown classes \['nep'\]"):
        scales_by_class_id(["hole", "knot"], {"nep": (0.9, 0.9)})


def test_the_card_refuses_unknown_classes_and_factors_out_of_range(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"box_scale_by_class names classes the model lacks"):
        card_for(tmp_path, box_scale_by_class={"nep": (0.9, 0.9)})
    for factor in (0.0, 4.5):
        with pytest.raises(ValueError, match="box_scale_by_class"):
            card_for(tmp_path, box_scale_by_class={"knot": (0.9, factor)})


def test_the_detector_scales_the_boxes_of_the_classes_the_card_names(
    exported: ExportedModels, tmp_path: Path
) -> None:
    """A real exported model: with the card's scales each box keeps its centre, score and class,
    its sides scaled by its class's factors; the options replace the card's scales ({}: none)."""
    shutil.copyfile(exported.dynamic, tmp_path / "model.onnx")
    scale_by_name = {name: (0.5, 0.75) for name in FABRIC_CLASSES[::2]}
    card_for(tmp_path, box_scale_by_class=scale_by_name)
    base = {"conf_threshold": 0.1, "tiling": "off", "line_classes": (), "flip_views": ()}
    scaled = OnnxDetector(tmp_path / "model.onnx", DetectorOptions.model_validate(base))
    plain = OnnxDetector(
        tmp_path / "model.onnx", DetectorOptions.model_validate({**base, "box_scale": {}})
    )
    assert scaled.box_scale == scale_by_name and plain.box_scale == {}
    compared = 0
    for frame in fabric_images(4, seed=3):
        frame = np.ascontiguousarray(frame[:160, :160])
        got, reference = scaled.detect(frame), plain.detect(frame)
        assert got.class_id.tolist() == reference.class_id.tolist()
        np.testing.assert_allclose(got.confidence, reference.confidence)
        inside = np.all((reference.xyxy_px > 0) & (reference.xyxy_px < 160), axis=1)
        for mine, theirs, class_id in zip(
            got.xyxy_px[inside], reference.xyxy_px[inside], got.class_id[inside], strict=True
        ):
            np.testing.assert_allclose(
                (mine[:2] + mine[2:]) / 2, (theirs[:2] + theirs[2:]) / 2, atol=1e-3
            )
            factors = (0.5, 0.75) if FABRIC_CLASSES[class_id] in scale_by_name else (1.0, 1.0)
            sides = sorted((theirs[2:] - theirs[:2]).tolist())
            np.testing.assert_allclose(
                sorted((mine[2:] - mine[:2]).tolist()),
                sorted([sides[0] * factors[0], sides[1] * factors[1]]),
                atol=1e-3,
            )
            compared += FABRIC_CLASSES[class_id] in scale_by_name
    assert compared >= 5
    only_stain = OnnxDetector(
        tmp_path / "model.onnx", DetectorOptions(box_scale={"stain": (0.9, 0.9)})
    )
    assert only_stain.box_scale == {"stain": (0.9, 0.9)}
    assert OnnxDetector(exported.dynamic).box_scale == {}  # no card: boxes as drawn
    with pytest.raises(ValueError, match=r"box_scale names unknown classes \['nep'\]"):
        OnnxDetector(exported.dynamic, DetectorOptions(box_scale={"nep": (0.9, 0.9)}))
