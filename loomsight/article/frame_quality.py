"""Is a frame good enough to learn an article from? Focus, exposure and contrast, with reasons.

Frames collected to calibrate the detector for a new article must show the cloth sharply, neither
too dark nor burnt out, and with some texture. `check_frame` measures:

- sharpness: the standard deviation of the Laplacian relative to the mean level, in percent, over
  pixels away from clipped ones (stuck sensor pixels and black corners would otherwise count as
  detail). Invariant to the light level; a weave in focus gives tens, a defocused one a few.
- exposure: the mean level (0..255) and the shares of pixels clipped black (<= 2) and white
  (>= 253).
- contrast: the spread between the 5th and 95th percentile of the unclipped pixels, in grey levels.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from loomsight.article.weave import to_grey

DARK_LEVEL = 2
BRIGHT_LEVEL = 253


@dataclass(frozen=True)
class QualityLimits:
    """What a usable frame needs. Defaults accept real line-camera photos and the synthetic web."""

    min_sharpness: float = 6.0  # real photos >= 15, synthetic web >= 8.5; blurred (sigma 4) < 5
    min_mean_level: float = 20.0
    max_mean_level: float = 245.0
    max_dark_share: float = 0.25  # the black corners of a turned photo stay below 0.1
    max_bright_share: float = 0.10
    min_contrast: float = 6.0  # grey levels; real photos >= 12, synthetic web >= 28

    def __post_init__(self) -> None:
        if not 0 <= self.min_mean_level < self.max_mean_level <= 255:
            raise ValueError(
                "expected 0 <= min_mean_level < max_mean_level <= 255, got "
                f"{self.min_mean_level} and {self.max_mean_level}"
            )
        for name in ("max_dark_share", "max_bright_share"):
            share = getattr(self, name)
            if not 0 <= share <= 1:
                raise ValueError(f"{name} must be a share in 0..1, got {share}")


@dataclass(frozen=True)
class FrameQuality:
    """Measured quality of one frame; `problems` says in words why it is not usable."""

    sharpness: float
    mean_level: float
    dark_share: float
    bright_share: float
    contrast: float
    problem_kinds: tuple[str, ...]  # "out of focus", "overexposed", ...: one per problem
    problems: tuple[str, ...]  # the same, with the numbers: "out of focus: sharpness 3.1 < 4"

    @property
    def usable(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class QualityReport:
    """How many frames of a collection are usable, and what is wrong with the others."""

    frames: int
    usable: int
    problem_counts: tuple[tuple[str, int], ...]  # (kind, frames), commonest first
    qualities: tuple[FrameQuality, ...]

    @property
    def usable_share(self) -> float:
        return self.usable / self.frames if self.frames else 0.0

    def summary(self) -> str:
        """One line, e.g. "18 of 20 frames usable; out of focus: 2, overexposed: 1"."""
        text = f"{self.usable} of {self.frames} frames usable"
        if self.problem_counts:
            text += "; " + ", ".join(f"{kind}: {count}" for kind, count in self.problem_counts)
        return text


def check_frame(image: npt.NDArray[np.uint8], limits: QualityLimits | None = None) -> FrameQuality:
    """Focus, exposure and contrast of a grey or BGR uint8 frame, judged against `limits`."""
    limits = limits or QualityLimits()
    grey = to_grey(image)
    dark = grey <= DARK_LEVEL
    bright = grey >= BRIGHT_LEVEL
    unclipped = ~(dark | bright)
    mean_level = float(grey.mean())
    contrast = 0.0
    if unclipped.sum() >= 16:
        low, high = np.percentile(grey[unclipped], [5, 95])
        contrast = float(high - low)
    sharpness = _sharpness(grey, unclipped)
    found = [
        (
            "out of focus",
            sharpness < limits.min_sharpness,
            f"sharpness {sharpness:.1f} < {limits.min_sharpness:g}",
        ),
        (
            "underexposed",
            mean_level < limits.min_mean_level,
            f"mean level {mean_level:.0f} < {limits.min_mean_level:g}",
        ),
        (
            "overexposed",
            mean_level > limits.max_mean_level,
            f"mean level {mean_level:.0f} > {limits.max_mean_level:g}",
        ),
        (
            "clipped black",
            float(dark.mean()) > limits.max_dark_share,
            f"{dark.mean():.0%} of pixels at black > {limits.max_dark_share:.0%}",
        ),
        (
            "clipped white",
            float(bright.mean()) > limits.max_bright_share,
            f"{bright.mean():.0%} of pixels at white > {limits.max_bright_share:.0%}",
        ),
        (
            "no contrast",
            contrast < limits.min_contrast,
            f"contrast {contrast:.1f} < {limits.min_contrast:g} grey levels",
        ),
    ]
    problems = [(kind, f"{kind}: {detail}") for kind, bad, detail in found if bad]
    return FrameQuality(
        sharpness=sharpness,
        mean_level=mean_level,
        dark_share=float(dark.mean()),
        bright_share=float(bright.mean()),
        contrast=contrast,
        problem_kinds=tuple(kind for kind, _ in problems),
        problems=tuple(text for _, text in problems),
    )


def check_frames(
    images: Iterable[npt.NDArray[np.uint8]], limits: QualityLimits | None = None
) -> QualityReport:
    """Every frame checked, and the counts of usable frames and of each kind of problem."""
    qualities = tuple(check_frame(image, limits) for image in images)
    counts = Counter(kind for quality in qualities for kind in quality.problem_kinds)
    return QualityReport(
        frames=len(qualities),
        usable=sum(quality.usable for quality in qualities),
        problem_counts=tuple(counts.most_common()),
        qualities=qualities,
    )


def _sharpness(grey: npt.NDArray[np.float32], unclipped: npt.NDArray[np.bool_]) -> float:
    """Std of the Laplacian over the mean level, in percent, where no clipped pixel is near."""
    laplacian = cv2.Laplacian(grey, cv2.CV_32F, ksize=3)
    clean = cv2.erode(unclipped.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    if clean.sum() < 16:
        return 0.0
    level = max(float(grey[clean].mean()), 1.0)
    return float(100.0 * laplacian[clean].std() / level)
