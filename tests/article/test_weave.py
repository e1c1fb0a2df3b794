"""Weave measurement: pitches of synthetic cloth whose pitch is known, turned and transposed
frames, noise with no weave, and real line-camera photos."""

from __future__ import annotations

from functools import cache

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from loomsight.article.weave import WeaveMeasure, max_yarn_pitch_px, measure_weave
from loomsight.datasets.synth.moving_web import MovingWeb
from loomsight.datasets.synth.printed import CheckPrint
from loomsight.datasets.synth.weave import FabricSpec, WeaveKind
from tests.conftest import SHARED_DIR

REAL_IMAGES = SHARED_DIR / "datasets" / "textile-defect-rf" / "images"

Image = npt.NDArray[np.uint8]


@cache
def clean_web(
    seed: int,
    weave: WeaveKind = WeaveKind.PLAIN,
    size_wh: tuple[int, int] = (512, 384),
    grayscale: bool | None = None,
) -> tuple[FabricSpec, Image]:
    """A defect-free frame of a synthetic article (0.05 mm/px: every yarn resolved)."""
    web = MovingWeb(
        seed,
        width_px=size_wh[0],
        frame_height_px=size_wh[1],
        mm_per_px=0.05,
        weaves=(weave,),
        defects_per_100m=0,
        grayscale=grayscale,
    )
    image = web.frame_at(0.5).image
    image.flags.writeable = False
    return web.fabric, image


def real_photos(count: int) -> list[Image]:
    """`count` real photos spread over the shared dataset; skips the test where it is absent."""
    if not REAL_IMAGES.is_dir():
        pytest.skip(f"real photos not present at {REAL_IMAGES}")
    paths = sorted(REAL_IMAGES.glob("*.jpg"))
    step = max(len(paths) // count, 1)
    return [np.asarray(cv2.imread(str(path)), dtype=np.uint8) for path in paths[::step][:count]]


def _pitch_errors(measure: WeaveMeasure, fabric: FabricSpec) -> tuple[float, float]:
    def error(measured: float | None, true: float) -> float:
        return np.inf if measured is None else abs(measured / true - 1)

    return (
        error(measure.warp_pitch_px, fabric.warp_pitch_px),
        error(measure.weft_pitch_px, fabric.weft_pitch_px),
    )


def test_pitch_of_synthetic_cloth_within_5_percent() -> None:
    errors: list[float] = []
    for weave in (WeaveKind.PLAIN, WeaveKind.TWILL):
        for seed in range(6):
            fabric, image = clean_web(seed, weave)
            errors.extend(_pitch_errors(measure_weave([image]), fabric))
    within = [e for e in errors if e < 0.05]
    # 24 pitches: a twist stripe or a blurred fine yarn may win now and then, but rarely.
    assert len(within) >= 22, sorted(errors)
    assert float(np.median(errors)) < 0.01


def test_weft_angle_is_the_cloth_skew() -> None:
    fabric, image = clean_web(0)
    measure = measure_weave([image])
    assert measure.weft_angle_deg == pytest.approx(np.degrees(fabric.skew_rad), abs=0.5)
    assert measure.warp_angle_deg == pytest.approx(0.0, abs=0.5)  # the warp runs straight
    assert measure.square
    assert measure.confidence > 0.5


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_transposed_frame_swaps_warp_and_weft(seed: int) -> None:
    _, image = clean_web(seed)
    measure = measure_weave([image])
    turned = measure_weave([np.ascontiguousarray(image.swapaxes(0, 1))])
    assert measure.warp_pitch_px is not None and measure.weft_pitch_px is not None
    assert turned.weft_pitch_px == pytest.approx(measure.warp_pitch_px, rel=0.02)
    assert turned.warp_pitch_px == pytest.approx(measure.weft_pitch_px, rel=0.02)


@pytest.mark.parametrize("angle_deg", [-8.0, 4.0, 10.0])
def test_rotated_frame_gives_the_rotation(angle_deg: float) -> None:
    _, image = clean_web(3, size_wh=(512, 512))
    straight = measure_weave([image])
    matrix = cv2.getRotationMatrix2D((256.0, 256.0), angle_deg, 1.0)
    turned = np.asarray(cv2.warpAffine(image, matrix, (512, 512), flags=cv2.INTER_CUBIC), np.uint8)
    turned = turned[96:416, 96:416]
    measure = measure_weave([turned])
    assert measure.angle_deg - straight.angle_deg == pytest.approx(angle_deg, abs=2.0)
    assert measure.warp_pitch_px == pytest.approx(straight.warp_pitch_px, rel=0.05)


def test_grey_and_bgr_frames_measure_alike() -> None:
    _, image = clean_web(5, grayscale=False)
    assert image.ndim == 3
    grey = np.asarray(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), dtype=np.uint8)
    colour, single = measure_weave([image]), measure_weave([grey])
    assert colour.warp_pitch_px == pytest.approx(single.warp_pitch_px, rel=0.01)
    assert measure_weave([grey[..., None]]).warp_pitch_px == single.warp_pitch_px


