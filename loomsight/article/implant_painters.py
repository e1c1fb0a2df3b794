"""How each defect class looks painted onto real cloth: one size and one paint function per class.

A painter gets the site of a defect (the patch of the frame around it, float32 (h, w, channels)
0..255, its shape and the measured weave) and a strength (0.3 faint .. 1 strong), and returns the
painted patch. Yarn faults find the yarns in the patch itself (the phase of the texture at the
measured pitch), so a missing or thick yarn takes the place of a real one. Sizes come from each
class's real range in mm (as the synthetic cloth draws them) when the scale is known, otherwise
from the weave period.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np
import numpy.typing as npt

from loomsight.article.implant_site import (
    Float32Array,
    Grid,
    Painter,
    Shape,
    Site,
    Size,
    blend,
    noise,
    ragged_radius,
    soften,
)


def _yarn_ends(
    site: Site, rho: Float32Array, warp: bool, fray: float
) -> tuple[npt.NDArray[np.bool_], Float32Array]:
    """Where the broken yarns of one family still lie (each breaks at its own radius), and the
    yarn body across them (1 on a yarn's axis, 0 between yarns)."""
    grid = site.grid
    pitch = grid.warp_pitch_px if warp else grid.weft_pitch_px
    _, across = site.axes(grid.yarn_angle_rad(warp))
    offset = (across - np.float32(site.yarn_offset(across, pitch))) / np.float32(pitch)
    index = np.floor(offset + 0.5).astype(np.int64)
    reach = site.rng.random(int(index.max() - index.min()) + 1).astype(np.float32)
    left = np.asarray(rho >= 1 - fray * reach[index - index.min()])
    body = np.clip(np.cos(2 * np.pi * offset), 0, 1).astype(np.float32)
    return left, body


def _hole(site: Site, strength: float) -> Float32Array:
    """Yarns broken over a small area: what is behind the web shows through; broken ends stick
    into the hole and the fluffed rim catches the light."""
    rho = ragged_radius(site, 0.2)
    warp_left, warp_body = _yarn_ends(site, rho, warp=True, fray=0.35)
    weft_left, weft_body = _yarn_ends(site, rho, warp=False, fray=0.35)
    mean = site.level(50)
    if site.rng.random() < 0.85:  # dark behind the web; sometimes a backlight
        behind = mean * np.float32(site.rng.uniform(0.05, 0.35))
    else:
        behind = np.full_like(mean, np.float32(site.rng.uniform(230, 255)))
    behind = mean + (behind - mean) * np.float32(0.55 + 0.45 * strength)
    ends = site.level(92) * np.float32(1.05)
    # A yarn whose crossing yarns are gone lies loose over the hole.
    strand = (warp_left & ~weft_left) * warp_body + (weft_left & ~warp_left) * weft_body
    gone = soften((~warp_left | ~weft_left).astype(np.float32), 0.9)
    colour = behind + (ends - behind) * soften(strand)[..., None]
    painted = site.cover(gone, colour)
    # The fluffed rim catches the light on the side it comes from.
    x, y = site.axes(0.0)
    facing = np.cos(np.arctan2(y, x) - site.rng.uniform(0, 2 * np.pi))
    rim = np.clip(1 - np.abs(rho - 1.1) / 0.2, 0, 1) * (1 - gone) * (0.4 + 0.6 * np.abs(facing))
    brighter = painted * (1 + np.float32(0.04 + 0.1 * strength) * rim[..., None])
    return np.asarray(brighter, dtype=np.float32)


def _stain(site: Site, strength: float) -> Float32Array:
    """Oil, dirt or dye soaked into the yarns: darker or tinted, with a tide line; the weave
    shows through (multiplicative)."""
    rho = ragged_radius(site, 0.25)
    inside = np.clip((1.15 - rho) / 0.3, 0, 1)
    tide = np.exp(-(((rho - 0.95) / 0.08) ** 2)) * np.float32(site.rng.uniform(0, 0.6))
    blotch = 1 + 0.25 * noise(site.rng, site.patch.shape[:2], max(site.shape.width_px / 4, 3.0))
    weight = soften((0.15 + 0.45 * strength) * np.clip(inside * blotch + tide, 0, 1), 1.0)
    channels = site.patch.shape[2]
    if channels == 1 or site.rng.random() < 0.6:
        tint = np.full(channels, site.rng.uniform(0.15, 0.55), dtype=np.float32)
    else:  # dye or rust
        tint = np.asarray(site.rng.uniform(0.2, 0.95, channels), dtype=np.float32)
    gain = 1 - weight[..., None] * (1 - tint)
    return (site.patch * gain).astype(np.float32)


def _missing_yarn(site: Site, strength: float, warp: bool) -> Float32Array:
    """One or two yarns missing over a length: in the gap they leave, the crossing yarns show as
    the rungs of a ladder, sunk and in shadow, with the dark of what is behind between them."""
    grid, shape = site.grid, site.shape
    pitch = grid.warp_pitch_px if warp else grid.weft_pitch_px
    crossing_pitch = grid.weft_pitch_px if warp else grid.warp_pitch_px
    along, across = site.axes(grid.yarn_angle_rad(warp))
    yarns = max(1, round(shape.width_px / pitch))
    centre = site.yarn_offset(across, pitch) + (yarns - 1) * pitch / 2
    band = np.clip(yarns * pitch / 2 + 0.5 - np.abs(across - np.float32(centre)), 0, 1)
    taper = np.clip((shape.length_px / 2 - np.abs(along)) / pitch, 0, 1)
    # The crossing yarns lie across the gap where they lie beside it (their phase along it).
    rung_at = site.yarn_offset(along, crossing_pitch)
    phase = 2 * np.pi * (along - np.float32(rung_at)) / np.float32(crossing_pitch)
    rung = np.sqrt(0.5 + 0.5 * np.cos(phase))
    light = site.local_light()
    behind = site.level(3) * light * np.float32(site.rng.uniform(0.5, 0.9))
    sunk = site.level(80) * light * np.float32(1 - (0.15 + 0.3 * strength))
    colour = behind + (sunk - behind) * rung[..., None]
    return site.cover(soften(band * taper, 0.5) * np.float32(0.6 + 0.4 * strength), colour)


def _thick_yarn(
    site: Site, strength: float, profile: Callable[[Float32Array], Float32Array]
) -> Float32Array:
    """A yarn swollen along its length by `profile` (0..1 of the shape's width at |t| 0..1)."""
    grid, shape = site.grid, site.shape
    warp = abs(np.sin(shape.angle_rad - grid.warp_angle_rad)) > 0.5
    pitch = grid.warp_pitch_px if warp else grid.weft_pitch_px
    along, across = site.axes(shape.angle_rad)
    across = across - np.float32(site.yarn_offset(across, pitch))
    t = np.clip(np.abs(along) / np.float32(shape.length_px / 2), 0, 1)
    half = np.float32(shape.width_px / 2) * profile(t.astype(np.float32)) * (t < 1)
    body = np.clip((half - np.abs(across)) / 0.8 + 0.5, 0, 1) * (half > 0.3)
    shade = np.sqrt(np.clip(1 - (across / np.maximum(half, 1e-3)) ** 2, 0, 1))
    twist = 1 + 0.1 * np.sin(2 * np.pi * (along + across) / (1.3 * pitch))
    yarn = site.level(site.rng.uniform(75, 95)) * np.float32(0.95 + 0.15 * strength)
    colour = yarn * (0.7 + 0.4 * shade * twist)[..., None] * site.local_light()
    return site.cover(soften(body * (0.45 + 0.45 * strength)), colour.astype(np.float32))


def _slub(site: Site, strength: float) -> Float32Array:
    """A thick place: the yarn swells to about twice its width, spindle-shaped."""
    return _thick_yarn(site, strength, lambda t: ((1 - t**2) ** 1.5).astype(np.float32))


def _knot(site: Site, strength: float) -> Float32Array:
    """A compact lump where a yarn was tied, bright or shadowed, with two short cut tails."""
    rho = ragged_radius(site, 0.15)
    body = soften(np.clip((1 - rho) * site.shape.width_px / 2, 0, 1))
    dome = np.sqrt(np.clip(1 - rho**2, 0, 1))[..., None]
    if site.rng.random() < 0.7:  # the yarn's own material, bunched: a little lighter
        colour = site.level(site.rng.uniform(75, 95)) * (0.85 + 0.25 * dome)
    else:
        colour = site.level(50) * (0.3 + 0.35 * dome)
    colour = colour * site.local_light()
    tails = np.zeros(site.patch.shape[:2], dtype=np.float32)
    for _ in range(2):
        angle = site.rng.uniform(0, 2 * np.pi)
        length = site.shape.length_px * site.rng.uniform(0.6, 1.3)
        ends = np.array(
            [
                [site.cx, site.cy],
                [site.cx + np.cos(angle) * length, site.cy - np.sin(angle) * length],
            ]
        )
        points = np.round(ends * 16).astype(np.int32)
        cv2.line(tails, tuple(points[0]), tuple(points[1]), 1.0, 1, cv2.LINE_AA, 4)
    painted = blend(site.patch, tails * 0.8, site.level(90))
    knot = Site(painted, site.cx, site.cy, site.shape, site.grid, site.rng)
    return knot.cover(body * (0.6 + 0.4 * strength), colour.astype(np.float32))


def _foreign_colour(site: Site) -> Float32Array:
    """A colour that does not belong: much darker or much lighter than the cloth around it (either,
    whatever the cloth's own shade: a print's dark and light stripes both carry fibres), or a
    strong hue."""
    channels = site.patch.shape[2]
    level = float(site.level(50).mean())
    if channels == 3 and site.rng.random() < 0.5:
        hsv = np.array([[[site.rng.uniform(0, 180), 220, site.rng.uniform(120, 230)]]], np.uint8)
        return np.asarray(cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0], dtype=np.float32)
    if site.rng.random() < 0.5:
        value = level * site.rng.uniform(0.1, 0.45)
    else:
        value = min(255.0, level * site.rng.uniform(1.6, 2.4) + 30)
    return np.full(channels, value, dtype=np.float32)


