"""One labelled synthetic fabric image: a random article, camera and defects, rendered and boxed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from loomsight.datasets.labels import ImageLabels
from loomsight.datasets.synth.camera import CameraSpec, expose, random_camera_spec
from loomsight.datasets.synth.canvas import BoolArray, Window
from loomsight.datasets.synth.defects import FABRIC_CLASSES, DefectSpec, renderer_for
from loomsight.datasets.synth.render import render_cloth
from loomsight.datasets.synth.weave import FabricSpec, WeaveKind, random_fabric_spec

MIN_BOX_SIDE_PX = 4.0
LONG_DEFECTS = frozenset({"broken_end", "broken_pick", "crease"})


@dataclass(frozen=True)
class SynthImage:
    """A rendered image (uint8, BGR or grey), its labels, and what was planted."""

    image: npt.NDArray[np.uint8]
    labels: ImageLabels
    defects: list[DefectSpec]
    fabric: FabricSpec | None  # None for yarn boards
    camera: CameraSpec


def footprint_box(footprint: BoolArray, pad_px: float) -> tuple[float, float, float, float]:
    """Pixel-edge box around the True pixels, padded, at least MIN_BOX_SIDE_PX, clipped."""
    height, width = footprint.shape
    cols = np.flatnonzero(footprint.any(axis=0))
    rows = np.flatnonzero(footprint.any(axis=1))
    x1, x2 = cols[0] - pad_px, cols[-1] + 1 + pad_px
    y1, y2 = rows[0] - pad_px, rows[-1] + 1 + pad_px
    grow_x = max(0.0, MIN_BOX_SIDE_PX - (x2 - x1)) / 2
    grow_y = max(0.0, MIN_BOX_SIDE_PX - (y2 - y1)) / 2
    return (
        float(max(0.0, x1 - grow_x)),
        float(max(0.0, y1 - grow_y)),
        float(min(width, x2 + grow_x)),
        float(min(height, y2 + grow_y)),
    )


def labels_from_footprints(
    defects: Sequence[DefectSpec],
    footprints: Sequence[BoolArray],
    class_names: Sequence[str],
    resolution_wh: tuple[int, int],
    pad_px: float,
) -> ImageLabels:
    boxes = [footprint_box(f, pad_px) for f in footprints]
    ids = [class_names.index(d.class_name) for d in defects]
    return ImageLabels(np.array(boxes).reshape(-1, 4), np.array(ids, dtype=np.int64), resolution_wh)


def place_defects(
    rng: np.random.Generator,
    spec: FabricSpec,
    window: Window,
    classes: Sequence[str],
    count: int,
) -> list[DefectSpec]:
    """Up to `count` defects inside the window, apart from each other."""
    placed: list[DefectSpec] = []
    for _ in range(count * 8):
        if len(placed) == count:
            break
        class_name = str(rng.choice(list(classes)))
        length, width, angle = renderer_for(class_name).sample_size(rng, spec)
        if class_name in LONG_DEFECTS:
            margin_x, margin_y = 0.1 * window.width_px, 0.1 * window.height_px
        else:
            reach = 0.5 * max(length, width)
            margin_x = min(reach, 0.4 * window.width_px)
            margin_y = min(reach, 0.4 * window.height_px)
        candidate = DefectSpec(
            class_name=class_name,
            center_x_px=window.x0_px + float(rng.uniform(margin_x, window.width_px - margin_x)),
            center_y_px=window.y0_px + float(rng.uniform(margin_y, window.height_px - margin_y)),
            length_px=float(length),
            width_px=float(width),
            angle_rad=float(angle),
            seed=int(rng.integers(0, 2**31 - 1)),
        )
        if all(_apart(candidate, other) for other in placed):
            placed.append(candidate)
    return placed


def _apart(a: DefectSpec, b: DefectSpec) -> bool:
    distance = float(np.hypot(a.center_x_px - b.center_x_px, a.center_y_px - b.center_y_px))
    reach_a = (
        0.5 * max(a.length_px, a.width_px) if a.class_name not in LONG_DEFECTS else a.width_px * 4
    )
    reach_b = (
        0.5 * max(b.length_px, b.width_px) if b.class_name not in LONG_DEFECTS else b.width_px * 4
    )
    return distance > reach_a + reach_b + 8


def make_fabric_image(
    rng: np.random.Generator,
    size_wh: tuple[int, int],
    mm_per_px: float,
    classes: Sequence[str] = FABRIC_CLASSES,
    weaves: tuple[WeaveKind, ...] = tuple(WeaveKind),
    defect_free_share: float = 0.2,
    max_defects: int = 3,
    grayscale: bool | None = None,
) -> SynthImage:
    """A random article under a random camera, with 0 (defect-free) to `max_defects` defects."""
    spec = random_fabric_spec(rng, mm_per_px, weaves, grayscale)
    camera = random_camera_spec(rng, spec.grayscale)
    width, height = size_wh
    # Somewhere along an imaginary roll: the cloth differs from image to image even for one spec.
    window = Window(float(rng.integers(0, 10_000)), float(rng.integers(0, 10_000)), width, height)
    count = 0 if rng.random() < defect_free_share else int(rng.integers(1, max_defects + 1))
    defects = place_defects(rng, spec, window, classes, count)
    cloth = render_cloth(spec, window, defects)
    image = expose(cloth.bgr, camera, frame_seed=0)
    labels = labels_from_footprints(
        cloth.defects, cloth.footprints, list(classes), size_wh, pad_px=1 + camera.blur_sigma_px
    )
    return SynthImage(image, labels, cloth.defects, spec, camera)
