"""Box scale by class: a class whose boxes the model draws too large or too small, corrected.

A model can draw the boxes of a class larger than its labels the same way on every image: the
default model was trained while knot labels still took in faint fibre tails (up to 2.8 times the
knot's length), and its knot boxes are about a sixth larger than the labels now drawn; its boxes
of thick places in a yarn (slub) and of the real photos' defects come out thicker across than
labelled. `loomsight evaluate` measures this per class (`box_size_ratio`: the median label size
over the size of the box reported on it), and `loomsight export --class-box-scale knot=0.85`
writes the correction into the model card; the detector then scales each box of that class about
its centre.

A scale is (across, along): the factor for the box's shorter side and for its longer side, so
that a thin box of any orientation is made thinner or longer alike. One number scales both.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated

import numpy as np
import numpy.typing as npt
from pydantic import Field

from loomsight.inference.detections import Detections

MAX_FACTOR = 4.0
Factor = Annotated[float, Field(gt=0, le=MAX_FACTOR)]
BoxScale = tuple[Factor, Factor]  # (shorter side, longer side)
Float32Array = npt.NDArray[np.float32]


def is_box_scale(scale: Sequence[float]) -> bool:
    """Whether SCALE is two factors in (0, MAX_FACTOR]."""
    return len(scale) == 2 and all(0 < factor <= MAX_FACTOR for factor in scale)


def parse_box_scale(text: str) -> BoxScale:
    """ "0.85" -> (0.85, 0.85); "0.85,1" -> (0.85, 1.0); ValueError for anything else."""
    try:
        values = [float(part) for part in text.split(",")]
    except ValueError:
        values = []
    if len(values) not in (1, 2) or not is_box_scale((values[0], values[-1])):
        raise ValueError(
            f"expected ACROSS[,ALONG]: one or two factors in (0, {MAX_FACTOR:g}] for the box's "
            f"shorter and longer side (e.g. 0.85 or 0.85,1), got {text!r}"
        )
    return (values[0], values[-1])


def describe_box_scales(by_name: Mapping[str, BoxScale]) -> str:
    """ "knot 0.9, 0.8; slub 0.85, 1": each class's factors across and along."""
    return "; ".join(f"{name} {across:g}, {along:g}" for name, (across, along) in by_name.items())


def scales_by_class_id(names: Sequence[str], by_name: Mapping[str, BoxScale]) -> Float32Array:
    """(classes, 2) factors, one row per class of NAMES: BY_NAME's, (1, 1) for the others;
    ValueError for a class NAMES lacks."""
    unknown = sorted(set(by_name) - set(names))
    if unknown:
        raise ValueError(
            f"box_scale names unknown classes {unknown}; the model's classes are {list(names)}"
        )
    return np.array([by_name.get(name, (1.0, 1.0)) for name in names], dtype=np.float32)


def scale_boxes(detections: Detections, scales: Float32Array) -> Detections:
    """DETECTIONS with each box scaled about its centre by its class's row of SCALES: the first
    factor for its shorter side, the second for its longer (of a square box, the width counts as
    the shorter side, as in `loomsight evaluate`'s size ratio)."""
    if len(detections) == 0 or bool(np.all(scales == 1)):
        return detections
    xyxy = detections.xyxy_px.astype(np.float32)
    centre, half = (xyxy[:, :2] + xyxy[:, 2:]) / 2, (xyxy[:, 2:] - xyxy[:, :2]) / 2
    across, along = scales[detections.class_id].T
    wide = half[:, 0] > half[:, 1]  # x is the longer side
    factor = np.stack([np.where(wide, along, across), np.where(wide, across, along)], axis=1)
    half = half * factor
    return Detections(
        np.concatenate([centre - half, centre + half], axis=1),
        detections.confidence,
        detections.class_id,
    )
