"""Fitting box scales by class from an evaluation's label/box size ratios."""

from __future__ import annotations

import pytest

from loomsight.training.box_fit import MIN_PAIRS, fit_box_scales
from loomsight.training.evaluate import ClassScore, Evaluation


def score(name: str, ratio: tuple[float, float] | None, pairs: int = 30) -> ClassScore:
    return ClassScore(name, 10, 30, 0.9, 0.9, 0.9, 0.6, ratio, pairs if ratio else 0)


def evaluation(*scores: ClassScore) -> Evaluation:
    return Evaluation("m@1", "data.yaml", "val", 100, 10, 0.25, 0.9, 0.6, 0.9, 0.9, 0.95, 0.0,
                      per_class=list(scores))  # fmt: skip


def test_classes_drawn_too_large_or_small_get_their_rounded_ratio() -> None:
    fitted = fit_box_scales(
        evaluation(
            score("knot", (0.905, 0.82)),  # both sides off
            score("slub", (0.835, 1.03)),  # across only: along stays 1
            score("hole", (1.01, 0.97)),  # within 7.5%: left as drawn
            score("stain", (0.93, 0.94)),  # just within
            score("crease", (1.12, 1.0)),  # drawn too thin
            score("contamination", None),  # nothing reported on it
        ),
        line_classes=(),
    )
    assert fitted == {
        "knot": pytest.approx((0.9, 0.8)),
        "slub": pytest.approx((0.85, 1.0)),
        "crease": pytest.approx((1.1, 1.0)),
    }


def test_yarn_lines_and_classes_with_few_pairs_are_left_out() -> None:
    fitted = fit_box_scales(
        evaluation(
            score("broken_pick", (1.15, 1.0)),
            score("knot", (0.8, 0.8), pairs=MIN_PAIRS - 1),
            score("slub", (0.8, 1.0), pairs=MIN_PAIRS),
        ),
        line_classes=("broken_pick", "broken_end"),
    )
    assert fitted == {"slub": pytest.approx((0.8, 1.0))}
