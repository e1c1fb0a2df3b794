"""Pixels to fabric coordinates, and the roll position of a frame."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from loomsight.camera.calibration import (
    Calibration,
    DefectSizeFilter,
    FabricDefect,
    WebOdometer,
    to_fabric,
)
from loomsight.datasets.synth.moving_web import MovingWeb
from loomsight.errors import ModelFileError
from loomsight.inference.detections import Detections

CLASSES = ("hole", "stain", "knot")
FRAME_WH = (800, 400)


def _calibration(**overrides: Any) -> Calibration:
    options: dict[str, Any] = {"mm_per_px": 0.5, "web_width_mm": 1000.0, "speed_m_per_min": 60.0}
    options.update(overrides)
    return Calibration(**options)


def _one(box: tuple[float, float, float, float], class_id: int = 0) -> Detections:
    return Detections(np.array([box]), np.array([0.8]), np.array([class_id]))


@pytest.mark.parametrize(
    ("overrides", "box", "expected"),
    [
        # (position_m, across_mm, length_mm, width_mm) for a frame whose first row is at 10 m
        ({}, (100, 200, 140, 260), (10.115, 60.0, 30.0, 20.0)),
        ({"across_offset_mm": 25.0}, (100, 200, 140, 260), (10.115, 85.0, 30.0, 20.0)),
        ({"mm_per_px_along": 0.25}, (100, 200, 140, 260), (10.0575, 60.0, 15.0, 20.0)),
        ({"flip_across": True}, (100, 200, 140, 260), (10.115, 340.0, 30.0, 20.0)),
        ({"flip_along": True}, (100, 200, 140, 260), (10.085, 60.0, 30.0, 20.0)),
        ({}, (-10, -5, 20, 30), (10.0075, 5.0, 15.0, 10.0)),  # clipped to the frame
        ({}, (780, 390, 900, 500), (10.1975, 395.0, 5.0, 10.0)),  # clipped to the frame
        ({"across_offset_mm": -20.0}, (0, 0, 100, 10), (10.0025, 15.0, 5.0, 30.0)),  # web edge
        ({"web_width_mm": 300.0}, (500, 0, 700, 10), (10.0025, 275.0, 5.0, 50.0)),  # far edge
    ],
)
def test_pixels_to_fabric(
    overrides: dict[str, Any],
    box: tuple[float, float, float, float],
    expected: tuple[float, float, float, float],
) -> None:
    (defect,) = to_fabric(_one(box, 1), CLASSES, 10.0, FRAME_WH, _calibration(**overrides))
    position_m, across_mm, length_mm, width_mm = expected
    assert defect.position_m == pytest.approx(position_m, abs=1e-9)
    assert defect.across_mm == pytest.approx(across_mm)
    assert defect.length_mm == pytest.approx(length_mm)
    assert defect.width_mm == pytest.approx(width_mm)
    assert defect.class_name == "stain"
    assert defect.confidence == pytest.approx(0.8)
    assert defect.frame_wh_px == FRAME_WH
    x1, y1, x2, y2 = defect.box_xyxy_px
    assert 0 <= x1 < x2 <= FRAME_WH[0] and 0 <= y1 < y2 <= FRAME_WH[1]


def test_spans_follow_centre_and_size() -> None:
    (defect,) = to_fabric(_one((100, 200, 140, 260)), CLASSES, 10.0, FRAME_WH, _calibration())
    assert defect.along_span_m == pytest.approx((10.1, 10.13))
    assert defect.across_span_mm == pytest.approx((50.0, 70.0))


@pytest.mark.parametrize(
    ("overrides", "box"),
    [
        ({"across_offset_mm": -100.0}, (0, 0, 100, 10)),  # wholly left of the web
        ({"web_width_mm": 100.0}, (300, 0, 400, 10)),  # wholly right of the web
        ({}, (800, 0, 850, 10)),  # right of the frame
        ({}, (10, 400, 20, 420)),  # below the frame
        ({}, (10, 10, 10, 20)),  # no width
    ],
)
def test_boxes_off_the_frame_or_web_are_dropped(
    overrides: dict[str, Any], box: tuple[float, float, float, float]
) -> None:
    assert to_fabric(_one(box), CLASSES, 0.0, FRAME_WH, _calibration(**overrides)) == []


@pytest.mark.parametrize(
    ("size_filter", "kept"),
    [
        (DefectSizeFilter(), ["hole", "stain", "knot"]),
        (DefectSizeFilter(min_size_mm=4.0), ["stain", "knot"]),
        (DefectSizeFilter(min_size_mm=4.0, min_size_mm_by_class={"hole": 1.0}), CLASSES),
        (DefectSizeFilter(min_size_mm_by_class={"knot": 10.5}), ["hole", "stain"]),
        (DefectSizeFilter(min_size_mm=10.0), ["knot"]),  # the larger side counts: 10 x 1 mm
    ],
)
def test_minimum_defect_size(size_filter: DefectSizeFilter, kept: list[str]) -> None:
    boxes = np.array([[0, 0, 4, 4], [0, 0, 8, 8], [0, 0, 20, 2]])  # 2, 4 and 10 x 1 mm
    detections = Detections(boxes, np.full(3, 0.5), np.array([0, 1, 2]))
    defects = to_fabric(detections, CLASSES, 0.0, FRAME_WH, _calibration(), size_filter)
    assert [d.class_name for d in defects] == list(kept)


def test_a_class_id_the_model_does_not_name_is_refused() -> None:
    with pytest.raises(ModelFileError, match=r"class id 3 but the model names 3 classes"):
        to_fabric(_one((0, 0, 5, 5), 3), CLASSES, 0.0, FRAME_WH, _calibration())


def test_no_detections_give_no_defects() -> None:
    assert to_fabric(Detections.empty(), CLASSES, 0.0, FRAME_WH, _calibration()) == []


@pytest.mark.parametrize(
    "overrides",
    [{"mm_per_px": 0.0}, {"speed_m_per_min": -1.0}, {"roll_start_m": -2.0}, {"colour": "red"}],
)
def test_calibration_refuses_bad_values(overrides: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        _calibration(**overrides)


def test_odometer_integrates_the_line_speed_from_the_roll_start() -> None:
    odometer = WebOdometer(_calibration(speed_m_per_min=30.0, roll_start_m=5.0), start_t_ns=1000)
    assert odometer.position_m(1000) == pytest.approx(5.0)
    assert odometer.position_m(1000 + 2_000_000_000) == pytest.approx(6.0)  # 2 s at 0.5 m/s
    assert odometer.position_m(0) == pytest.approx(5.0)  # before the start: never backwards
    odometer.set_speed(60.0, 1000 + 4_000_000_000)  # 7 m at 4 s, then 1 m/s
    assert odometer.position_m(1000 + 6_000_000_000) == pytest.approx(9.0)
    odometer.start_roll("R2", 0.0, 10_000_000_000)
    assert odometer.roll_id == "R2"
    assert odometer.position_m(11_000_000_000) == pytest.approx(1.0)


def test_odometer_prefers_an_encoder_and_goes_on_from_its_last_value() -> None:
    odometer = WebOdometer(_calibration(speed_m_per_min=60.0), start_t_ns=0)
    assert odometer.position_m(1_000_000_000, encoder_m=0.7) == pytest.approx(0.7)
    assert odometer.position_m(1_500_000_000) == pytest.approx(1.2)  # 0.7 m + 0.5 s at 1 m/s
    ignoring = WebOdometer(_calibration(speed_m_per_min=60.0, use_encoder=False), start_t_ns=0)
    assert ignoring.position_m(1_000_000_000, encoder_m=0.7) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="finite"):
        odometer.position_m(2_000_000_000, encoder_m=float("nan"))


def test_label_boxes_of_the_moving_web_land_on_its_planted_defects() -> None:
    web = MovingWeb(seed=11, width_px=256, frame_height_px=128, mm_per_px=0.2, defects_per_100m=400)
    calibration = Calibration(
        mm_per_px=web.mm_per_px, web_width_mm=web.width_mm, speed_m_per_min=60.0
    )
    step_m = web.frame_length_m / 2
    planted = {d.defect_id: d for d in web.defects_between(0.0, 2.5)}
    checked: set[str] = set()
    for frame in web.frames(speed_m_per_min=step_m * 60, fps=1.0, count=int(2.0 / step_m)):
        labels = frame.labels
        detections = Detections(
            labels.xyxy_px.astype(np.float32), np.ones(len(labels), np.float32), labels.class_id
        )
        defects = to_fabric(detections, web.classes, frame.top_m, labels.resolution_wh, calibration)
        assert len(defects) == len(labels)
        for defect, box, defect_id in zip(defects, labels.xyxy_px, frame.defect_ids, strict=True):
            if box[1] <= 0 or box[3] >= web.frame_height_px:  # cut by the frame: only a part
                continue
            truth = planted[defect_id]
            assert defect.class_name == truth.class_name
            assert abs(defect.position_m - truth.position_m) * 1000 < 10.0, defect_id
            assert abs(defect.across_mm - truth.across_mm) < 10.0, defect_id
            checked.add(defect_id)
    assert len(checked) >= 5


def test_fabric_defect_is_frozen() -> None:
    (defect,) = to_fabric(_one((0, 0, 5, 5)), CLASSES, 0.0, FRAME_WH, _calibration())
    assert isinstance(defect, FabricDefect)
    with pytest.raises(AttributeError):
        defect.position_m = 1.0  # type: ignore[misc]
