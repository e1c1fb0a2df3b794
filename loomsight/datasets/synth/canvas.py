"""The state of one render: a window onto the cloth, its weave coordinates and yarn layers.

Coordinates:
- x, y: fabric pixels of the flat cloth, global along the whole roll (y grows along the roll,
  x across it). A window shows x0..x0+width, y0..y0+height.
- u, v: the weave's own coordinates (u across the warp yarns, v along them) after skew, yarn
  wander and any displacement a defect makes. Warp yarn i occupies u in [i, i+1) * warp pitch,
  weft yarn j occupies v in [j, j+1) * weft pitch.

Defects change the canvas in stages (see `defects.base.DefectRenderer`); the renderer turns the
final canvas into an image.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from loomsight.datasets.synth.weave import FabricSpec

Float32Array = npt.NDArray[np.float32]
Float64Array = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int32]


@dataclass(frozen=True)
class Window:
    """The part of the roll one image shows, in global fabric pixels."""

    x0_px: float
    y0_px: float
    width_px: int
    height_px: int

    @property
    def shape_hw(self) -> tuple[int, int]:
        return (self.height_px, self.width_px)


@dataclass
class Canvas:
    spec: FabricSpec
    window: Window
    # Global coordinates are float64: at 0.1 mm/px a float32 row number loses its fraction from
    # about 840 m along the roll, and the cloth would coarsen. Differences are float32 again.
    x_px: Float64Array  # (1, W) global x of each column
    y_px: Float64Array  # (H, 1) global y of each row
    u: Float64Array  # (H, W) weave coordinates
    v: Float64Array
    warp_index: IntArray = field(default_factory=lambda: np.zeros((0, 0), np.int32))
    weft_index: IntArray = field(default_factory=lambda: np.zeros((0, 0), np.int32))
    warp_present: BoolArray = field(default_factory=lambda: np.zeros((0, 0), bool))
    weft_present: BoolArray = field(default_factory=lambda: np.zeros((0, 0), bool))
    colour_gain: Float32Array | None = None  # (H, W, 3) multiplies yarn colour (stains)
    relief: Float32Array | None = None  # (H, W) multiplies brightness (creases)
    overlay_bgr: Float32Array | None = None  # (H, W, 3) painted on top (slubs, fibres)
    overlay_alpha: Float32Array | None = None  # (H, W)

    def index_weave(self) -> None:
        """Yarn indices from u, v; every yarn present until a defect removes it."""
        self.warp_index = np.floor(self.u / self.spec.warp_pitch_px).astype(np.int32)
        self.weft_index = np.floor(self.v / self.spec.weft_pitch_px).astype(np.int32)
        self.warp_present = np.ones(self.window.shape_hw, dtype=bool)
        self.weft_present = np.ones(self.window.shape_hw, dtype=bool)

    def to_uv(self, x_px: float, y_px: float) -> tuple[float, float]:
        """Weave coordinates of a global fabric point (ignoring the small yarn wander)."""
        return x_px, y_px + self.spec.skew_rad * x_px

    def to_window(self, x_px: float, y_px: float) -> tuple[float, float]:
        """Window pixel coordinates of a global fabric point."""
        return x_px - self.window.x0_px, y_px - self.window.y0_px

    def gain(self) -> Float32Array:
        if self.colour_gain is None:
            self.colour_gain = np.ones((*self.window.shape_hw, 3), dtype=np.float32)
        return self.colour_gain

    def relief_map(self) -> Float32Array:
        if self.relief is None:
            self.relief = np.ones(self.window.shape_hw, dtype=np.float32)
        return self.relief

    def paint(self, alpha: Float32Array, bgr: Float32Array | tuple[float, float, float]) -> None:
        """Paint colour `bgr` (per pixel (H, W, 3) or one colour) with opacity `alpha` on top."""
        if self.overlay_bgr is None or self.overlay_alpha is None:
            self.overlay_bgr = np.zeros((*self.window.shape_hw, 3), dtype=np.float32)
            self.overlay_alpha = np.zeros(self.window.shape_hw, dtype=np.float32)
        colour = np.asarray(bgr, dtype=np.float32)
        a = alpha[..., None]
        self.overlay_bgr[:] = self.overlay_bgr * (1 - a) + colour * a
        self.overlay_alpha[:] = self.overlay_alpha + alpha * (1 - self.overlay_alpha)
