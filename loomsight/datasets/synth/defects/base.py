"""What a planted defect is, and the stages at which a defect can change the cloth.

A defect lives on the roll in global fabric pixels, so the same defect appears in every frame of
the moving web that overlaps it. Its renderer changes the weave itself (displaced or missing yarns,
thicker yarns, dyed yarns, a folded surface), and reports which pixels it changed: the label box is
the bounding box of those pixels, so no box is empty and nothing drawn is unlabelled.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from loomsight.datasets.synth.canvas import BoolArray, Canvas, Float32Array
from loomsight.datasets.synth.weave import FabricSpec


@dataclass(frozen=True)
class DefectSpec:
    """One planted defect. Position in global fabric pixels; sizes in pixels at the spec's scale."""

    class_name: str
    center_x_px: float
    center_y_px: float
    length_px: float  # along the defect's main axis
    width_px: float
    angle_rad: float  # main axis from the x axis (pi/2 = along the roll)
    seed: int

    def extent_radius_px(self) -> float:
        """Radius that surely holds everything the defect draws (for culling and placement)."""
        return 0.5 * float(np.hypot(self.length_px, self.width_px)) + 6.0 * self.width_px + 4.0


class DefectRenderer:
    """Base of one defect class. Each stage hook returns the pixels it changed, or None."""

    class_name: str = ""

    def sample_size(self, rng: np.random.Generator, spec: FabricSpec) -> tuple[float, float, float]:
        """(length_px, width_px, angle_rad) drawn from the class's real size range in mm."""
        raise NotImplementedError

    def displace(self, defect: DefectSpec, canvas: Canvas) -> BoolArray | None:
        """Move yarns (before yarn indices are taken)."""
        return None

    def remove(self, defect: DefectSpec, canvas: Canvas) -> BoolArray | None:
        """Take yarns away (warp_present / weft_present)."""
        return None

    def recolour(self, defect: DefectSpec, canvas: Canvas) -> BoolArray | None:
        """Change the colour of the yarns (colour_gain)."""
        return None

    def overlay(self, defect: DefectSpec, canvas: Canvas) -> BoolArray | None:
        """Paint material on top (thick yarn, knots, fibres)."""
        return None

    def shade(self, defect: DefectSpec, canvas: Canvas) -> BoolArray | None:
        """Change the surface relief (relief)."""
        return None


def mm_to_px(mm: float, spec: FabricSpec) -> float:
    return mm / spec.mm_per_px


def along_across(
    defect: DefectSpec, canvas: Canvas
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """Per-pixel distance along and across the defect's main axis, in weave pixels."""
    cu, cv = canvas.to_uv(defect.center_x_px, defect.center_y_px)
    du = (canvas.u - cu).astype(np.float32)
    dv = (canvas.v - cv).astype(np.float32)
    cos_a, sin_a = np.float32(np.cos(defect.angle_rad)), np.float32(np.sin(defect.angle_rad))
    along = du * cos_a + dv * sin_a
    across = -du * sin_a + dv * cos_a
    return along, across


def yarn_colour(canvas: Canvas, warp: bool) -> Float32Array:
    spec = canvas.spec
    return np.asarray(spec.warp_bgr if warp else spec.weft_bgr, dtype=np.float32)


def cylinder_shade(distance: Float32Array, half_width: Float32Array | float) -> Float32Array:
    """Brightness across a round yarn: 1 on its axis, falling to 0 at its edge."""
    ratio = np.clip(distance / np.maximum(half_width, 1e-3), 0.0, 1.0)
    return np.sqrt(1.0 - ratio * ratio).astype(np.float32)
