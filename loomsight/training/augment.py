"""Augmentations for cloth under a line camera: what changes between mills, lights and lenses.

Light drifts (brightness, contrast, gamma), lenses defocus and the web moves (blur), sensors are
noisy and JPEGs blocky, mono cameras give grey; cloth may pass either way up and either side first
(flips), slightly skewed (small rotations) and at another scale. ultralytics applies the geometric
part; albumentations the photometric part through ultralytics' `augmentations` argument.

A camera may also look at the cloth a quarter turn round (`QuarterTurn`): the image is transposed,
warp becomes weft, so a missing warp yarn (broken_end) becomes a missing weft yarn (broken_pick)
and the labels swap with it. Without it the model saw long defects almost only along the roll (the
real photos' streaks) and never learnt wide boxes for weft faults: its broken_pick boxes stopped at
240 px, the farthest a stride-8 cell reaches with 16 distance bins, and failed IoU 0.5.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

GEOMETRIC: dict[str, float] = {
    "degrees": 3.0,  # skew of the web under the camera
    "translate": 0.1,
    "scale": 0.3,  # another lens or camera height
    "fliplr": 0.5,
    "flipud": 0.5,  # fabric has no up: either face, either end first
    "mosaic": 1.0,
    "hsv_h": 0.02,  # dye lots
    "hsv_s": 0.5,
    "hsv_v": 0.4,  # exposure
}


QUARTER_TURN_P = 0.3
# Classes that trade places when warp and weft do; every other class looks alike either way.
QUARTER_TURN_PAIRS: tuple[tuple[str, str], ...] = (("broken_end", "broken_pick"),)


def quarter_turn_classes(names: Sequence[str]) -> npt.NDArray[np.int64]:
    """Class id after a quarter turn, indexed by class id: the pairs swap where both are named."""
    mapping = np.arange(len(names), dtype=np.int64)
    index = {name: position for position, name in enumerate(names)}
    for first, second in QUARTER_TURN_PAIRS:
        if first in index and second in index:
            mapping[index[first]], mapping[index[second]] = index[second], index[first]
    return mapping


class QuarterTurn:
    """An ultralytics transform: with probability `p`, transpose the image (x and y trade places),
    its boxes, and the classes named in QUARTER_TURN_PAIRS. Goes just before ultralytics' Format."""

    def __init__(self, names: Sequence[str], p: float = QUARTER_TURN_P) -> None:
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"p must be between 0 and 1, got {p}")
        self.p = p
        self.class_after_turn = quarter_turn_classes(names)

    def __call__(self, labels: dict[str, Any]) -> dict[str, Any]:
        if random.random() >= self.p:  # ultralytics seeds `random` for every run
            return labels
        labels["img"] = np.ascontiguousarray(np.swapaxes(labels["img"], 0, 1))
        instances = labels["instances"]
        instances.convert_bbox(format="xyxy")
        segments = instances.segments
        segments = np.ascontiguousarray(segments[..., ::-1]) if len(segments) else None
        keypoints = instances.keypoints
        if keypoints is not None:
            keypoints = np.concatenate([keypoints[..., 1::-1], keypoints[..., 2:]], axis=-1)
        instances.update(
            bboxes=instances.bboxes[:, [1, 0, 3, 2]], segments=segments, keypoints=keypoints
        )
        classes = np.asarray(labels["cls"])
        labels["cls"] = self.class_after_turn[classes.astype(np.int64)].astype(classes.dtype)
        if "resized_shape" in labels:
            height, width = labels["resized_shape"]
            labels["resized_shape"] = (width, height)
        return labels


def add_quarter_turns(dataset: Any, names: Sequence[str], p: float = QUARTER_TURN_P) -> None:
    """Put a QuarterTurn before the final Format of an ultralytics training dataset, now and
    whenever it rebuilds its transforms (it does when mosaic closes for the last epochs)."""
    turn = QuarterTurn(names, p)
    build = dataset.build_transforms

    def build_with_turns(hyp: Any = None) -> Any:
        transforms = build(hyp)
        transforms.insert(-1, turn)
        return transforms

    dataset.transforms.insert(-1, turn)
    dataset.build_transforms = build_with_turns


def photometric_transforms() -> list[Any]:
    """Albumentations transforms (imported here: only training needs them)."""
    import albumentations as album

    return [
        album.RandomBrightnessContrast(brightness_limit=0.25, contrast_limit=0.3, p=0.5),
        album.RandomGamma(gamma_limit=(70, 140), p=0.2),
        album.OneOf(
            [album.GaussianBlur(blur_limit=(3, 5)), album.MotionBlur(blur_limit=(3, 7))], p=0.25
        ),
        album.GaussNoise(std_range=(0.01, 0.06), p=0.3),
        album.ImageCompression(quality_range=(50, 95), p=0.2),
        album.ToGray(p=0.2),
        album.CLAHE(p=0.05),
    ]


def describe() -> list[str]:
    """The augmentations in words, for the model card."""
    swaps = ", ".join(f"{first} and {second}" for first, second in QUARTER_TURN_PAIRS)
    return [
        f"ultralytics: {', '.join(f'{key}={value}' for key, value in GEOMETRIC.items())}",
        f"quarter turn (transpose; {swaps} swap) p{QUARTER_TURN_P}",
        "albumentations: brightness/contrast +-25%/30% (p0.5), gamma 0.7-1.4 (p0.2), "
        "Gaussian or motion blur (p0.25), Gaussian noise 1-6% (p0.3), JPEG quality 50-95 (p0.2), "
        "to grey (p0.2), CLAHE (p0.05)",
    ]
