"""Yarn boards (ASTM D2255 style): each planted fault is boxed where it was planted."""

from __future__ import annotations

import numpy as np
import pytest

from loomsight.datasets.synth.yarn_board import YARN_CLASSES, make_yarn_board_image


@pytest.mark.parametrize("class_name", YARN_CLASSES)
def test_each_fault_is_boxed_around_its_position(class_name: str) -> None:
    for seed in range(4):
        sample = make_yarn_board_image(
            np.random.default_rng(seed), (320, 240), 0.05, (class_name,), defect_free_share=0.0
        )
        assert sample.image.shape[:2] == (240, 320)
        assert len(sample.labels) == len(sample.defects) >= 1
        for (x1, y1, x2, y2), defect in zip(sample.labels.xyxy_px, sample.defects, strict=True):
            assert x1 <= defect.center_x_px <= x2
            assert y1 - 3 <= defect.center_y_px <= y2 + 3
            # Faults run along the strand: boxes are wider than tall, except round neps.
            if class_name in ("slub", "thick_place", "thin_place"):
                assert (x2 - x1) > (y2 - y1)


def test_a_defect_free_board_has_no_boxes_and_differs_by_seed() -> None:
    first = make_yarn_board_image(np.random.default_rng(1), (128, 128), 0.05, defect_free_share=1.0)
    second = make_yarn_board_image(
        np.random.default_rng(2), (128, 128), 0.05, defect_free_share=1.0
    )
    assert len(first.labels) == 0
    assert not np.array_equal(first.image, second.image)
