"""Implanted defects: each class on real and synthetic cloth, boxes exactly where the image
changed, nothing changed outside them, no overlaps, counts, determinism, valid YOLO labels, and
yarn faults that follow the measured weave."""

from __future__ import annotations

from functools import cache

import numpy as np
import numpy.typing as npt
import pytest

from loomsight.article.implant import CHANGE_LEVEL, ImplantedImage, implant_defects
from loomsight.article.weave import WeaveMeasure, measure_weave
from loomsight.datasets.labels import parse_yolo_text
from loomsight.datasets.synth.defects import FABRIC_CLASSES
from tests.article.test_weave import clean_web, real_photos

Image = npt.NDArray[np.uint8]
SMALL_CLASSES = [c for c in FABRIC_CLASSES if c != "crease"]  # a crease may fill a frame


@cache
def _web(seed: int = 0, grayscale: bool | None = None) -> tuple[Image, WeaveMeasure]:
    _, image = clean_web(seed, grayscale=grayscale)
    return image, measure_weave([image])


def _changed(before: Image, after: Image) -> npt.NDArray[np.bool_]:
    delta = np.abs(after.astype(np.int16) - before.astype(np.int16))
    return delta.max(axis=2) >= CHANGE_LEVEL if delta.ndim == 3 else delta >= CHANGE_LEVEL


def _check_labels(before: Image, result: ImplantedImage) -> None:
    """Boxes tight around changed pixels, nothing changed outside boxes, boxes apart."""
    assert result.image.shape == before.shape and result.image.dtype == np.uint8
    height, width = before.shape[:2]
    assert result.labels.resolution_wh == (width, height)
    changed = _changed(before, result.image)
    outside = np.ones((height, width), dtype=bool)
    boxes = result.labels.xyxy_px.astype(int)
    for x0, y0, x1, y1 in boxes:
        assert 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height
        assert x1 - x0 >= 4 and y1 - y0 >= 4
        inside = changed[y0:y1, x0:x1]
        assert inside.any()
        if x1 - x0 > 4:  # tight: changed pixels on its first and last column
            assert inside[:, 0].any() and inside[:, -1].any()
        if y1 - y0 > 4:
            assert inside[0].any() and inside[-1].any()
        outside[y0:y1, x0:x1] = False
    assert np.array_equal(result.image[outside], before[outside])
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1], (a, b)


@pytest.mark.parametrize("class_name", FABRIC_CLASSES)
@pytest.mark.parametrize("mm_per_px", [0.05, None])
def test_each_class_on_synthetic_cloth(class_name: str, mm_per_px: float | None) -> None:
    image, weave = _web(grayscale=False)
    result = implant_defects(image, weave, mm_per_px, np.random.default_rng(3), 1, [class_name])
    assert result.class_names == (class_name,)
    assert result.labels.class_id.tolist() == [0]
    _check_labels(image, result)


@pytest.mark.parametrize("class_name", FABRIC_CLASSES)
def test_each_class_on_a_real_photo(class_name: str) -> None:
    (photo,) = real_photos(1)
    grey = np.ascontiguousarray(photo[:, :, 0])
    weave = measure_weave([grey])
    result = implant_defects(grey, weave, None, np.random.default_rng(11), 2, [class_name])
    assert len(result.labels) >= 1
    _check_labels(grey, result)


@pytest.mark.parametrize("seed", range(6))
def test_count_is_honoured_and_boxes_are_valid_yolo(seed: int) -> None:
    image, weave = _web(1)
    result = implant_defects(image, weave, 0.05, np.random.default_rng(seed), 5, SMALL_CLASSES)
    assert len(result.labels) == 5
    _check_labels(image, result)
    text = result.labels.to_yolo_text()
    values = np.array([line.split()[1:] for line in text.splitlines()], dtype=float)
    assert np.all((values > 0) & (values <= 1))
    again = parse_yolo_text(text, result.labels.resolution_wh, "implanted")
    assert np.allclose(again.xyxy_px, result.labels.xyxy_px, atol=0.01)
    assert set(result.labels.class_id.tolist()) <= set(range(len(SMALL_CLASSES)))


def test_class_ids_index_the_given_classes() -> None:
    image, weave = _web()
    classes = ["knot", "hole"]
    result = implant_defects(image, weave, 0.05, np.random.default_rng(0), 6, classes)
    assert result.class_names == ("knot", "hole")
    assert set(result.labels.class_id.tolist()) == {0, 1}


def test_same_seed_same_result_other_seed_other_result() -> None:
    image, weave = _web()
    first = implant_defects(image, weave, 0.05, np.random.default_rng(5), 4)
    second = implant_defects(image, weave, 0.05, np.random.default_rng(5), 4)
    other = implant_defects(image, weave, 0.05, np.random.default_rng(6), 4)
    assert np.array_equal(first.image, second.image)
    assert np.array_equal(first.labels.xyxy_px, second.labels.xyxy_px)
    assert np.array_equal(first.labels.class_id, second.labels.class_id)
    assert not np.array_equal(first.image, other.image)


def test_input_frame_is_left_alone() -> None:
    image, weave = _web()
    copy = image.copy()
    implant_defects(image, weave, 0.05, np.random.default_rng(0), 3)
    assert np.array_equal(image, copy)


def test_contrast_ranges_from_faint_to_strong() -> None:
    image, weave = _web(2)
    contrasts = []
    for seed in range(12):
        result = implant_defects(image, weave, 0.05, np.random.default_rng(seed), 1, ["stain"])
        x0, y0, x1, y1 = result.labels.xyxy_px[0].astype(int)
        delta = np.abs(result.image[y0:y1, x0:x1].astype(float) - image[y0:y1, x0:x1])
        contrasts.append(float(np.percentile(delta, 95)))
    assert max(contrasts) > 2 * min(contrasts)


