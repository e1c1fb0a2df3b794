"""Defects of the cloth surface: holes, stains, foreign fibres (contamination) and creases."""

from __future__ import annotations

import cv2
import numpy as np

from loomsight.datasets.synth.canvas import BoolArray, Canvas, Float32Array
from loomsight.datasets.synth.defects.base import (
    DefectRenderer,
    DefectSpec,
    along_across,
    mm_to_px,
)
from loomsight.datasets.synth.noise import hash_uniform, smooth_noise_2d
from loomsight.datasets.synth.weave import FabricSpec


def _ragged_radius(defect: DefectSpec, canvas: Canvas) -> Float32Array:
    """Normalised elliptic distance from the defect centre, with a ragged, noisy outline."""
    along, across = along_across(defect, canvas)
    a, b = defect.length_px / 2, defect.width_px / 2
    rho = np.sqrt((along / a) ** 2 + (across / b) ** 2)
    origin = (canvas.window.x0_px, canvas.window.y0_px)
    edge = smooth_noise_2d(defect.seed, origin, canvas.window.shape_hw, max(b * 0.6, 2.0))
    return (rho * (1 + 0.18 * edge)).astype(np.float32)


class Hole(DefectRenderer):
    """Yarns broken over a small area: the background shows, the yarn ends are frayed, and the
    yarns around are pushed aside."""

    class_name = "hole"

    def sample_size(self, rng: np.random.Generator, spec: FabricSpec) -> tuple[float, float, float]:
        diameter = mm_to_px(rng.uniform(1.0, 8.0), spec)
        diameter = max(diameter, 3 * max(spec.warp_pitch_px, spec.weft_pitch_px))
        return diameter, diameter * rng.uniform(0.6, 1.0), rng.uniform(0, np.pi)

    def displace(self, defect: DefectSpec, canvas: Canvas) -> BoolArray:
        cu, cv = canvas.to_uv(defect.center_x_px, defect.center_y_px)
        du, dv = (canvas.u - cu).astype(np.float32), (canvas.v - cv).astype(np.float32)
        radius = np.float32(max(defect.length_px, defect.width_px) / 2)
        distance = np.sqrt(du * du + dv * dv) + np.float32(1e-3)
        # A bump that peaks at the rim and is exactly zero beyond twice the radius.
        ring = np.clip(1 - ((distance - radius) / radius) ** 2, 0, 1) ** 2
        push = (0.35 * radius * ring).astype(np.float32)
        canvas.u -= push * du / distance
        canvas.v -= push * dv / distance
        return push > 1e-3

    def remove(self, defect: DefectSpec, canvas: Canvas) -> BoolArray:
        rho = _ragged_radius(defect, canvas)
        fray_warp = hash_uniform(defect.seed, canvas.warp_index)
        fray_weft = hash_uniform(defect.seed + 1, canvas.weft_index)
        warp_gone = rho < 1.0 - 0.35 * fray_warp
        weft_gone = rho < 1.0 - 0.35 * fray_weft
        canvas.warp_present &= ~warp_gone
        canvas.weft_present &= ~weft_gone
        return warp_gone | weft_gone

    def overlay(self, defect: DefectSpec, canvas: Canvas) -> BoolArray:
        """Through the hole: what is behind the web, dark (or bright with a backlight)."""
        through = (
            ~canvas.warp_present & ~canvas.weft_present & (_ragged_radius(defect, canvas) < 1.1)
        )
        rng = np.random.default_rng(defect.seed)
        value = rng.uniform(0.02, 0.15) if rng.random() < 0.85 else rng.uniform(0.9, 1.0)
        canvas.paint(through.astype(np.float32) * 0.95, (value, value, value))
        return through


class Stain(DefectRenderer):
    """Oil, dirt or dye absorbed by the yarns: darker or tinted, with a tide line at its edge; the
    weave stays visible through it."""

    class_name = "stain"

    def sample_size(self, rng: np.random.Generator, spec: FabricSpec) -> tuple[float, float, float]:
        size = mm_to_px(rng.uniform(3.0, 25.0), spec)
        return size, size * rng.uniform(0.4, 1.0), rng.uniform(0, np.pi)

    def recolour(self, defect: DefectSpec, canvas: Canvas) -> BoolArray:
        rho = _ragged_radius(defect, canvas)
        inside = np.clip((1.15 - rho) / 0.3, 0, 1)
        tide = np.exp(-(((rho - 0.95) / 0.08) ** 2))
        rng = np.random.default_rng(defect.seed)
        strength = rng.uniform(0.25, 0.6)
        if canvas.spec.grayscale or rng.random() < 0.6:
            tint = np.full(3, rng.uniform(0.15, 0.5), dtype=np.float32)  # oil, dirt: darker
        else:
            tint = rng.uniform(0.2, 0.9, size=3).astype(np.float32)  # dye or rust
        weight = (strength * np.clip(inside + 0.5 * tide, 0, 1)).astype(np.float32)
        gain = canvas.gain()
        gain *= 1 - weight[..., None] * (1 - tint)
        return weight > 0.005


