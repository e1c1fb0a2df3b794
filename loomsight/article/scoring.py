"""A model on an article's held-apart images: the plant figures at its operating threshold, and the
detection rate at a fixed false-alarm rate (a model that flags everything finds every defect at
its own threshold; at a threshold that lets only 5% of clean images alarm it may find none).

An image is defective when its label file has boxes and clean when it is empty; a defect counts as
found when the model reports anything in a defective image (the image detection rate of
`loomsight evaluate`). mAP50 comes from `loomsight evaluate`'s own code, on the same ONNX file.

With the article's texture-anomaly model beside the detector, an image is flagged when either
reaches its own threshold: each image's score is the larger of the detector's top confidence over
its operating threshold and the texture score over the texture threshold, flagged at 1 (and
`threshold_at_fixed_fa` is on that scale). mAP50 stays the detector's.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from loomsight.datasets.data_yaml import label_path, split_images
from loomsight.datasets.layout import read_image
from loomsight.errors import DatasetError
from loomsight.inference.texture_anomaly import TextureAnomalyModel

LOWEST_CONF = 0.01  # scores below this are not looked at
FIXED_FALSE_ALARM_RATE = 0.05


@dataclass(frozen=True)
class ArticleScore:
    model: str
    images: int
    clean_images: int
    conf_threshold: float  # the model's operating threshold (its card's)
    detection_rate: float  # defective images with a detection at the operating threshold
    false_alarm_rate: float  # clean images with one
    detection_at_fixed_fa: float  # at the threshold that lets FIXED_FALSE_ALARM_RATE alarm
    threshold_at_fixed_fa: float
    map50: float

    @property
    def margin(self) -> float:
        """Detection rate less false-alarm rate at the operating threshold."""
        return self.detection_rate - self.false_alarm_rate


def threshold_for_false_alarms(clean_top_conf: np.ndarray, rate: float) -> float:
    """The lowest threshold at which at most RATE of the clean images have a score at or above
    it (scores are each clean image's highest)."""
    if clean_top_conf.size == 0:
        return LOWEST_CONF
    allowed = int(np.floor(rate * clean_top_conf.size))
    ordered = np.sort(clean_top_conf)[::-1]
    if allowed >= ordered.size:
        return LOWEST_CONF
    above_first_not_allowed = float(np.nextafter(ordered[allowed], np.inf))
    return max(above_first_not_allowed, LOWEST_CONF)


def top_confidences(onnx_path: Path, data_yaml: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Each image's highest detection score (0 for none) and whether it is clean, over SPLIT."""
    from loomsight.inference.detector import DetectorOptions, OnnxDetector

    images = split_images(data_yaml, split)
    if not images:
        raise DatasetError(f"{data_yaml}: the {split} split holds no images")
    detector = OnnxDetector(onnx_path, DetectorOptions(conf_threshold=LOWEST_CONF, tiling="off"))
    top_conf, clean = [], []
    for image_path in images:
        detections = detector.detect(read_image(image_path))
        top_conf.append(float(detections.confidence.max()) if len(detections) else 0.0)
        labels = label_path(image_path)
        clean.append(not labels.is_file() or not labels.read_text(encoding="utf-8").strip())
    return np.array(top_conf), np.array(clean, dtype=bool)


def texture_scores(model: TextureAnomalyModel, data_yaml: Path, split: str) -> np.ndarray:
    """Each image's texture-anomaly score over SPLIT, in the order of `top_confidences`."""
    return np.array([model.score(read_image(path)) for path in split_images(data_yaml, split)])


def score_model(
    onnx_path: Path,
    data_yaml: Path,
    split: str = "test",
    texture: TextureAnomalyModel | None = None,
) -> ArticleScore:
    """Score ONNX_PATH, with TEXTURE beside it if given, on SPLIT of DATA_YAML (see the module
    docstring)."""
    from loomsight.inference.model_card import read_card
    from loomsight.training.evaluate import evaluate_onnx

    scores, is_clean = top_confidences(onnx_path, data_yaml, split)
    operating = read_card(onnx_path.parent).conf_threshold
    flag_at = operating
    if texture is not None:
        texture_share = texture_scores(texture, data_yaml, split) / texture.threshold
        scores, flag_at = np.maximum(scores / operating, texture_share), 1.0
    clean_scores, defective_scores = scores[is_clean], scores[~is_clean]
    fixed = threshold_for_false_alarms(clean_scores, FIXED_FALSE_ALARM_RATE)
    evaluation = evaluate_onnx(onnx_path, data_yaml, split=split, tiling="off")

    def share(values: np.ndarray, threshold: float) -> float:
        return float(np.mean(values >= threshold)) if values.size else 0.0

    return ArticleScore(
        model=evaluation.model + (" + texture anomaly" if texture is not None else ""),
        images=int(scores.size),
        clean_images=int(is_clean.sum()),
        conf_threshold=operating,
        detection_rate=share(defective_scores, flag_at),
        false_alarm_rate=share(clean_scores, flag_at),
        detection_at_fixed_fa=share(defective_scores, fixed),
        threshold_at_fixed_fa=fixed,
        map50=evaluation.map50,
    )
