"""Defects of single yarns: a missing warp (broken end), a missing weft (broken pick), a thick place
(slub) and a knot. Each follows the real yarn it belongs to, skew and wander included."""

from __future__ import annotations

import numpy as np

from loomsight.datasets.synth.canvas import BoolArray, Canvas
from loomsight.datasets.synth.defects.base import (
    DefectRenderer,
    DefectSpec,
    cylinder_shade,
    mm_to_px,
    yarn_colour,
)
from loomsight.datasets.synth.noise import hash_uniform
from loomsight.datasets.synth.weave import FabricSpec


def _yarn_of(defect: DefectSpec, canvas: Canvas, warp: bool) -> int:
    cu, cv = canvas.to_uv(defect.center_x_px, defect.center_y_px)
    pitch = canvas.spec.warp_pitch_px if warp else canvas.spec.weft_pitch_px
    return int(np.floor((cu if warp else cv) / pitch))


def _is_warp_fault(defect: DefectSpec) -> bool:
    """Slubs and knots sit on a warp yarn when their axis is along the roll."""
    return abs(np.sin(defect.angle_rad)) > 0.5


class BrokenEnd(DefectRenderer):
    """A warp yarn missing over a length of the roll (one end, sometimes two side by side)."""

    class_name = "broken_end"

    def sample_size(self, rng: np.random.Generator, spec: FabricSpec) -> tuple[float, float, float]:
        ends = 1 if rng.random() < 0.7 else 2
        return mm_to_px(rng.uniform(10, 80), spec), ends * spec.warp_pitch_px, np.pi / 2

    def remove(self, defect: DefectSpec, canvas: Canvas) -> BoolArray:
        first = _yarn_of(defect, canvas, warp=True)
        ends = max(1, round(defect.width_px / canvas.spec.warp_pitch_px))
        _, cv = canvas.to_uv(defect.center_x_px, defect.center_y_px)
        half = defect.length_px / 2
        missing = (
            (canvas.warp_index >= first)
            & (canvas.warp_index < first + ends)
            & (np.abs(canvas.v - cv) <= half)
        )
        canvas.warp_present &= ~missing
        return missing


class BrokenPick(DefectRenderer):
    """A weft yarn missing over part or all of the width."""

    class_name = "broken_pick"

    def sample_size(self, rng: np.random.Generator, spec: FabricSpec) -> tuple[float, float, float]:
        picks = 1 if rng.random() < 0.75 else 2
        return mm_to_px(rng.uniform(15, 200), spec), picks * spec.weft_pitch_px, 0.0

    def remove(self, defect: DefectSpec, canvas: Canvas) -> BoolArray:
        first = _yarn_of(defect, canvas, warp=False)
        picks = max(1, round(defect.width_px / canvas.spec.weft_pitch_px))
        cu, _ = canvas.to_uv(defect.center_x_px, defect.center_y_px)
        missing = (
            (canvas.weft_index >= first)
            & (canvas.weft_index < first + picks)
            & (np.abs(canvas.u - cu) <= defect.length_px / 2)
        )
        canvas.weft_present &= ~missing
        return missing


class Slub(DefectRenderer):
    """A thick place: the yarn swells to 2-3.5 times its width over a few mm, spindle-shaped."""

    class_name = "slub"
    length_mm = (3.0, 25.0)
    swell = (1.8, 3.5)

    def sample_size(self, rng: np.random.Generator, spec: FabricSpec) -> tuple[float, float, float]:
        warp = rng.random() < 0.5
        pitch = spec.warp_pitch_px if warp else spec.weft_pitch_px
        cover = spec.warp_cover if warp else spec.weft_cover
        width = pitch * cover * rng.uniform(*self.swell)
        return (
            mm_to_px(rng.uniform(*self.length_mm), spec),
            max(width, 2.5),
            np.pi / 2 if warp else 0.0,
        )

    def overlay(self, defect: DefectSpec, canvas: Canvas) -> BoolArray:
        warp = _is_warp_fault(defect)
        spec = canvas.spec
        pitch = spec.warp_pitch_px if warp else spec.weft_pitch_px
        centre = (_yarn_of(defect, canvas, warp) + 0.5) * pitch
        cu, cv = canvas.to_uv(defect.center_x_px, defect.center_y_px)
        across = ((canvas.u - centre) if warp else (canvas.v - centre)).astype(np.float32)
        along = ((canvas.v - cv) if warp else (canvas.u - cu)).astype(np.float32)
        t = np.clip(np.abs(along) / (defect.length_px / 2), 0, 1)
        half = (np.float32(defect.width_px / 2) * self._profile(t, defect)).astype(np.float32)
        body = np.abs(across) < half
        shade = cylinder_shade(np.abs(across), half)
        twist = 1 + 0.12 * np.sin(2 * np.pi * (along + across) / (1.3 * pitch))
        colour = (yarn_colour(canvas, warp) * (0.6 + 0.6 * shade * twist)[..., None]).astype(
            np.float32
        )
        canvas.paint(body.astype(np.float32), colour)
        return body

    def _profile(self, t: np.ndarray, defect: DefectSpec) -> np.ndarray:
        return np.asarray((1 - t**2) ** 1.5)


class Knot(Slub):
    """A knot: a short, lumpy swelling with two fibre tails where the yarn was tied."""

    class_name = "knot"

    def sample_size(self, rng: np.random.Generator, spec: FabricSpec) -> tuple[float, float, float]:
        size_px = mm_to_px(rng.uniform(0.8, 3.0), spec)
        width = max(size_px * rng.uniform(0.6, 0.9), 2.5)
        return max(size_px, width), width, np.pi / 2 if rng.random() < 0.5 else 0.0

    def _profile(self, t: np.ndarray, defect: DefectSpec) -> np.ndarray:
        lumps = 0.8 + 0.25 * hash_uniform(defect.seed, np.round(t * 6).astype(np.int64))
        return np.asarray(np.sqrt(np.clip(1 - t**2, 0, 1)) * lumps)

    def overlay(self, defect: DefectSpec, canvas: Canvas) -> BoolArray:
        body = super().overlay(defect, canvas)
        tails = _fibre_tails(defect, canvas)
        return body | tails


def _fibre_tails(defect: DefectSpec, canvas: Canvas) -> BoolArray:
    """Two short cut yarn ends sticking out of a knot, drawn in pixels.

    They are faint (a shade darker than the yarn, one pixel wide) and reach at most a fifth of the
    knot's length past its body, so the label box, which takes in every drawn pixel, stays about
    the size of the knot that can be seen: tails reaching up to 0.9 of the length past the body
    once stretched knot boxes to nearly twice the visible knot, at random."""
    import cv2

    height, width = canvas.window.shape_hw
    alpha = np.zeros((height, width), dtype=np.float32)
    cx, cy = canvas.to_window(defect.center_x_px, defect.center_y_px)
    rng = np.random.default_rng(defect.seed)
    scale = 8  # fixed-point bits for sub-pixel drawing
    for _ in range(2):
        angle = rng.uniform(0, 2 * np.pi)
        length = defect.length_px * rng.uniform(0.5, 0.7)
        end = (cx + np.cos(angle) * length, cy + np.sin(angle) * length)
        points = np.round(np.array([[cx, cy], end]) * (1 << scale)).astype(np.int32)
        cv2.polylines(alpha, [points], False, 1.0, 1, cv2.LINE_AA, scale)
    colour = yarn_colour(canvas, warp=True) * 0.9
    canvas.paint(alpha * 0.85, (float(colour[0]), float(colour[1]), float(colour[2])))
    return alpha > 0.05
