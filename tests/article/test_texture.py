"""The texture-anomaly score learnt from defect-free cloth: low on more of the same cloth (also
under brighter light), high where the generator put a defect, boxes where the defect is; saved and
loaded unchanged; bad files refused."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import cv2
import numpy as np
import pytest

from loomsight.article.scoring import threshold_for_false_alarms
from loomsight.article.texture import (
    DEFAULT_CELL_PX,
    TEXTURE_FALSE_ALARM_RATE,
    calibrate_texture,
    cell_px_for,
    fit_texture_model,
)
from loomsight.article.weave import WeaveMeasure
from loomsight.datasets.labels import ImageLabels, write_yolo_labels
from loomsight.datasets.layout import write_data_yaml, write_image
from loomsight.datasets.synth.moving_web import MovingWeb
from loomsight.errors import DatasetError, ModelFileError
from loomsight.inference.texture_anomaly import TextureAnomalyModel, cell_features

MM_PER_PX = 0.1
TILE_PX = 256
SEED = 11
Frames = list[np.ndarray]


def web(defects_per_100m: float) -> MovingWeb:
    return MovingWeb(SEED, TILE_PX, TILE_PX, MM_PER_PX, defects_per_100m=defects_per_100m)


@cache
def clean_frames() -> tuple[Frames, Frames]:
    """Frames of defect-free cloth: 72 to learn from, 40 further along the roll to test on."""
    cloth = web(0)
    frames = [cloth.frame_at(i * cloth.frame_length_m, i).image for i in range(112)]
    return frames[:72], frames[72:]


@cache
def fitted() -> TextureAnomalyModel:
    learn, _ = clean_frames()
    model = fit_texture_model(learn[:48], DEFAULT_CELL_PX)
    unseen = np.array([model.score(frame) for frame in learn[48:]])
    return model.with_threshold(threshold_for_false_alarms(unseen, 0.0))


@cache
def defective_frames() -> list[tuple[np.ndarray, ImageLabels]]:
    """40 frames, each with at least one of the generator's own defects."""
    cloth, found = web(3000), []
    for index in range(400):
        frame = cloth.frame_at(5.0 + index * cloth.frame_length_m, 500 + index)
        if len(frame.labels):
            found.append((frame.image, frame.labels))
        if len(found) == 40:
            break
    return found


def test_good_cloth_scores_low_and_the_generators_defects_high() -> None:
    model = fitted()
    _, further = clean_frames()
    clean = np.array([model.score(frame) >= model.threshold for frame in further])
    brighter = [np.clip(f.astype(np.float32) * 1.15, 0, 255).astype(np.uint8) for f in further]
    clean_brighter = np.array([model.score(frame) >= model.threshold for frame in brighter])
    found = np.array([model.score(image) >= model.threshold for image, _ in defective_frames()])
    print(
        f"false alarms {clean.mean():.2f} (brighter {clean_brighter.mean():.2f}), "
        f"found {found.mean():.2f}"
    )
    assert clean.mean() <= 0.1
    assert clean_brighter.mean() <= 0.15
    assert found.mean() >= 0.6


def test_boxes_cover_a_painted_stain_and_nothing_else() -> None:
    model = fitted()
    _, further = clean_frames()
    stained = further[0].copy()
    centre_xy = (170, 90)
    mask = np.zeros(stained.shape[:2], np.float32)
    cv2.circle(mask, centre_xy, 18, 1.0, -1)
    tint = np.array([40, 60, 140], np.float32)  # a brown stain
    stained = (stained * (1 - 0.6 * mask[..., None]) + tint * 0.6 * mask[..., None]).astype(
        np.uint8
    )
    assert len(model.find(further[1], class_id=8)) == 0
    boxes = model.find(stained, class_id=8)
    assert len(boxes) == 1, boxes.xyxy_px
    x1, y1, x2, y2 = boxes.xyxy_px[0]
    assert x1 <= centre_xy[0] <= x2 and y1 <= centre_xy[1] <= y2
    assert (x2 - x1) * (y2 - y1) < 0.25 * TILE_PX * TILE_PX
    assert boxes.class_id.tolist() == [8]
    assert 0.5 <= float(boxes.confidence[0]) < 1.0