class Contamination(DefectRenderer):
    """A foreign fibre: a thin fibre of another colour lying on the cloth or woven into it."""

    class_name = "contamination"

    def sample_size(self, rng: np.random.Generator, spec: FabricSpec) -> tuple[float, float, float]:
        return (
            mm_to_px(rng.uniform(3.0, 30.0), spec),
            max(mm_to_px(rng.uniform(0.08, 0.3), spec), 1.0),
            rng.uniform(0, np.pi),
        )

    def overlay(self, defect: DefectSpec, canvas: Canvas) -> BoolArray:
        rng = np.random.default_rng(defect.seed)
        colour = self._colour(rng, canvas)
        # A smoothly curving fibre: a random walk of the heading, centred on the defect.
        steps = max(int(defect.length_px / 2), 4)
        turn = np.cumsum(rng.normal(0, 0.12, steps))
        heading = defect.angle_rad + turn - turn.mean()
        dx, dy = np.cos(heading) * 2, np.sin(heading) * 2
        xs, ys = np.cumsum(dx), np.cumsum(dy)
        cx, cy = canvas.to_window(defect.center_x_px, defect.center_y_px)
        points = np.stack([xs - xs.mean() + cx, ys - ys.mean() + cy], axis=1)
        alpha = np.zeros(canvas.window.shape_hw, dtype=np.float32)
        scale = 4
        thickness = max(1, round(defect.width_px))
        fixed = np.round(points * (1 << scale)).astype(np.int32)
        cv2.polylines(alpha, [fixed], False, 1.0, thickness, cv2.LINE_AA, scale)
        canvas.paint(alpha * 0.9, colour)
        return alpha > 0.05

    def _colour(self, rng: np.random.Generator, canvas: Canvas) -> tuple[float, float, float]:
        mean = float(np.mean(canvas.spec.warp_bgr))
        if canvas.spec.grayscale or rng.random() < 0.5:
            value = rng.uniform(0.02, 0.2) if mean > 0.4 else rng.uniform(0.75, 0.98)
            return (value, value, value)
        hue = rng.uniform(0, 180)
        hsv = np.array([[[hue, 230, rng.uniform(120, 230)]]], dtype=np.uint8)
        b, g, r = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0] / 255.0
        return (float(b), float(g), float(r))


class Crease(DefectRenderer):
    """A fold pressed into the cloth: a ridge, light on one flank and dark on the other, with the
    weave compressed towards its line."""

    class_name = "crease"

    def sample_size(self, rng: np.random.Generator, spec: FabricSpec) -> tuple[float, float, float]:
        angle = np.pi / 2 + rng.normal(0, 0.35) if rng.random() < 0.6 else rng.uniform(0, np.pi)
        return mm_to_px(rng.uniform(20, 150), spec), mm_to_px(rng.uniform(0.8, 4.0), spec), angle

    def _field(self, defect: DefectSpec, canvas: Canvas) -> tuple[Float32Array, Float32Array]:
        """Across-distance in crease widths; a bump, zero beyond 2 widths and past the ends."""
        along, across = along_across(defect, canvas)
        half = defect.length_px / 2
        taper = np.clip((half - np.abs(along)) / (0.15 * half + 1), 0, 1)
        s = (across / np.float32(defect.width_px)).astype(np.float32)
        bump = taper * np.clip(1 - (s / 2) ** 2, 0, 1) ** 2
        return s, bump.astype(np.float32)

    def displace(self, defect: DefectSpec, canvas: Canvas) -> BoolArray:
        s, bump = self._field(defect, canvas)
        shift = 0.4 * defect.width_px * s * bump
        normal_u, normal_v = -np.sin(defect.angle_rad), np.cos(defect.angle_rad)
        canvas.u -= shift * normal_u
        canvas.v -= shift * normal_v
        return bump > 1e-3

    def shade(self, defect: DefectSpec, canvas: Canvas) -> BoolArray:
        s, bump = self._field(defect, canvas)
        strength = np.random.default_rng(defect.seed).uniform(0.15, 0.4)
        ridge = bump * (1.2 * s - 0.4 * np.clip(1 - s * s, 0, 1))  # light flank, dark flank, fold
        canvas.relief_map()[:] *= 1 + (strength * ridge).astype(np.float32)
        return bump > 1e-3
