"""Fit an article's texture-anomaly model (`inference.texture_anomaly`) on its defect-free cloth.

The memory is taken from the clean training tiles of the article dataset, and the threshold is set
on the clean tiles it did not see (the validation tiles left clean and the `threshold` split) so
that at most TEXTURE_FALSE_ALARM_RATE of them alarm. With no clean training tile (very few
frames), half of the others are remembered and the threshold is set on the rest. Fewer than
MIN_CLEAN_TILES either way is too little cloth to trust the threshold on more of it (measured: a
memory of 16 frames of 256 px alarmed on 47% of further clean frames; of 48 frames, on 2.5%).

The cell is a few yarn repeats wide, so that a cell of good cloth looks like other cells of good
cloth wherever it falls on the weave. Chosen on the synthetic check article (0.1 mm/px, yarn
pitches 6 and 8 px) against the generator's own defects 1,000 m along the roll: cells of 4 yarn
pitches (32 px) and the 3x3 average found 70% of the defective tiles at 4% false alarms; 16 px
cells and no average, 39% at 5% (measured with the first version of the features, on JPEG
tiles).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from loomsight.article.scoring import threshold_for_false_alarms
from loomsight.article.weave import WeaveMeasure
from loomsight.datasets.data_yaml import label_path, read_data_yaml, split_images
from loomsight.datasets.layout import read_image
from loomsight.errors import DatasetError
from loomsight.inference.texture_anomaly import TextureAnomalyModel, cell_features

logger = logging.getLogger(__name__)

Image = npt.NDArray[np.uint8]

MEMORY_CELLS = 8_000  # good cells remembered
MIN_CLEAN_TILES = 40  # to learn from, and to set the threshold on, for the model to be used
TEXTURE_FALSE_ALARM_RATE = 0.01  # of the clean tiles not remembered
YARN_PITCHES_PER_CELL = 4
CELL_RANGE_PX = (16, 64)
DEFAULT_CELL_PX = 32  # when no yarn pitch was measured


def cell_px_for(weave: WeaveMeasure) -> int:
    """YARN_PITCHES_PER_CELL of the coarser measured pitch, in steps of 8 px, in CELL_RANGE_PX."""
    pitches = [p for p in (weave.warp_pitch_px, weave.weft_pitch_px) if p]
    if not pitches:
        return DEFAULT_CELL_PX
    low, high = CELL_RANGE_PX
    return int(min(max(8 * round(YARN_PITCHES_PER_CELL * max(pitches) / 8), low), high))


def fit_texture_model(
    images: Sequence[Image], cell_px: int, seed: int = 0, memory_cells: int = MEMORY_CELLS
) -> TextureAnomalyModel:
    """The good cloth of IMAGES (defect-free), threshold not yet set (infinite)."""
    if not images:
        raise DatasetError("expected at least one defect-free image to learn the texture from")
    features = np.concatenate([cell_features(image, cell_px) for image in images])
    mean = features.mean(axis=0)
    scale = np.maximum(features.std(axis=0), 1e-6)
    rng = np.random.default_rng(seed)
    keep = rng.choice(len(features), min(memory_cells, len(features)), replace=False)
    return TextureAnomalyModel(
        cell_px=cell_px,
        mean=mean.astype(np.float32),
        scale=scale.astype(np.float32),
        memory=((features[keep] - mean) / scale).astype(np.float32),
        threshold=float("inf"),
    )


def _clean_images(data_yaml: Path, splits: Sequence[str]) -> list[Image]:
    """The images of SPLITS (those DATA_YAML has) whose label files are empty or missing."""
    content = read_data_yaml(data_yaml)
    images = []
    for split in [s for s in splits if content.get(s)]:
        for path in split_images(data_yaml, split):
            labels = label_path(path)
            if not labels.is_file() or not labels.read_text(encoding="utf-8").strip():
                images.append(read_image(path))
    return images


@dataclass(frozen=True)
class TextureCalibration:
    model: TextureAnomalyModel
    learnt_tiles: int  # clean tiles the memory was taken from
    unseen_tiles: int  # clean tiles the threshold was set on

    @property
    def enough_cloth(self) -> bool:
        """Enough clean tiles both ways for the threshold to hold on more of the cloth."""
        return self.learnt_tiles >= MIN_CLEAN_TILES and self.unseen_tiles >= MIN_CLEAN_TILES


def calibrate_texture(data_yaml: Path, weave: WeaveMeasure, seed: int = 0) -> TextureCalibration:
    """The article's texture model from its dataset at DATA_YAML (see the module docstring)."""
    remembered = _clean_images(data_yaml, ["train"])
    unseen = _clean_images(data_yaml, ["val", "threshold"])
    if not remembered:  # few frames: the unseen clean tiles are shared between the two
        remembered, unseen = unseen[::2], unseen[1::2]
    if not unseen:
        raise DatasetError(
            f"{data_yaml}: expected clean tiles both to learn the texture from and to set its "
            f"threshold on, got {len(remembered)}"
        )
    model = fit_texture_model(remembered, cell_px_for(weave), seed)
    scores = np.array([model.score(image) for image in unseen])
    threshold = threshold_for_false_alarms(scores, TEXTURE_FALSE_ALARM_RATE)
    logger.info(
        "texture model: %d px cells from %d clean tiles, threshold %.2f on %d unseen clean tiles",
        model.cell_px,
        len(remembered),
        threshold,
        len(unseen),
    )
    return TextureCalibration(model.with_threshold(threshold), len(remembered), len(unseen))
