"""Yarn wound on a dark board, as used for yarn appearance grading (ASTM D2255).

Parallel strands of one yarn cross the board; the yarn's thickness wanders, its twist shows as fine
stripes, loose fibres stick out. Faults change a strand itself: a slub and a thick place swell it, a
thin place narrows it, a nep is a small ball of entangled fibres on it, a foreign fibre is a fibre
of another colour caught in it.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from loomsight.datasets.synth.camera import expose, random_camera_spec
from loomsight.datasets.synth.canvas import BoolArray, Float32Array
from loomsight.datasets.synth.defects.base import DefectSpec
from loomsight.datasets.synth.fabric_image import SynthImage, labels_from_footprints
from loomsight.datasets.synth.noise import yarn_noise

YARN_CLASSES: tuple[str, ...] = ("slub", "nep", "thick_place", "thin_place", "foreign_fibre")

# Length along the strand in mm and the strand's width factor, per fault.
_SIZES_MM: dict[str, tuple[tuple[float, float], tuple[float, float]]] = {
    "slub": ((5.0, 25.0), (2.0, 3.2)),
    "thick_place": ((3.0, 10.0), (1.4, 1.8)),
    "thin_place": ((3.0, 10.0), (0.35, 0.6)),
    "nep": ((0.4, 1.2), (2.5, 4.0)),
    "foreign_fibre": ((2.0, 12.0), (1.0, 1.0)),
}


def make_yarn_board_image(
    rng: np.random.Generator,
    size_wh: tuple[int, int],
    mm_per_px: float,
    classes: Sequence[str] = YARN_CLASSES,
    defect_free_share: float = 0.2,
    max_defects: int = 3,
    grayscale: bool | None = None,
) -> SynthImage:
    width, height = size_wh
    gray = bool(rng.random() < 0.6) if grayscale is None else grayscale
    seed = int(rng.integers(0, 2**31 - 1))
    spacing_px = max(10.0 / rng.uniform(6, 16) / mm_per_px, 4.0)  # wraps per cm on the board
    yarn_px = max(rng.uniform(0.15, 0.45) / mm_per_px, 1.5)
    yarn_px = min(yarn_px, 0.55 * spacing_px)
    slant = float(rng.normal(0, 0.01))
    colour = np.array([rng.uniform(0.6, 0.95)] * 3, dtype=np.float32)
    if not gray and rng.random() < 0.5:
        colour = (colour * rng.uniform(0.7, 1.0, size=3)).astype(np.float32)
    board = np.float32(rng.uniform(0.02, 0.1))

    y = np.arange(height, dtype=np.float32)[:, None]
    x = np.arange(width, dtype=np.float32)[None, :]
    straight = y - slant * x
    strand = np.round(straight / spacing_px).astype(np.int64)
    across = straight - strand * spacing_px
    first = int(strand.min())
    count = int(strand.max()) - first + 1
    irregularity = rng.uniform(0.05, 0.2)
    along = yarn_noise(seed, first, count, 0.0, width, cell_px=3.0 / mm_per_px)
    half = (yarn_px / 2) * (1 + irregularity * along)  # (strands, width)

    planted: list[DefectSpec] = []
    n_faults = 0 if rng.random() < defect_free_share else int(rng.integers(1, max_defects + 1))
    for _ in range(n_faults * 6):
        if len(planted) == n_faults:
            break
        class_name = str(rng.choice(list(classes)))
        (l_lo, l_hi), (f_lo, f_hi) = _SIZES_MM[class_name]
        length = min(max(rng.uniform(l_lo, l_hi) / mm_per_px, 3.0), 0.8 * width)
        k = int(rng.integers(first + 1, first + count - 1))
        cx = float(rng.uniform(length / 2 + 2, width - length / 2 - 2))
        defect = DefectSpec(
            class_name,
            cx,
            k * spacing_px,
            length,
            float(rng.uniform(f_lo, f_hi)),
            0.0,
            int(rng.integers(0, 2**31 - 1)),
        )
        if all(
            abs(d.center_y_px - defect.center_y_px) > spacing_px
            or abs(d.center_x_px - cx) > length + d.length_px
            for d in planted
        ):
            planted.append(defect)

    normal_half = half.copy()
    fibre_alpha = np.zeros((height, width), dtype=np.float32)
    footprints: list[BoolArray] = []
    for defect in planted:
        row = round(defect.center_y_px / spacing_px) - first
        t = np.clip(np.abs(np.arange(width) - defect.center_x_px) / (defect.length_px / 2), 0, 1)
        if defect.class_name == "foreign_fibre":
            footprints.append(_draw_fibre(defect, slant, fibre_alpha))
            continue
        swell = 1 + (defect.width_px - 1) * (1 - t**2) ** (
            1.5 if defect.class_name == "slub" else 0.7
        )
        half[row] = half[row] * swell.astype(np.float32)
        changed_x = np.abs(swell - 1) > 0.08
        reach = np.maximum(half[row], normal_half[row])
        footprints.append(
            (strand - first == row) & (np.abs(across) <= reach[None, :] + 0.5) & changed_x[None, :]
        )

    strand_half = half[strand - first, np.broadcast_to(np.arange(width), strand.shape)]
    inside = np.abs(across) < strand_half
    shade = np.sqrt(np.clip(1 - (across / np.maximum(strand_half, 0.3)) ** 2, 0, 1))
    twist = 1 + 0.15 * np.sin(2 * np.pi * (x + 1.2 * across) / (1.6 * yarn_px + 1))
    bgr = np.where(inside[..., None], colour * (0.35 + 0.65 * shade * twist)[..., None], board)
    hair = _hairs(rng, strand, spacing_px, width, height, slant)
    bgr = bgr * (1 - hair[..., None]) + colour * 0.8 * hair[..., None]
    fibre_colour = (
        np.array([0.1, 0.1, 0.1], np.float32)
        if gray
        else rng.uniform(0.05, 0.9, 3).astype(np.float32)
    )
    bgr = bgr * (1 - fibre_alpha[..., None]) + fibre_colour * fibre_alpha[..., None]

    camera = random_camera_spec(rng, gray)
    image = expose(bgr.astype(np.float32), camera, frame_seed=0)
    labels = labels_from_footprints(
        planted, footprints, list(classes), size_wh, pad_px=1 + camera.blur_sigma_px
    )
    return SynthImage(image, labels, planted, None, camera)


def _draw_fibre(defect: DefectSpec, slant: float, alpha: Float32Array) -> BoolArray:
    """A dark or coloured fibre lying along the strand, slightly curved."""
    rng = np.random.default_rng(defect.seed)
    steps = max(int(defect.length_px / 2), 3)
    heading = slant + np.cumsum(rng.normal(0, 0.1, steps))
    xs = np.cumsum(np.cos(heading) * 2)
    ys = np.cumsum(np.sin(heading) * 2)
    points = np.stack(
        [xs - xs.mean() + defect.center_x_px, ys - ys.mean() + defect.center_y_px], axis=1
    )
    layer = np.zeros_like(alpha)
    cv2.polylines(layer, [np.round(points * 16).astype(np.int32)], False, 1.0, 1, cv2.LINE_AA, 4)
    alpha[:] = np.maximum(alpha, layer * 0.95)
    return layer > 0.05


def _hairs(
    rng: np.random.Generator,
    strand: np.ndarray,
    spacing_px: float,
    width: int,
    height: int,
    slant: float,
) -> Float32Array:
    """Loose fibres: short faint curves leaving the strands."""
    layer = np.zeros((height, width), dtype=np.float32)
    n = int(width * height / 400 * rng.uniform(0.2, 1.0))
    rows = rng.integers(int(strand.min()), int(strand.max()) + 1, n)
    xs = rng.uniform(0, width, n)
    for k, x0 in zip(rows, xs, strict=True):
        y0 = k * spacing_px + slant * x0
        angle = rng.uniform(0, 2 * np.pi)
        length = rng.uniform(2, 0.8 * spacing_px)
        end = (x0 + np.cos(angle) * length, y0 + np.sin(angle) * length)
        start_fixed = (round(x0 * 16), round(y0 * 16))
        end_fixed = (round(end[0] * 16), round(end[1] * 16))
        cv2.line(layer, start_fixed, end_fixed, 0.35, 1, cv2.LINE_AA, 4)
    return layer
