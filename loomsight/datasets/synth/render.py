"""Render a window of cloth, with its defects, as the light leaving the fabric (before the camera).

Woven cloth: warp yarns (along the roll) and weft yarns (across it) interlace by the weave's repeat
matrix; each yarn is a round, slightly twisted cylinder whose thickness and colour vary along its
length, diving under its neighbours at each interlacing. Knit cloth: columns of V-shaped loops.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from loomsight.datasets.synth.canvas import BoolArray, Canvas, Float32Array, Float64Array, Window
from loomsight.datasets.synth.defects import renderer_for
from loomsight.datasets.synth.defects.base import DefectSpec
from loomsight.datasets.synth.noise import hash_normal, hash_uniform, smooth_noise_2d, yarn_noise
from loomsight.datasets.synth.weave import FabricSpec, WeaveKind


@dataclass(frozen=True)
class RenderedCloth:
    """Linear BGR image in 0..1 and, per rendered defect, the pixels it changed."""

    bgr: Float32Array  # (H, W, 3)
    defects: list[DefectSpec]
    footprints: list[BoolArray]


def render_cloth(spec: FabricSpec, window: Window, defects: Sequence[DefectSpec]) -> RenderedCloth:
    canvas = _geometry(spec, window)
    visible = [d for d in defects if _overlaps(d, window)]
    footprints = [np.zeros(window.shape_hw, dtype=bool) for _ in visible]

    def run(stage: str) -> None:
        for defect, footprint in zip(visible, footprints, strict=True):
            changed = getattr(renderer_for(defect.class_name), stage)(defect, canvas)
            if changed is not None:
                footprint |= changed

    run("displace")
    canvas.index_weave()
    run("remove")
    if spec.weave is WeaveKind.KNIT:
        shade, is_warp, is_weft = _knit_layers(canvas)
    else:
        shade, is_warp, is_weft = _woven_layers(canvas)
    run("recolour")
    bgr = _compose(canvas, shade, is_warp, is_weft)
    run("overlay")
    if canvas.overlay_alpha is not None and canvas.overlay_bgr is not None:
        alpha = canvas.overlay_alpha[..., None]
        bgr = bgr * (1 - alpha) + canvas.overlay_bgr * alpha
    run("shade")
    if canvas.relief is not None:
        bgr = bgr * canvas.relief[..., None]
    kept = [i for i, footprint in enumerate(footprints) if footprint.any()]
    return RenderedCloth(
        bgr=np.clip(bgr, 0.0, 1.0).astype(np.float32),
        defects=[visible[i] for i in kept],
        footprints=[footprints[i] for i in kept],
    )


def _overlaps(defect: DefectSpec, window: Window) -> bool:
    r = defect.extent_radius_px()
    return bool(
        defect.center_x_px + r >= window.x0_px
        and defect.center_x_px - r <= window.x0_px + window.width_px
        and defect.center_y_px + r >= window.y0_px
        and defect.center_y_px - r <= window.y0_px + window.height_px
    )


def _geometry(spec: FabricSpec, window: Window) -> Canvas:
    """Weave coordinates with skew (bias of the weft) and a slow wander of the yarns."""
    height, width = window.shape_hw
    x = (window.x0_px + np.arange(width, dtype=np.float64))[None, :]
    y = (window.y0_px + np.arange(height, dtype=np.float64))[:, None]
    origin = (window.x0_px, window.y0_px)
    wander_cell = 40.0 * spec.warp_pitch_px
    wander_u = (
        0.25
        * spec.warp_pitch_px
        * smooth_noise_2d(spec.seed + 1, origin, (height, width), wander_cell)
    )
    wander_v = (
        0.25
        * spec.weft_pitch_px
        * smooth_noise_2d(spec.seed + 2, origin, (height, width), wander_cell)
    )
    u = x + wander_u
    v = y + spec.skew_rad * x + wander_v
    return Canvas(spec=spec, window=window, x_px=x, y_px=y, u=u, v=v)


def _along_table(
    seed: int, index: np.ndarray, position: Float64Array, cell_px: float
) -> Float32Array:
    """Noise along each yarn, looked up per pixel: yarn `index`, at `position` along it."""
    first, last = int(index.min()), int(index.max())
    start = float(np.floor(position.min()))
    count = int(np.ceil(position.max())) - int(start) + 2
    table = yarn_noise(seed, first, last - first + 1, start, count, cell_px)
    rows = (index - first).astype(np.int32)
    cols = np.clip((position - start).astype(np.int32), 0, count - 1)
    return table[rows, cols]


def _yarn_gain(seed: int, index: np.ndarray, jitter: float) -> Float32Array:
    """Per-yarn brightness: each yarn of a slightly different shade."""
    first, last = int(index.min()), int(index.max())
    lut = 1.0 + jitter * hash_normal(seed, np.arange(first, last + 1))
    return lut[index - first].astype(np.float32)


def _woven_layers(canvas: Canvas) -> tuple[Float32Array, BoolArray, BoolArray]:
    spec = canvas.spec
    f32 = np.float32
    i, j = canvas.warp_index, canvas.weft_index
    fx = (canvas.u / spec.warp_pitch_px - i).astype(f32)
    fy = (canvas.v / spec.weft_pitch_px - j).astype(f32)
    along_cell = 6.0 * max(spec.warp_pitch_px, spec.weft_pitch_px)
    warp_half = f32(spec.warp_cover / 2) * (
        1 + f32(spec.thickness_jitter) * _along_table(spec.seed + 3, i, canvas.v, along_cell)
    )
    weft_half = f32(spec.weft_cover / 2) * (
        1 + f32(spec.thickness_jitter) * _along_table(spec.seed + 4, j, canvas.u, along_cell)
    )
    dx, dy = np.abs(fx - f32(0.5)), np.abs(fy - f32(0.5))
    in_warp = (dx < warp_half) & canvas.warp_present
    in_weft = (dy < weft_half) & canvas.weft_present

    # Interlacing looked up once per pixel through a flat index into the (tiny) repeat matrix;
    # a yarn dives under where the neighbouring cell along it has the other yarn on top.
    pattern = spec.interlacing
    n = pattern.shape[0]
    cell = ((i % n) * n + (j % n)).astype(np.int32)
    warp_top = np.take(pattern.ravel(), cell)
    warp_dives_before = np.take(~np.roll(pattern, 1, axis=1).ravel(), cell)
    warp_dives_after = np.take(~np.roll(pattern, -1, axis=1).ravel(), cell)
    weft_dives_before = np.take(np.roll(pattern, 1, axis=0).ravel(), cell)
    weft_dives_after = np.take(np.roll(pattern, -1, axis=0).ravel(), cell)
    warp_dive = np.where(fy < 0.5, warp_dives_before, warp_dives_after)
    weft_dive = np.where(fx < 0.5, weft_dives_before, weft_dives_after)
    dy4, dx4 = (2 * dy) ** 2, (2 * dx) ** 2
    warp_along = 1 - f32(0.45) * warp_dive * dy4 * dy4
    weft_along = 1 - f32(0.45) * weft_dive * dx4 * dx4

    is_warp = in_warp & (warp_top | ~in_weft)
    is_weft = in_weft & ~is_warp
    under = (is_warp & ~warp_top) | (is_weft & warp_top)

    twist_px = 1.7 * max(spec.warp_pitch_px, spec.weft_pitch_px)  # one turn of the twist
    warp_twist = 1 + f32(spec.twist_contrast) * np.sin(
        _phase(canvas.v, twist_px)
        + f32(1.5 * spec.warp_pitch_px / twist_px * 2 * np.pi) * (fx - f32(0.5))
    )
    weft_twist = 1 + f32(spec.twist_contrast) * np.sin(
        _phase(canvas.u, twist_px)
        + f32(1.5 * spec.weft_pitch_px / twist_px * 2 * np.pi) * (fy - f32(0.5))
    )
    warp_shade = _round_yarn(dx, warp_half) * warp_along * warp_twist
    weft_shade = _round_yarn(dy, weft_half) * weft_along * weft_twist
    warp_shade *= _yarn_gain(spec.seed + 5, i, spec.yarn_colour_jitter)
    weft_shade *= _yarn_gain(spec.seed + 6, j, spec.yarn_colour_jitter)
    shade = np.where(is_warp, warp_shade, weft_shade)
    shade *= np.where(under, f32(0.7), f32(1.0))
    return shade, is_warp, is_weft


def _phase(position: Float64Array, period_px: float) -> Float32Array:
    """2 pi * position / period less whole turns, as float32: exact however far along the roll."""
    whole_turns_px = np.floor(position.flat[0] / period_px) * period_px
    return ((position - whole_turns_px) * (2 * np.pi / period_px)).astype(np.float32)


def _round_yarn(distance: Float32Array, half_width: Float32Array) -> Float32Array:
    """Brightness across a round yarn: 1 on its axis, 0.35 at its edges."""
    ratio = distance / np.maximum(half_width, np.float32(1e-3))
    return np.float32(0.35) + np.float32(0.65) * np.sqrt(np.clip(1 - ratio * ratio, 0, 1))


def _knit_layers(canvas: Canvas) -> tuple[Float32Array, BoolArray, BoolArray]:
    """Single jersey face: every wale (column) a chain of V-shaped loop legs."""
    spec = canvas.spec
    i, j = canvas.warp_index, canvas.weft_index
    fx = (canvas.u / spec.warp_pitch_px - i).astype(np.float32)
    fy = (canvas.v / spec.weft_pitch_px - j).astype(np.float32)
    half = (0.13 + 0.09 * spec.warp_cover) * (
        1
        + spec.thickness_jitter * _along_table(spec.seed + 3, j, canvas.u, 6.0 * spec.warp_pitch_px)
    )
    left = np.abs(fx - (0.06 + 0.42 * fy))
    right = np.abs(fx - (0.94 - 0.42 * fy))
    leg = np.minimum(left, right)
    is_loop = (leg < half) & canvas.warp_present & canvas.weft_present
    # Where a wale has run (missing warp), the sinker loops show as rungs of a ladder.
    rung = (~canvas.warp_present) & canvas.weft_present & (np.abs(fy - 0.5) < 0.12)
    leg_shade = np.sqrt(np.clip(1 - (leg / np.maximum(half, 1e-3)) ** 2, 0, 1))
    side = np.where(left < right, 1.0, 0.85)  # the two legs catch the light differently
    gain = _yarn_gain(spec.seed + 5, j, spec.yarn_colour_jitter)
    shade = np.where(is_loop, (0.3 + 0.7 * leg_shade) * side * gain, 0.55 * gain)
    return shade.astype(np.float32), is_loop, rung


def _compose(
    canvas: Canvas, shade: Float32Array, is_warp: BoolArray, is_weft: BoolArray
) -> Float32Array:
    """Yarn colours times shading, the background through the gaps, fibres and mottling on top."""
    spec = canvas.spec
    warp = np.asarray(spec.warp_bgr, dtype=np.float32)
    weft = np.asarray(spec.weft_bgr, dtype=np.float32)
    # A low-contrast finish or flat lighting hides part of the yarn relief and lightens the gaps.
    yarn_mean = (warp + weft) / 2
    background = yarn_mean + (np.asarray(spec.background_bgr, np.float32) - yarn_mean) * np.float32(
        spec.weave_contrast
    )
    colour = np.where(is_warp[..., None], warp, np.where(is_weft[..., None], weft, background))
    if canvas.colour_gain is not None:
        yarn = (is_warp | is_weft)[..., None]
        colour = np.where(yarn, colour * canvas.colour_gain, colour)
    relief = 1 - spec.weave_contrast * (1 - shade)
    # Where a yarn is missing, the crossing yarns sink into the gap and lie in its shadow.
    relief = np.where(canvas.warp_present & canvas.weft_present, relief, relief * np.float32(0.55))
    lit = np.where((is_warp | is_weft)[..., None], relief[..., None], 1.0)
    # Loose fibres (hairiness): fine fabric-fixed speckle; dyeing unevenness: slow mottling.
    u_px = np.round(canvas.u).astype(np.int64)
    v_px = np.round(canvas.v).astype(np.int64)
    fuzz = 1 + 0.25 * spec.hairiness * (hash_uniform(spec.seed + 7, u_px, v_px) - 0.5)
    origin = (canvas.window.x0_px, canvas.window.y0_px)
    mottle = 1 + 0.05 * smooth_noise_2d(
        spec.seed + 8, origin, canvas.window.shape_hw, 30.0 / spec.mm_per_px
    )
    return (colour * (lit * (fuzz * mottle)[..., None])).astype(np.float32)
