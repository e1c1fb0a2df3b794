"""What a synthetic cloth is made of: the weave, the yarns, the colours, the geometry.

`FabricSpec` is a complete, seeded description of one article. Everything the renderer draws comes
from it and from the window being drawn, so the same spec always gives the same cloth.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import cv2
import numpy as np
import numpy.typing as npt


class WeaveKind(StrEnum):
    PLAIN = "plain"
    TWILL = "twill"
    SATIN = "satin"
    KNIT = "knit"


@dataclass(frozen=True)
class FabricSpec:
    """One article of cloth as seen by one camera. Pitches and widths in pixels at mm_per_px."""

    weave: WeaveKind
    seed: int
    mm_per_px: float
    warp_pitch_px: float  # distance between warp yarns (ends), across the web
    weft_pitch_px: float  # distance between weft yarns (picks), along the web
    warp_cover: float  # yarn width / pitch, 0..1
    weft_cover: float
    warp_bgr: tuple[float, float, float]  # yarn colours in 0..1
    weft_bgr: tuple[float, float, float]
    background_bgr: tuple[float, float, float]  # what shows through the gaps
    yarn_colour_jitter: float  # per-yarn brightness spread (fraction)
    thickness_jitter: float  # along-yarn thickness variation (fraction)
    hairiness: float  # strength of loose fibres, 0..1
    twist_contrast: float  # visible twist stripes on each yarn
    weave_contrast: float  # how strongly the yarn relief shows (lighting angle, finish), 0..1
    skew_rad: float  # weft not square to the warp (bias), radians
    twill_shift: int  # step of twill/satin diagonal
    repeat: int  # size of the weave repeat (twill 3 or 4, satin 5 or 8)
    grayscale: bool

    @property
    def interlacing(self) -> npt.NDArray[np.bool_]:
        """Repeat matrix [warp index % n, weft index % n]: True where the warp lies on top."""
        return interlacing_pattern(self.weave, self.repeat, self.twill_shift)


def interlacing_pattern(weave: WeaveKind, repeat: int, shift: int) -> npt.NDArray[np.bool_]:
    """Warp-over-weft matrix of one weave repeat."""
    i = np.arange(repeat)[:, None]
    j = np.arange(repeat)[None, :]
    if weave is WeaveKind.PLAIN:
        return np.asarray((i + j) % 2 == 0)
    if weave is WeaveKind.TWILL:
        # 2/1, 2/2 or 3/1 twill: the warp floats over the first half of the repeat.
        return np.asarray((i + j) % repeat < max(1, repeat // 2))
    if weave is WeaveKind.SATIN:
        # Warp-faced satin: the weft shows once per repeat, moved by `shift` each end.
        return np.asarray((i * shift - j) % repeat != 0)
    # Knit is not interlaced; the renderer draws loops. A plain matrix keeps callers simple.
    return np.asarray((i + j) % 2 == 0)


def _colour(rng: np.random.Generator, grayscale: bool) -> tuple[float, float, float]:
    if grayscale or rng.random() < 0.45:
        value = float(rng.uniform(0.35, 0.9))
        return (value, value, value)
    hue = rng.uniform(0, 180)
    saturation = rng.uniform(0.15, 0.7)
    value = rng.uniform(0.3, 0.9)
    hsv = np.array([[[hue, saturation * 255, value * 255]]], dtype=np.uint8)
    bgr = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0] / 255.0
    return (float(bgr[0]), float(bgr[1]), float(bgr[2]))


def random_fabric_spec(
    rng: np.random.Generator,
    mm_per_px: float,
    weaves: tuple[WeaveKind, ...] = tuple(WeaveKind),
    grayscale: bool | None = None,
) -> FabricSpec:
    """A plausible article: 12 to 45 yarns per cm, cover 0.6 to 0.95, varied colour and finish."""
    weave = WeaveKind(rng.choice([w.value for w in weaves]))
    gray = bool(rng.random() < 0.6) if grayscale is None else grayscale
    ends_per_cm = rng.uniform(12, 45)
    picks_per_cm = ends_per_cm * rng.uniform(0.7, 1.2)
    warp_pitch_px = max(10.0 / ends_per_cm / mm_per_px, 2.2)
    weft_pitch_px = max(10.0 / picks_per_cm / mm_per_px, 2.2)
    if weave is WeaveKind.KNIT:  # loops are wider than woven yarns
        warp_pitch_px *= 1.6
        weft_pitch_px *= 1.2
    warp = _colour(rng, gray)
    if rng.random() < 0.7:
        weft = tuple(float(np.clip(c * rng.uniform(0.85, 1.1), 0, 1)) for c in warp)
    else:
        weft = _colour(rng, gray)
    # The gaps show the yarns below and whatever is behind the web: darker than the yarns.
    dark = float(np.mean(warp) * rng.uniform(0.15, 0.8))
    if weave is WeaveKind.TWILL:
        repeat = int(rng.choice([3, 4]))
    elif weave is WeaveKind.SATIN:
        repeat = int(rng.choice([5, 8]))
    else:
        repeat = 2
    shift = {5: 2, 8: 3}.get(repeat, 1)
    return FabricSpec(
        weave=weave,
        seed=int(rng.integers(0, 2**31 - 1)),
        mm_per_px=mm_per_px,
        warp_pitch_px=float(warp_pitch_px),
        weft_pitch_px=float(weft_pitch_px),
        warp_cover=float(rng.uniform(0.6, 0.95)),
        weft_cover=float(rng.uniform(0.6, 0.95)),
        warp_bgr=warp,
        weft_bgr=(weft[0], weft[1], weft[2]),
        background_bgr=(dark, dark, dark),
        yarn_colour_jitter=float(rng.uniform(0.02, 0.12)),
        thickness_jitter=float(rng.uniform(0.05, 0.25)),
        hairiness=float(rng.uniform(0.0, 1.0)),
        twist_contrast=float(rng.uniform(0.0, 0.25)),
        weave_contrast=float(rng.uniform(0.25, 1.0)),
        skew_rad=float(rng.normal(0, 0.012)),
        twill_shift=shift,
        repeat=repeat,
        grayscale=gray,
    )
