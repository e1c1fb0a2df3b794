"""Where a defect is painted: the weave to follow, the defect's shape, the patch around it.

Shared by the painters (`implant_painters`): coordinates along and across a direction, the yarn
positions found in the patch, and small drawing helpers. Angles are counter-clockwise on screen
from the x axis, as `loomsight.article.weave` measures them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

Float32Array = npt.NDArray[np.float32]

GRAIN_SHARE = 0.6  # painted material gets this share of the frame's fine-scale variation


@dataclass(frozen=True)
class Grid:
    """The weave to paint with: pitches in pixels, yarn angles, and the scale if known."""

    warp_pitch_px: float  # between warp yarns, across the web (x)
    weft_pitch_px: float  # between weft yarns, along the roll (y)
    warp_angle_rad: float  # warp yarns turned from vertical, counter-clockwise on screen
    weft_angle_rad: float  # weft yarns turned from horizontal
    mm_per_px: float | None

    @property
    def pitch_px(self) -> float:
        return float(np.sqrt(self.warp_pitch_px * self.weft_pitch_px))

    def draw_px(
        self, rng: np.random.Generator, mm: tuple[float, float], periods: tuple[float, float]
    ) -> float:
        """A size from the class's real range in mm, or in weave periods if the scale is unknown."""
        if self.mm_per_px:
            return float(rng.uniform(*mm)) / self.mm_per_px
        return float(rng.uniform(*periods)) * self.pitch_px

    def yarn_angle_rad(self, warp: bool) -> float:
        """Direction along a warp (about vertical) or weft (about horizontal) yarn."""
        return self.warp_angle_rad + np.pi / 2 if warp else self.weft_angle_rad


@dataclass(frozen=True)
class Shape:
    """A defect's extent: length along `angle_rad`, width across it, and how far beyond that
    rectangle it may draw (rims, tails, soft edges)."""

    length_px: float
    width_px: float
    angle_rad: float
    pad_px: float
    variant: str = ""
    thickness_px: float = 1.0

    def reach_px(self) -> tuple[float, float]:
        """Half extent (x, y) of everything the defect may change, around its centre."""
        c, s = abs(np.cos(self.angle_rad)), abs(np.sin(self.angle_rad))
        half_x = 0.5 * (self.length_px * c + self.width_px * s)
        half_y = 0.5 * (self.length_px * s + self.width_px * c)
        return half_x + self.pad_px, half_y + self.pad_px


@dataclass(frozen=True)
class Site:
    """Where a defect is painted: the patch, the defect's centre in it, its shape, the weave."""

    patch: Float32Array
    cx: float
    cy: float
    shape: Shape
    grid: Grid
    rng: np.random.Generator

    def axes(self, angle_rad: float) -> tuple[Float32Array, Float32Array]:
        """Per-pixel distance from the centre along direction `angle_rad` and across it."""
        height, width = self.patch.shape[:2]
        x = (np.arange(width, dtype=np.float32) - np.float32(self.cx))[None, :]
        y = (np.arange(height, dtype=np.float32) - np.float32(self.cy))[:, None]
        c, s = np.float32(np.cos(angle_rad)), np.float32(np.sin(angle_rad))
        return (x * c - y * s).astype(np.float32), (x * s + y * c).astype(np.float32)

    @property
    def grey(self) -> Float32Array:
        return np.asarray(self.patch.mean(axis=2), dtype=np.float32)

    def level(self, percentile: float) -> Float32Array:
        """Per-channel level of the patch at a percentile (90: the yarn tops, 10: the gaps)."""
        pixels = self.patch.reshape(-1, self.patch.shape[2])
        return np.asarray(np.percentile(pixels, percentile, axis=0), dtype=np.float32)

    def local_light(self) -> Float32Array:
        """(h, w, 1): the patch's brightness around each pixel over a few yarns, relative to the
        whole patch's: yarn material painted in times this takes on the cloth's print, stripes
        and light fall-off, as the yarns it joins do."""
        sigma = 1.5 * max(self.grid.pitch_px, 2.0)
        blurred = cv2.GaussianBlur(self.grey, (0, 0), sigma)
        mean = max(float(self.grey.mean()), 1.0)
        return np.asarray(np.clip(blurred / mean, 0.2, 2.0)[..., None], dtype=np.float32)

    def cover(self, alpha: Float32Array, colour: npt.NDArray[np.floating[Any]]) -> Float32Array:
        """`colour` ((h, w, c) or (c,)) painted over the patch with opacity `alpha` (h, w), with
        the grain (fine noise and texture) the frame has, so nothing painted looks flat."""
        fine = self.patch - cv2.GaussianBlur(self.patch, (0, 0), 1.0).reshape(self.patch.shape)
        sigma = GRAIN_SHARE * float(fine.std())
        grain = self.rng.normal(0, sigma, self.patch.shape[:2]).astype(np.float32)
        return blend(self.patch, alpha, colour + grain[..., None])

    def yarn_offset(self, across: Float32Array, pitch: float, near: float = 0.0) -> float:
        """Across-position of the yarn centre nearest `near`: where the texture, seen at the
        yarn pitch around the defect's centre, is brightest."""
        grey = self.grey
        x, y = self.axes(0.0)
        weight = np.exp(-(x * x + y * y) / (2 * (4 * pitch) ** 2))
        wave = np.exp(-2j * np.pi * across / pitch)
        phase = float(np.angle(np.sum((grey - grey.mean()) * weight * wave)))
        first = -phase / (2 * np.pi) * pitch  # the sum is A/2 exp(-i * phase of the maximum)
        return first + round((near - first) / pitch) * pitch


Paint = Callable[[Site, float], Float32Array]
Size = Callable[[Grid, np.random.Generator, int], Shape]


@dataclass(frozen=True)
class Painter:
    """One defect class: how big it is drawn, and how it is painted."""

    size: Size  # (grid, rng, shorter frame side) -> shape
    paint: Paint  # (site, strength 0.3..1) -> painted patch
    long: bool = False  # may run out of the frame (yarn faults over a length, creases)


def noise(rng: np.random.Generator, shape_hw: tuple[int, int], cell_px: float) -> Float32Array:
    """Smooth noise, about -1..1, with features about `cell_px` across."""
    height, width = shape_hw
    cells = (max(2, round(height / cell_px) + 2), max(2, round(width / cell_px) + 2))
    coarse = rng.uniform(-1, 1, cells).astype(np.float32)
    return np.asarray(cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC))


def ragged_radius(site: Site, roughness: float) -> Float32Array:
    """Elliptic distance from the centre (1 on the outline) with a ragged, noisy outline."""
    shape = site.shape
    along, across = site.axes(shape.angle_rad)
    rho = np.sqrt((along / (shape.length_px / 2)) ** 2 + (across / (shape.width_px / 2)) ** 2)
    edge = noise(site.rng, site.patch.shape[:2], max(shape.width_px * 0.3, 2.0))
    return np.asarray(rho * (1 + roughness * edge), dtype=np.float32)


def blend(
    patch: Float32Array, alpha: Float32Array, colour: npt.NDArray[np.floating[Any]]
) -> Float32Array:
    """`colour` ((h, w, c) or (c,)) over the patch with opacity `alpha` (h, w)."""
    a = np.clip(alpha, 0, 1)[..., None]
    return (patch * (1 - a) + colour * a).astype(np.float32)


def soften(mask: npt.NDArray[np.floating[Any]], sigma_px: float = 0.6) -> Float32Array:
    """A drawn mask softened like the camera softens the cloth."""
    return np.asarray(cv2.GaussianBlur(mask.astype(np.float32), (0, 0), sigma_px))