def test_frames_of_different_sizes_average_over_the_common_crop() -> None:
    fabric, image = clean_web(1)
    measure = measure_weave([image, image[20:300, 10:400]])
    assert measure.frames == 2
    assert max(_pitch_errors(measure, fabric)) < 0.05


@pytest.mark.parametrize("kind", ["white noise", "smooth noise", "flat"])
def test_no_weave_means_no_period(kind: str) -> None:
    rng = np.random.default_rng(7)
    field: npt.NDArray[np.float64]
    if kind == "white noise":
        field = 128 + 25 * rng.standard_normal((384, 512))
    elif kind == "smooth noise":
        noise = np.asarray(
            cv2.GaussianBlur(rng.standard_normal((384, 512)) * 300, (0, 0), 4), float
        )
        field = 128 + noise
    else:
        field = np.full((384, 512), 90.0)
    measure = measure_weave([np.clip(field, 0, 255).astype(np.uint8)])
    assert measure.warp_pitch_px is None and measure.weft_pitch_px is None
    assert not measure.found
    assert measure.confidence == 0.0


def test_real_photos_mostly_show_a_period() -> None:
    photos = real_photos(20)
    measures = [measure_weave([photo]) for photo in photos]
    assert sum(m.found for m in measures) >= 16
    pitches = [p for m in measures for p in (m.warp_pitch_px, m.weft_pitch_px) if p is not None]
    assert all(2.0 < p < 416 / 4 for p in pitches)


def test_a_printed_check_is_not_taken_for_the_weave_when_the_scale_is_known() -> None:
    # A check repeating every 6 mm is far stronger than the yarns; at 0.1 mm/px its 60 px
    # repeat wins unless the pitch is capped at what a yarn can be.
    web = MovingWeb(7, 832, 416, mm_per_px=0.1, defects_per_100m=0)
    frames = [CheckPrint().apply(web.frame_at(0.5 + 0.05 * k).image, 0.1) for k in range(6)]
    uncapped = measure_weave(frames)
    assert uncapped.warp_pitch_px is not None and uncapped.warp_pitch_px > 50
    capped = measure_weave(frames, max_yarn_pitch_px(0.1))
    assert capped.warp_pitch_px == pytest.approx(web.fabric.warp_pitch_px, rel=0.05)
    assert max_yarn_pitch_px(None) is None
    with pytest.raises(ValueError, match="max_pitch_px"):
        measure_weave(frames, 2.0)


@pytest.mark.parametrize(
    ("frames", "message"),
    [
        ([], "at least one frame"),
        ([np.zeros((64, 64), np.float32)], "uint8"),
        ([np.zeros((64, 64, 4), np.uint8)], "BGR"),
        ([np.zeros((8, 64), np.uint8)], "at least 16x16"),
    ],
)
def test_bad_input_is_refused(frames: list[Image], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        measure_weave(frames)