def _contamination(site: Site, strength: float) -> Float32Array:
    """A foreign fibre (thin, curling) or a speck, of a colour or brightness the cloth has not."""
    colour = _foreign_colour(site)
    shape = site.shape
    if shape.variant == "speck":
        speck = soften(np.asarray(ragged_radius(site, 0.3) < 1, dtype=np.float32))
        return site.cover(speck * (0.6 + 0.4 * strength), colour)
    steps = max(int(shape.length_px / 2), 4)
    turn = np.cumsum(site.rng.normal(0, 0.15, steps))
    heading = shape.angle_rad + turn - turn.mean()
    xs, ys = np.cumsum(np.cos(heading) * 2), np.cumsum(-np.sin(heading) * 2)
    points = np.stack([xs - xs.mean() + site.cx, ys - ys.mean() + site.cy], axis=1)
    fibre = np.zeros(site.patch.shape[:2], dtype=np.float32)
    thickness = max(1, round(shape.thickness_px))
    cv2.polylines(
        fibre, [np.round(points * 16).astype(np.int32)], False, 1.0, thickness, cv2.LINE_AA, 4
    )
    return site.cover(fibre * (0.45 + 0.5 * strength), colour)


def _crease(site: Site, strength: float) -> Float32Array:
    """A fold pressed into the cloth: a ridge, light on one flank and dark on the other, with the
    weave drawn towards its line."""
    shape = site.shape
    along, across = site.axes(shape.angle_rad)
    half = shape.length_px / 2
    bow = np.float32(site.rng.uniform(-2, 2) * shape.width_px)
    s = (across + bow * (along / np.float32(half)) ** 2) / np.float32(shape.width_px)
    taper = np.clip((half - np.abs(along)) / (0.15 * half + 1), 0, 1)
    bump = (taper * np.clip(1 - (s / 2) ** 2, 0, 1) ** 2).astype(np.float32)
    shift = 0.4 * shape.width_px * s * bump
    normal_x, normal_y = np.sin(shape.angle_rad), np.cos(shape.angle_rad)
    height, width = site.patch.shape[:2]
    map_x = (np.arange(width, dtype=np.float32)[None, :] + shift * np.float32(normal_x)).astype(
        np.float32
    )
    map_y = (np.arange(height, dtype=np.float32)[:, None] + shift * np.float32(normal_y)).astype(
        np.float32
    )
    moved = cv2.remap(site.patch, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    moved = moved.reshape(site.patch.shape)
    ridge = bump * (1.2 * s - 0.4 * np.clip(1 - s * s, 0, 1))
    relief = 1 + np.float32(0.1 + 0.25 * strength) * ridge
    return (moved * relief[..., None]).astype(np.float32)


def _size_hole(grid: Grid, rng: np.random.Generator, side: int) -> Shape:
    diameter = grid.draw_px(rng, (1.0, 8.0), (3.0, 10.0))
    diameter = min(max(diameter, 3 * max(grid.warp_pitch_px, grid.weft_pitch_px), 6.0), 0.4 * side)
    return Shape(
        diameter, diameter * rng.uniform(0.6, 1.0), rng.uniform(0, np.pi), 0.35 * diameter + 2
    )


def _size_stain(grid: Grid, rng: np.random.Generator, side: int) -> Shape:
    size = min(max(grid.draw_px(rng, (3.0, 25.0), (6.0, 30.0)), 8.0), 0.45 * side)
    return Shape(size, size * rng.uniform(0.4, 1.0), rng.uniform(0, np.pi), 0.25 * size + 3)


def _size_yarn_gap(warp: bool) -> Size:
    def size(grid: Grid, rng: np.random.Generator, side: int) -> Shape:
        mm, periods = ((10.0, 80.0), (15.0, 60.0)) if warp else ((15.0, 200.0), (20.0, 100.0))
        yarns = 1 if rng.random() < 0.7 else 2
        pitch = grid.warp_pitch_px if warp else grid.weft_pitch_px
        length = max(grid.draw_px(rng, mm, periods), 8 * pitch)
        return Shape(length, yarns * pitch, grid.yarn_angle_rad(warp), pitch + 2)

    return size


def _size_slub(grid: Grid, rng: np.random.Generator, side: int) -> Shape:
    warp = bool(rng.random() < 0.5)
    pitch = grid.warp_pitch_px if warp else grid.weft_pitch_px
    length = min(max(grid.draw_px(rng, (3.0, 25.0), (5.0, 15.0)), 4 * pitch), 0.45 * side)
    return Shape(length, max(pitch * rng.uniform(1.4, 2.6), 3.0), grid.yarn_angle_rad(warp), 2.0)


def _size_knot(grid: Grid, rng: np.random.Generator, side: int) -> Shape:
    size = min(max(grid.draw_px(rng, (0.8, 3.0), (2.0, 4.0)), 5.0), 0.2 * side)
    warp = bool(rng.random() < 0.5)
    return Shape(size, size * rng.uniform(0.6, 0.9), grid.yarn_angle_rad(warp), 1.4 * size + 2)


def _size_contamination(grid: Grid, rng: np.random.Generator, side: int) -> Shape:
    if rng.random() < 0.35:
        speck = max(grid.draw_px(rng, (0.3, 1.5), (1.0, 2.5)), 4.0)
        return Shape(speck, speck * rng.uniform(0.5, 1.0), rng.uniform(0, np.pi), 3.0, "speck")
    length = min(max(grid.draw_px(rng, (3.0, 30.0), (8.0, 40.0)), 12.0), 0.45 * side)
    thickness = min(grid.draw_px(rng, (0.08, 0.3), (0.1, 0.25)), 3.0)
    return Shape(length, 0.35 * length, rng.uniform(0, np.pi), 0.2 * length + 2, "fibre", thickness)


def _size_crease(grid: Grid, rng: np.random.Generator, side: int) -> Shape:
    length = max(grid.draw_px(rng, (20.0, 150.0), (40.0, 150.0)), 0.3 * side)
    width = max(grid.draw_px(rng, (0.8, 4.0), (1.5, 5.0)), 3.0)
    angle = np.pi / 2 + rng.normal(0, 0.35) if rng.random() < 0.6 else rng.uniform(0, np.pi)
    return Shape(length, width, float(angle), 4 * width + 2)  # the ridge's flanks and its bow


PAINTERS: dict[str, Painter] = {
    "hole": Painter(_size_hole, _hole),
    "stain": Painter(_size_stain, _stain),
    "broken_end": Painter(
        _size_yarn_gap(warp=True), lambda s, k: _missing_yarn(s, k, warp=True), long=True
    ),
    "broken_pick": Painter(
        _size_yarn_gap(warp=False), lambda s, k: _missing_yarn(s, k, warp=False), long=True
    ),
    "slub": Painter(_size_slub, _slub),
    "knot": Painter(_size_knot, _knot),
    "contamination": Painter(_size_contamination, _contamination),
    "crease": Painter(_size_crease, _crease, long=True),
}