def test_saved_and_loaded_it_scores_the_same(tmp_path: Path) -> None:
    model = fitted()
    model.save(tmp_path / "texture.npz")
    loaded = TextureAnomalyModel.load(tmp_path / "texture.npz")
    frame = clean_frames()[1][3]
    assert loaded.cell_px == model.cell_px and loaded.threshold == model.threshold
    assert loaded.score(frame) == pytest.approx(model.score(frame), rel=1e-2)


@pytest.mark.parametrize("content", [b"", b"not an npz file", None])
def test_a_file_that_is_not_a_texture_model_is_refused(
    tmp_path: Path, content: bytes | None
) -> None:
    path = tmp_path / "texture.npz"
    if content is None:
        np.savez(path, something=np.zeros(3))
    else:
        path.write_bytes(content)
    with pytest.raises(ModelFileError, match="not a texture anomaly model"):
        TextureAnomalyModel.load(path)


def test_features_need_a_frame_at_least_one_cell_big() -> None:
    with pytest.raises(ValueError, match="at least 32x32"):
        cell_features(np.zeros((20, 100), np.uint8), 32)


@pytest.mark.parametrize(
    ("warp_px", "weft_px", "cell_px"),
    [
        (6.1, 7.7, 32),  # the check article at 0.1 mm/px
        (2.5, 3.0, 16),  # fine yarns: not under 16
        (30.0, 20.0, 64),  # coarse: not over 64
        (None, 9.0, 32),
        (None, None, DEFAULT_CELL_PX),
    ],
)
def test_the_cell_spans_four_yarn_pitches(
    warp_px: float | None, weft_px: float | None, cell_px: int
) -> None:
    weave = WeaveMeasure(warp_px, weft_px, 0.0, 0.0, 20.0, 20.0, 1)
    assert cell_px_for(weave) == cell_px


def _write_split(root: Path, split: str, images: Frames, clean: bool = True) -> None:
    for index, image in enumerate(images):
        stem = f"{split}_{'clean' if clean else 'defect'}_{index:03d}"
        write_image(root / "images" / split / f"{stem}.png", image)
        labels = ImageLabels.empty((TILE_PX, TILE_PX))
        if not clean:
            box = np.array([[10, 10, 40, 40]], np.float32)
            labels = ImageLabels(box, np.zeros(1, np.int64), (TILE_PX, TILE_PX))
        write_yolo_labels(root / "labels" / split / f"{stem}.txt", labels)


def test_calibrated_on_an_article_dataset_few_clean_tiles_alarm(tmp_path: Path) -> None:
    learn, further = clean_frames()
    defective = [image for image, _ in defective_frames()]
    _write_split(tmp_path, "train", learn[:48])
    _write_split(tmp_path, "train", defective[:4], clean=False)  # implanted ones: not learnt
    _write_split(tmp_path, "val", learn[48:56])
    _write_split(tmp_path, "threshold", learn[56:])
    splits = {split: f"images/{split}" for split in ("train", "val", "threshold")}
    data_yaml = write_data_yaml(tmp_path, ["hole"], splits)
    fit = calibrate_texture(data_yaml, WeaveMeasure(6.0, 6.0, 0.0, 0.0, 20.0, 20.0, 1))
    assert (fit.learnt_tiles, fit.unseen_tiles, fit.enough_cloth) == (48, 24, False)
    model = fit.model
    assert model.cell_px == 24
    unseen = np.array([model.score(frame) for frame in learn[48:]])
    assert np.mean(unseen >= model.threshold) <= TEXTURE_FALSE_ALARM_RATE + 1 / len(unseen)
    assert np.mean([model.score(frame) >= model.threshold for frame in further]) <= 0.15


def test_calibrating_with_no_clean_tile_is_refused(tmp_path: Path) -> None:
    _write_split(tmp_path, "train", [image for image, _ in defective_frames()[:3]], clean=False)
    data_yaml = write_data_yaml(tmp_path, ["hole"], {"train": "images/train"})
    with pytest.raises(DatasetError, match="expected clean tiles"):
        calibrate_texture(data_yaml, WeaveMeasure(6.0, 6.0, 0.0, 0.0, 20.0, 20.0, 1))
