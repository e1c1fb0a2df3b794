"""The article dataset: real defect-free frames of the article as background, and the same frames
with synthetic defects implanted along the measured weave, labelled as the generator labels them.

Frames are split along the roll: the first part trains (and validates), the last part is held
apart for the before/after test, so no piece of cloth is in both. Frames wider or longer than the
model input are cut into tiles of the input size. In the validation and held-apart tiles, every
other tile gets defects and the rest stay clean (false alarms are counted on those: empty label
files). The `threshold` split holds clean tiles of the training frames that are not trained on
(at least `threshold_share` of them, however few frames there are): with the clean validation
tiles, they set the operating threshold.

Tiles are written as PNG: the camera's frames are not compressed, and JPEG's loss of fine texture
would set the texture-anomaly model (`article.texture`) on other cloth than the camera sees.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from loomsight.article.implant import implant_defects
from loomsight.article.weave import WeaveMeasure
from loomsight.datasets.labels import ImageLabels, write_yolo_labels
from loomsight.datasets.layout import write_data_yaml, write_image
from loomsight.datasets.synth.defects import FABRIC_CLASSES
from loomsight.datasets.tiling import tile_grid
from loomsight.errors import DatasetError

logger = logging.getLogger(__name__)

Image = npt.NDArray[np.uint8]
SPLITS = ("train", "val", "test", "threshold")


@dataclass(frozen=True)
class ArticleDatasetOptions:
    tile_px: int = 416  # the model's input: frames are cut into tiles this size
    held_apart_share: float = 0.3  # of the frames, the last along the roll: the test split
    max_train_images: int = 400
    max_test_images: int = 80
    max_threshold_images: int = 200  # clean tiles of the training frames not trained on
    threshold_share: float = 0.2  # of those tiles at least this share, however few there are
    val_share: float = 0.15  # of the training tiles, for ultralytics' own validation
    clean_share: float = 0.25  # training tiles left defect-free (the background)
    defects_per_image: tuple[int, int] = (1, 3)
    seed: int = 0


@dataclass(frozen=True)
class ArticleDataset:
    data_yaml: Path
    class_names: tuple[str, ...]
    images: dict[str, int]  # per split
    clean_test_images: int
    implanted: int  # defects, all splits
    train_frames: int
    held_apart_frames: int


def _tiles(frames: Sequence[Image], tile_px: int) -> list[Image]:
    tiles = []
    for frame in frames:
        height, width = frame.shape[:2]
        for window in tile_grid((width, height), tile_px, 0):
            x1, y1, x2, y2 = window.xyxy_px
            tiles.append(frame[y1:y2, x1:x2])
    return tiles


def _sample(
    tiles: list[Image], most: int, rng: np.random.Generator
) -> tuple[list[Image], list[Image]]:
    """At most MOST tiles, spread over all of them, in their order; and the others."""
    if len(tiles) <= most:
        return tiles, []
    keep = set(rng.choice(len(tiles), size=most, replace=False).tolist())
    return [t for i, t in enumerate(tiles) if i in keep], [
        t for i, t in enumerate(tiles) if i not in keep
    ]


def build_article_dataset(
    frames: Sequence[Image],
    weave: WeaveMeasure,
    mm_per_px: float | None,
    class_names: Sequence[str],
    out: Path,
    options: ArticleDatasetOptions | None = None,
) -> ArticleDataset:
    """Write the dataset to OUT (images/, labels/, data.yaml with CLASS_NAMES, the model's)."""
    options = options or ArticleDatasetOptions()
    implantable = [name for name in FABRIC_CLASSES if name in class_names]
    if not implantable:
        raise DatasetError(
            f"the model's classes {list(class_names)} include none of the implantable ones "
            f"({', '.join(FABRIC_CLASSES)})"
        )
    to_model_id = np.array([list(class_names).index(name) for name in implantable], np.int64)
    held = max(1, round(len(frames) * options.held_apart_share))
    if len(frames) - held < 1:
        raise DatasetError(
            f"expected at least 2 usable frames to train on some and test on others, "
            f"got {len(frames)}"
        )
    rng = np.random.default_rng(options.seed)
    training_side = _tiles(frames[:-held], options.tile_px)
    reserved = max(
        round(len(training_side) * options.threshold_share),
        len(training_side) - options.max_train_images,
    )
    threshold_tiles, rest = _sample(training_side, min(reserved, options.max_threshold_images), rng)
    train_tiles, _ = _sample(rest, options.max_train_images, rng)
    test_tiles, _ = _sample(_tiles(frames[-held:], options.tile_px), options.max_test_images, rng)
    val_count = max(1, round(len(train_tiles) * options.val_share))
    if len(train_tiles) - val_count < 1:
        raise DatasetError(f"{len(train_tiles)} training tiles: too few to also validate on")
    splits = {
        "train": train_tiles[:-val_count],
        "val": train_tiles[-val_count:],
        "test": test_tiles,
        "threshold": threshold_tiles,  # clean only: for the operating threshold
    }
    low, high = options.defects_per_image
    implanted, clean_test = 0, 0
    counts = {}
    for split, tiles in splits.items():
        for index, tile in enumerate(tiles):
            if split == "train":
                clean = rng.random() < options.clean_share
            else:  # val and test: every other tile clean, whatever clean_share is
                clean = split == "threshold" or index % 2 == 1
            height, width = tile.shape[:2]
            image, labels = tile, ImageLabels.empty((width, height))
            if not clean:
                count = int(rng.integers(low, high + 1))
                result = implant_defects(tile, weave, mm_per_px, rng, count, implantable)
                image = result.image
                labels = ImageLabels(
                    result.labels.xyxy_px,
                    to_model_id[result.labels.class_id],
                    result.labels.resolution_wh,
                )
                implanted += len(labels)
            clean_test += int(split == "test" and len(labels) == 0)
            stem = f"{split}_{index:05d}"
            write_image(out / "images" / split / f"{stem}.png", image)  # lossless, as the camera
            write_yolo_labels(out / "labels" / split / f"{stem}.txt", labels)
        counts[split] = len(tiles)
    folders = {split: f"images/{split}" for split in SPLITS if counts[split]}
    data_yaml = write_data_yaml(out, class_names, folders)
    logger.info("article dataset in %s: %s images, %d defects implanted", out, counts, implanted)
    return ArticleDataset(
        data_yaml=data_yaml,
        class_names=tuple(class_names),
        images=counts,
        clean_test_images=clean_test,
        implanted=implanted,
        train_frames=len(frames) - held,
        held_apart_frames=held,
    )
