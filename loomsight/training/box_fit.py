"""Fit box scales by class: from what `loomsight evaluate` measures on a val split, the
`--class-box-scale` values for an exported model (`loomsight export --fit-box-scale DATA.yaml`).

Per class, evaluation gives the median label size over the size of the reported box on it, across
the box and along it (`ClassScore.box_size_ratio`). The fitted scale is that ratio rounded to
ROUND_TO, for the classes whose ratio is off 1 by more than MIN_OFF (either way) over at least
MIN_PAIRS label and box pairs; the other side of such a class is rounded too, kept at 1 when it is
within MIN_OFF. Yarn-line classes are left out: the detector traces them in the image, which sets
their size. Chosen for the default model on its val splits (README, training): it gave knot
0.9 x 0.8, slub and crease and the real photos' defects 0.85 to 0.9 across.
"""

from __future__ import annotations

from collections.abc import Collection

from loomsight.inference.box_scale import MAX_FACTOR, BoxScale
from loomsight.training.evaluate import Evaluation

ROUND_TO = 0.05
MIN_OFF = 0.075  # a ratio within 7.5% of 1 is left as it is
MIN_PAIRS = 10  # fewer label and box pairs than this: too few to trust a median


def fit_box_scales(evaluation: Evaluation, line_classes: Collection[str]) -> dict[str, BoxScale]:
    """Box scales by class name from EVALUATION (of the model with its boxes as drawn), leaving
    LINE_CLASSES out."""
    fitted: dict[str, BoxScale] = {}
    for score in evaluation.per_class:
        ratio = score.box_size_ratio
        if ratio is None or score.box_size_pairs < MIN_PAIRS or score.name in line_classes:
            continue
        scale = (_rounded(ratio[0]), _rounded(ratio[1]))
        if scale != (1.0, 1.0):  # both sides within MIN_OFF: left as drawn
            fitted[score.name] = scale
    return fitted


def _rounded(ratio: float) -> float:
    """RATIO to the nearest ROUND_TO, 1 when within MIN_OFF of it, inside (0, MAX_FACTOR]."""
    if abs(ratio - 1) <= MIN_OFF:
        return 1.0
    return min(max(round(round(ratio / ROUND_TO) * ROUND_TO, 4), ROUND_TO), MAX_FACTOR)
