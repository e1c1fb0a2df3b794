"""Frame quality: real photos and the synthetic web pass; blurred, black, burnt-out and flat
frames fail, each for the reason a person would give."""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from loomsight.article.frame_quality import QualityLimits, check_frame, check_frames
from tests.article.test_weave import clean_web, real_photos

Image = npt.NDArray[np.uint8]


def _blurred(image: Image) -> Image:
    return np.asarray(cv2.GaussianBlur(image, (0, 0), 4))


def _black(image: Image) -> Image:
    return np.zeros_like(image)


def _saturated(image: Image) -> Image:
    return np.full_like(image, 255)


def _flat_grey(image: Image) -> Image:
    return np.full_like(image, 128)


def _dim(image: Image) -> Image:
    return (image // 16).astype(np.uint8)


def _burnt(image: Image) -> Image:
    return np.clip(image.astype(np.int32) * 3, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("seed", [0, 1, 2, 5])
def test_synthetic_web_frames_are_usable(seed: int) -> None:
    _, image = clean_web(seed)
    quality = check_frame(image)
    assert quality.usable, quality.problems
    assert quality.problems == ()


def test_real_photos_are_usable() -> None:
    photos = real_photos(20)
    report = check_frames(photos)
    assert report.usable == 20, report.summary()


@pytest.mark.parametrize(
    ("spoil", "kinds"),
    [
        (_blurred, {"out of focus"}),
        (_black, {"underexposed", "clipped black", "no contrast", "out of focus"}),
        (_saturated, {"overexposed", "clipped white", "no contrast", "out of focus"}),
        (_flat_grey, {"no contrast", "out of focus"}),
        (_dim, {"underexposed"}),
        (_burnt, {"clipped white"}),
    ],
)
def test_bad_frames_are_refused_with_their_reasons(
    spoil: Callable[[Image], Image], kinds: set[str]
) -> None:
    _, image = clean_web(0)
    quality = check_frame(spoil(image))
    assert not quality.usable
    assert kinds <= set(quality.problem_kinds), quality.problems
    assert len(quality.problems) == len(quality.problem_kinds)
    for kind, text in zip(quality.problem_kinds, quality.problems, strict=True):
        assert text.startswith(f"{kind}: ")
        assert any(ch.isdigit() for ch in text)


def test_blurred_real_photos_are_out_of_focus() -> None:
    report = check_frames(_blurred(photo) for photo in real_photos(10))
    assert report.usable == 0
    assert report.problem_counts[0] == ("out of focus", 10)


def test_messages_carry_the_numbers() -> None:
    _, image = clean_web(0)
    quality = check_frame(_blurred(image))
    (text,) = [p for p in quality.problems if p.startswith("out of focus")]
    assert f"sharpness {quality.sharpness:.1f} < 6" in text


def test_sharpness_does_not_depend_on_the_light_level() -> None:
    _, image = clean_web(1)
    darker = (image.astype(np.float32) * 0.6).astype(np.uint8)
    assert check_frame(darker).sharpness == pytest.approx(check_frame(image).sharpness, rel=0.05)


def test_stuck_pixels_and_black_corners_do_not_count_as_detail() -> None:
    _, image = clean_web(2)
    blurred = _blurred(image)
    spoilt = blurred.copy()
    rng = np.random.default_rng(0)
    stuck = rng.random(spoilt.shape[:2]) < 0.01
    spoilt[stuck] = 255
    spoilt[:60, :60] = 0  # a black corner
    assert check_frame(spoilt).sharpness == pytest.approx(check_frame(blurred).sharpness, rel=0.2)
    assert "out of focus" in check_frame(spoilt).problem_kinds


def test_report_counts_usable_frames_and_commonest_problems() -> None:
    _, good = clean_web(0)
    frames = [good, _blurred(good), _blurred(good), _black(good), good]
    report = check_frames(frames)
    assert (report.frames, report.usable) == (5, 2)
    assert report.usable_share == pytest.approx(0.4)
    assert report.problem_counts[0] == ("out of focus", 3)
    assert [q.usable for q in report.qualities] == [True, False, False, False, True]
    assert report.summary().startswith("2 of 5 frames usable; out of focus: 3")


def test_empty_collection() -> None:
    report = check_frames([])
    assert (report.frames, report.usable, report.usable_share) == (0, 0, 0.0)
    assert report.summary() == "0 of 0 frames usable"


def test_limits_can_be_tightened() -> None:
    _, image = clean_web(0)
    strict = QualityLimits(min_sharpness=check_frame(image).sharpness + 1)
    assert check_frame(image, strict).problem_kinds == ("out of focus",)


@pytest.mark.parametrize(
    ("limits", "message"),
    [
        ({"min_mean_level": 200, "max_mean_level": 100}, "min_mean_level < max_mean_level"),
        ({"max_dark_share": 1.5}, "max_dark_share must be a share"),
        ({"max_bright_share": -0.1}, "max_bright_share must be a share"),
    ],
)
def test_bad_limits_are_refused(limits: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        QualityLimits(**limits)
