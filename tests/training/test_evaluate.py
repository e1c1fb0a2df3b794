"""Evaluation figures on known answers: a perfect detector, a blind one, a nervous one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from loomsight.datasets.data_yaml import label_path, split_images
from loomsight.datasets.labels import read_yolo_labels
from loomsight.datasets.synth.dataset import SynthOptions, generate_dataset
from loomsight.datasets.synth.defects import FABRIC_CLASSES
from loomsight.inference.detections import Detections
from loomsight.training.evaluate import evaluate

pytestmark = pytest.mark.slow  # imports torch and ultralytics


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("eval")
    generate_dataset(
        SynthOptions(count=12, seed=9, size_wh=(128, 128), defect_free_share=0.3), root
    )
    return root / "data.yaml"


def _truth(data: Path) -> dict[int, Detections]:
    """Ground truth of each image, keyed by its pixel sum (the detector sees only the image)."""
    truth = {}
    for image_path in split_images(data, "val"):
        import cv2

        image = cv2.imread(str(image_path), cv2.IMREAD_UNCHANGED)
        labels = read_yolo_labels(label_path(image_path), (128, 128))
        truth[int(image.sum())] = Detections(
            labels.xyxy_px.astype(np.float32),
            np.full(len(labels), 0.9, np.float32),
            labels.class_id,
        )
    return truth


def _defective_and_clean(data: Path) -> tuple[list[str], list[str]]:
    """The val images with a label, and those without (an empty label file)."""
    images = split_images(data, "val")
    defective = [str(p) for p in images if len(read_yolo_labels(label_path(p), (128, 128)))]
    return defective, [str(p) for p in images if str(p) not in defective]


def test_a_perfect_detector_scores_one(data: Path) -> None:
    truth = _truth(data)
    result = evaluate(lambda image: truth[int(image.sum())], data, operating_conf=0.25)
    assert result.images == 12 and result.defect_free_images >= 1
    assert result.map50 == pytest.approx(1.0, abs=0.01)
    assert result.map50_95 == pytest.approx(1.0, abs=0.01)
    assert result.precision == result.recall == 1.0
    assert result.image_detection_rate == 1.0 and result.image_false_alarm_rate == 0.0
    assert result.missed_images == [] and result.false_alarm_images == []
    keys = set(result.as_json())
    assert {
        "map50",
        "map50_95",
        "precision",
        "recall",
        "per_class",
        "image_detection_rate",
        "image_false_alarm_rate",
        "images",
        "model",
    } <= keys


def test_a_blind_detector_scores_zero(data: Path) -> None:
    result = evaluate(lambda image: Detections.empty(), data, operating_conf=0.25)
    assert result.map50 == 0.0 and result.recall == 0.0
    assert result.image_detection_rate == 0.0 and result.image_false_alarm_rate == 0.0
    defective, _ = _defective_and_clean(data)
    assert result.missed_images == defective and result.false_alarm_images == []


def test_boxes_on_clean_cloth_are_false_alarms_and_shifted_boxes_miss(data: Path) -> None:
    truth = _truth(data)

    def nervous(image: npt.NDArray[np.uint8]) -> Detections:
        found = truth[int(image.sum())]
        if len(found) == 0:  # a clean image: something is always "found"
            return Detections(
                np.array([[10, 10, 30, 30]], np.float32), np.array([0.5], np.float32), np.array([1])
            )
        shifted = found.xyxy_px + np.float32(40)  # every box far from its defect
        return Detections(shifted, found.confidence, found.class_id)

    result = evaluate(nervous, data, operating_conf=0.25)
    assert result.image_false_alarm_rate == 1.0
    assert result.image_detection_rate == 1.0  # something was flagged on each defective image
    _, clean = _defective_and_clean(data)
    assert result.false_alarm_images == clean and result.missed_images == []
    assert result.map50 < 0.2 and result.precision < 0.2


def test_agnostic_scoring_ignores_the_class(data: Path) -> None:
    truth = _truth(data)

    def wrong_class(image: npt.NDArray[np.uint8]) -> Detections:
        found = truth[int(image.sum())]
        return Detections(found.xyxy_px, found.confidence, (found.class_id + 1) % 8)

    assert evaluate(wrong_class, data, operating_conf=0.25).map50 < 0.2
    agnostic = evaluate(wrong_class, data, operating_conf=0.25, agnostic=True)
    assert agnostic.map50 == pytest.approx(1.0, abs=0.01)
    assert [score.name for score in agnostic.per_class] == ["defect"]


def test_model_classes_are_matched_to_the_data_by_name(data: Path) -> None:
    """A model whose class list is ordered differently (or has more classes) is scored by name."""
    truth = _truth(data)
    data_names = list(FABRIC_CLASSES)
    model_names = ["defect", *reversed(data_names)]  # model id k names data class 8 - k

    def reordered(image: npt.NDArray[np.uint8]) -> Detections:
        found = truth[int(image.sum())]
        return Detections(found.xyxy_px, found.confidence, 8 - found.class_id)

    result = evaluate(reordered, data, operating_conf=0.25, model_names=model_names)
    assert result.map50 == pytest.approx(1.0, abs=0.01)
    assert [score.name for score in result.per_class] == data_names


@pytest.mark.parametrize("agnostic", [False, True])
def test_operating_thresholds_by_class(data: Path, agnostic: bool) -> None:
    """Every true box scored 0.2: under the 0.25 of all classes, reported only for the classes
    whose own threshold is lower; mAP does not depend on it."""
    truth = _truth(data)

    def unsure(image: npt.NDArray[np.uint8]) -> Detections:
        found = truth[int(image.sum())]
        return Detections(found.xyxy_px, np.full(len(found), 0.2, np.float32), found.class_id)

    all_classes = evaluate(unsure, data, 0.25, agnostic=agnostic)
    low = np.full(8, 0.1, np.float32)
    by_class = evaluate(unsure, data, 0.25, agnostic=agnostic, operating_conf_by_class=low)
    assert all_classes.recall == 0.0 and all_classes.image_detection_rate == 0.0
    assert by_class.recall == 1.0 and by_class.image_detection_rate == 1.0
    assert by_class.map50 == pytest.approx(all_classes.map50)
    assert by_class.conf_threshold == 0.25
    if agnostic:
        return
    knot = FABRIC_CLASSES.index("knot")
    only_knots = np.full(8, 0.25, np.float32)
    only_knots[knot] = 0.1
    knots = evaluate(unsure, data, 0.25, operating_conf_by_class=only_knots)
    recalled = {score.name for score in knots.per_class if score.recall == 1.0}
    assert recalled == ({"knot"} & {score.name for score in knots.per_class if score.boxes})
    assert all(score.recall == 0.0 for score in knots.per_class if score.name != "knot")


@pytest.mark.parametrize("agnostic", [False, True])
def test_the_box_size_ratio_is_label_over_box_across_and_along(data: Path, agnostic: bool) -> None:
    """Every box drawn a quarter longer than its label along its longer side: label over box is
    1 across and 0.8 along for each class; a box that misses its label, or is not reported, is
    not paired."""
    truth = _truth(data)

    def long_boxes(image: npt.NDArray[np.uint8]) -> Detections:
        found = truth[int(image.sum())]
        centre = (found.xyxy_px[:, :2] + found.xyxy_px[:, 2:]) / 2
        half = (found.xyxy_px[:, 2:] - found.xyxy_px[:, :2]) / 2
        wide = half[:, 0] >= half[:, 1]
        half = half * np.stack([np.where(wide, 1.25, 1), np.where(wide, 1, 1.25)], axis=1)
        return Detections(
            np.concatenate([centre - half, centre + half], axis=1), found.confidence, found.class_id
        )

    result = evaluate(long_boxes, data, 0.25, agnostic=agnostic)
    scored = [score for score in result.per_class if score.boxes]
    assert scored and all(score.box_size_pairs == score.boxes for score in scored)
    for score in scored:
        assert score.box_size_ratio == pytest.approx((1.0, 0.8), abs=1e-3)
    assert result.as_json()["per_class"][scored[0].name]["box_size_ratio"] == pytest.approx(
        [1.0, 0.8], abs=1e-3
    )
    unreported = evaluate(long_boxes, data, 0.95, agnostic=agnostic)
    assert all(s.box_size_ratio is None and s.box_size_pairs == 0 for s in unreported.per_class)

    def far(image: npt.NDArray[np.uint8]) -> Detections:
        found = truth[int(image.sum())]
        return Detections(found.xyxy_px + np.float32(60), found.confidence, found.class_id)

    assert all(s.box_size_pairs == 0 for s in evaluate(far, data, 0.25).per_class)