@pytest.mark.parametrize(("class_name", "warp"), [("broken_end", True), ("broken_pick", False)])
def test_missing_yarn_runs_along_its_yarn_and_is_a_pitch_wide(class_name: str, warp: bool) -> None:
    fabric, image = clean_web(4)
    weave = measure_weave([image])
    pitch = fabric.warp_pitch_px if warp else fabric.weft_pitch_px
    for seed in range(4):
        result = implant_defects(image, weave, 0.05, np.random.default_rng(seed), 1, [class_name])
        x0, y0, x1, y1 = result.labels.xyxy_px[0]
        along, across = (y1 - y0, x1 - x0) if warp else (x1 - x0, y1 - y0)
        assert along > 8 * pitch
        assert across <= 2 * pitch + 4  # one or two yarns, the soft edge, the skew
        # Darker: the crossing yarns lie in the gap's shadow.
        box = (slice(int(y0), int(y1)), slice(int(x0), int(x1)))
        assert result.image[box].mean() < image[box].mean()


@pytest.mark.parametrize(("class_name", "warp"), [("broken_end", True), ("broken_pick", False)])
def test_the_gap_of_a_missing_yarn_is_a_ladder_of_the_crossing_yarns(
    class_name: str, warp: bool
) -> None:
    """Along the gap, brightness repeats at the crossing yarns' pitch (measured on the cloth, not
    the weave measure's guess): the crossing yarns show through as rungs."""
    fabric, image = clean_web(4, grayscale=True)
    weave = measure_weave([image])
    crossing_pitch = fabric.weft_pitch_px if warp else fabric.warp_pitch_px
    periods = []
    for seed in range(4):
        result = implant_defects(image, weave, 0.05, np.random.default_rng(seed), 1, [class_name])
        x0, y0, x1, y1 = result.labels.xyxy_px[0].astype(int)
        gap = result.image[y0:y1, x0:x1].astype(float)
        profile = gap.mean(axis=1) if warp else gap.mean(axis=0)  # along the missing yarn
        power = np.abs(np.fft.rfft((profile - profile.mean()) * np.hanning(profile.size))) ** 2
        peak = int(np.argmax(power[2:])) + 2
        periods.append(profile.size / peak)
    assert float(np.median(periods)) == pytest.approx(crossing_pitch, rel=0.1), periods


def test_missing_yarn_replaces_a_yarn_not_a_gap() -> None:
    """The darkened band of one missing end is centred where the frame's columns are brightest,
    on a warp yarn; that of two ends halfway between two yarns."""
    fabric, image = clean_web(4, grayscale=True)
    weave = measure_weave([image])
    pitch = fabric.warp_pitch_px
    offsets = []
    for seed in range(8):
        result = implant_defects(image, weave, 0.05, np.random.default_rng(seed), 1, ["broken_end"])
        x0, y0, x1, y1 = result.labels.xyxy_px[0].astype(int)
        lo, hi = max(x0 - 3 * int(pitch), 0), min(x1 + 3 * int(pitch), image.shape[1])
        before = image[y0:y1, lo:hi].astype(float).mean(axis=0)
        drop = before - result.image[y0:y1, lo:hi].astype(float).mean(axis=0)
        centre = float(np.average(np.arange(lo, hi), weights=np.clip(drop, 0, None)))
        # Distance of the band's centre from the nearest bright column, in pitches.
        bright = lo + np.flatnonzero(
            (before >= np.roll(before, 1)) & (before >= np.roll(before, -1))
        )
        ends = round((x1 - x0 - 1) / pitch)
        expected = 0.0 if ends == 1 else 0.5
        offsets.append(abs(float(np.min(np.abs(bright - centre))) / pitch - expected))
    assert float(np.median(offsets)) < 0.15


def test_fewer_when_there_is_no_room() -> None:
    image, weave = _web()
    small = np.ascontiguousarray(image[:64, :64])
    result = implant_defects(small, weave, 0.05, np.random.default_rng(0), 20, ["stain"])
    assert 0 < len(result.labels) < 20
    _check_labels(small, result)


def test_no_weave_found_still_implants() -> None:
    flat = np.full((200, 300), 120, dtype=np.uint8)
    nothing = measure_weave([flat])
    assert not nothing.found
    noisy = (flat + np.random.default_rng(0).integers(0, 20, flat.shape)).astype(np.uint8)
    result = implant_defects(noisy, nothing, None, np.random.default_rng(1), 3, SMALL_CLASSES)
    assert len(result.labels) == 3
    _check_labels(noisy, result)


def test_black_corners_of_a_turned_photo_get_no_defects() -> None:
    image, weave = _web()
    cornered = image.copy()
    cornered[:, :200] = 0
    for seed in range(5):
        result = implant_defects(cornered, weave, 0.05, np.random.default_rng(seed), 3, ["knot"])
        assert np.all(result.labels.xyxy_px[:, 0] >= 195)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"classes": ["rip"]}, "expected defect classes among"),
        ({"classes": []}, "expected defect classes among"),
        ({"count": -1}, "count must be >= 0"),
        ({"mm_per_px": 0.0}, "mm_per_px must be positive"),
    ],
)
def test_bad_arguments_are_refused(kwargs: dict[str, object], message: str) -> None:
    image, weave = _web()
    arguments: dict[str, object] = {"mm_per_px": 0.05, "count": 1, "classes": FABRIC_CLASSES}
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=message):
        implant_defects(
            image,
            weave,
            arguments["mm_per_px"],  # type: ignore[arg-type]
            np.random.default_rng(0),
            arguments["count"],  # type: ignore[arg-type]
            arguments["classes"],  # type: ignore[arg-type]
        )
