"""The article dataset: real frames as background and with implanted defects, split along the
roll (training frames never held apart), tiles of the model input, held-apart half clean."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from loomsight.article.dataset import ArticleDatasetOptions, build_article_dataset
from loomsight.article.scoring import threshold_for_false_alarms
from loomsight.article.weave import measure_weave
from loomsight.datasets.data_yaml import class_names_of, label_path, split_images
from loomsight.datasets.layout import read_image
from loomsight.datasets.synth.moving_web import MovingWeb
from loomsight.errors import DatasetError

MODEL_CLASSES = ["hole", "stain", "broken_end", "broken_pick", "slub", "knot", "contamination",
                 "crease", "defect"]  # fmt: skip


def frames(count: int) -> list[np.ndarray]:
    web = MovingWeb(5, 256, 128, 0.1, defects_per_100m=0)
    return [web.frame_at(i * web.frame_length_m, i).image for i in range(count)]


def test_the_dataset_splits_along_the_roll_and_labels_what_it_implants(tmp_path: Path) -> None:
    clean = frames(10)  # 256x128 each: two 128-px tiles
    options = ArticleDatasetOptions(tile_px=128, held_apart_share=0.3, val_share=0.25, seed=1)
    dataset = build_article_dataset(
        clean, measure_weave(clean), 0.1, MODEL_CLASSES, tmp_path, options
    )
    assert (dataset.train_frames, dataset.held_apart_frames) == (7, 3)
    # 14 training-frame tiles: 20% (3) kept clean for the threshold, 11 to train and validate on
    assert dataset.images == {"train": 8, "val": 3, "test": 6, "threshold": 3}
    assert class_names_of(dataset.data_yaml) == MODEL_CLASSES
    tiles_of = lambda fs: [t.astype(int) for f in fs for t in (f[:, :128], f[:, 128:])]  # noqa: E731
    held_apart_tiles, training_tiles = tiles_of(clean[7:]), tiles_of(clean[:7])
    test = split_images(dataset.data_yaml, "test")
    boxes = 0
    for index, path in enumerate(test):
        text = label_path(path).read_text()
        assert (text.strip() == "") == (index % 2 == 1)  # every other one clean
        if not text.strip():  # a clean held-apart tile is a tile of the last frames (JPEG'd)
            image = read_image(path).astype(int)
            nearest = [min(np.abs(image - t).mean() for t in tiles)
                       for tiles in (held_apart_tiles, training_tiles)]  # fmt: skip
            assert nearest[0] < 0.5 * nearest[1], nearest
        for line in text.splitlines():
            class_id, *box = line.split()
            assert MODEL_CLASSES[int(class_id)] != "defect"  # implanted: the specific classes
            assert all(0 < float(v) <= 1 for v in box)
            boxes += 1
    assert boxes >= 3 and dataset.implanted >= boxes
    assert dataset.clean_test_images == 3


def test_tiles_not_sampled_for_training_set_the_threshold_clean(tmp_path: Path) -> None:
    clean = frames(10)
    options = ArticleDatasetOptions(tile_px=128, max_train_images=6, max_threshold_images=5)
    dataset = build_article_dataset(
        clean, measure_weave(clean), 0.1, MODEL_CLASSES, tmp_path, options
    )
    assert dataset.images["train"] + dataset.images["val"] == 6
    assert dataset.images["threshold"] == 5  # of the 14 - 6 = 8 training-frame tiles left
    for path in split_images(dataset.data_yaml, "threshold"):
        assert label_path(path).read_text() == ""


@pytest.mark.parametrize(
    ("classes", "count", "message"),
    [
        (["defect"], 10, "include none of the implantable ones"),
        (MODEL_CLASSES, 1, "at least 2 usable frames"),
    ],
)
def test_what_cannot_make_a_dataset_is_refused(
    tmp_path: Path, classes: list[str], count: int, message: str
) -> None:
    clean = frames(count)
    with pytest.raises(DatasetError, match=message):
        build_article_dataset(clean, measure_weave(clean), 0.1, classes, tmp_path)


@pytest.mark.parametrize(
    ("clean_scores", "rate", "expected"),
    [
        ([0.9, 0.5, 0.3, 0.0], 0.0, 0.9),  # no false alarm allowed: above the highest
        ([0.9, 0.5, 0.3, 0.0], 0.25, 0.5),  # one of four may alarm: above the second
        ([0.9, 0.5, 0.3, 0.0], 1.0, 0.01),  # all may: the lowest threshold
        ([0.0, 0.0], 0.0, 0.01),  # nothing scored: the lowest threshold, not zero
        ([], 0.05, 0.01),
    ],
)
def test_threshold_for_a_false_alarm_rate(
    clean_scores: list[float], rate: float, expected: float
) -> None:
    threshold = threshold_for_false_alarms(np.array(clean_scores), rate)
    assert threshold == pytest.approx(expected)
    alarms = sum(score >= threshold for score in clean_scores)
    assert alarms <= rate * len(clean_scores)
