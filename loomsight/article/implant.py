"""Synthetic defects implanted into a real defect-free frame, following its measured weave.

A new article has no labelled defects, but its clean frames show the real texture, light and
camera. Each defect class is painted onto that texture the way it changes real cloth: a broken end
takes one warp yarn out along the measured warp direction, aligned to the yarns found in the frame;
a stain darkens and tints while the weave shows through; a crease shades a ridge across it. Sizes
come from the class's real range in millimetres when the scale is known, otherwise from the weave
period. Contrast varies from faint to strong, so a detector trained on these meets the real range.

The label box of each defect is the bounding box of the pixels it changed by at least CHANGE_LEVEL
grey levels; what it changed less, outside that box, is put back, so the image outside the boxes is
exactly the original and no box is empty. Defects never overlap.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from loomsight.article.implant_painters import PAINTERS
from loomsight.article.implant_site import Grid, Site
from loomsight.article.weave import MAX_YARN_PITCH_MM, WeaveMeasure, to_grey
from loomsight.datasets.labels import ImageLabels
from loomsight.datasets.synth.defects import FABRIC_CLASSES

logger = logging.getLogger(__name__)

CHANGE_LEVEL = 4  # grey levels: a pixel changed less than this is not part of the defect
MIN_BOX_SIDE_PX = 4
DEFAULT_PITCH_MM = 0.4  # 25 yarns per cm, when the weave showed no period
DEFAULT_PITCH_PX = 4.0  # when neither the weave nor the scale is known
ATTEMPTS_PER_DEFECT = 30
BOX_GAP_PX = 2  # free pixels kept between two defects' boxes


@dataclass(frozen=True)
class ImplantedImage:
    """A frame with implanted defects: the image (same shape and dtype as the input), its labels
    (class id = index into `class_names`) and the class names."""

    image: npt.NDArray[np.uint8]
    labels: ImageLabels
    class_names: tuple[str, ...]


def implant_defects(
    image: npt.NDArray[np.uint8],
    weave: WeaveMeasure,
    mm_per_px: float | None,
    rng: np.random.Generator,
    count: int,
    classes: Sequence[str] = FABRIC_CLASSES,
) -> ImplantedImage:
    """Up to `count` defects of `classes` (drawn at random) painted onto a grey or BGR uint8 frame.

    Fewer come back only when the frame has no room left for them (logged)."""
    unknown = [name for name in classes if name not in PAINTERS]
    if unknown or not classes:
        raise ValueError(
            f"expected defect classes among {', '.join(PAINTERS)}, got {list(classes)!r}"
        )
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    if mm_per_px is not None and mm_per_px <= 0:
        raise ValueError(f"mm_per_px must be positive or None, got {mm_per_px}")
    grey = to_grey(image)  # also checks dtype and shape
    height, width = grey.shape
    if min(height, width) < 32:
        raise ValueError(
            f"frame must be at least 32x32 px to implant defects, got {width}x{height}"
        )
    grid = _grid(weave, mm_per_px, (height, width))
    clipped = (grey <= 2) | (grey >= 253)
    out = image.copy()
    taken = np.zeros((height, width), dtype=bool)
    boxes: list[tuple[int, int, int, int]] = []
    ids: list[int] = []
    for _ in range(count):
        # The class is kept while its defect finds no room, so big ones are not crowded out.
        class_name = str(rng.choice(list(classes)))
        for attempt in range(ATTEMPTS_PER_DEFECT):
            if attempt >= ATTEMPTS_PER_DEFECT // 2:
                class_name = str(rng.choice(list(classes)))
            box = _implant_one(out, class_name, grid, rng, taken, clipped)
            if box is not None:
                boxes.append(box)
                ids.append(list(classes).index(class_name))
                break
    if len(boxes) < count:
        logger.warning(
            "room for %d of %d defects in a %dx%d frame", len(boxes), count, width, height
        )
    labels = ImageLabels(
        np.array(boxes, dtype=np.float64).reshape(-1, 4),
        np.array(ids, dtype=np.int64),
        (width, height),
    )
    return ImplantedImage(out, labels, tuple(classes))


def _grid(weave: WeaveMeasure, mm_per_px: float | None, shape_hw: tuple[int, int]) -> Grid:
    """Pitches and yarn angles to paint with. What the weave did not show is filled in: a missing
    or implausible pitch from the other one (or a default), angles only from a square grid (else
    the camera is taken to be square to the web)."""
    fallback = DEFAULT_PITCH_MM / mm_per_px if mm_per_px else DEFAULT_PITCH_PX
    warp = weave.warp_pitch_px
    weft = weave.weft_pitch_px
    if mm_per_px:  # a repeat coarser than any yarn is a print or a stripe, not the weave
        warp, weft = (
            p if p is None or p * mm_per_px <= MAX_YARN_PITCH_MM else None for p in (warp, weft)
        )
    if warp is not None and weft is not None and not 0.4 <= warp / weft <= 2.5:
        if weave.warp_prominence >= weave.weft_prominence:
            weft = warp
        else:
            warp = weft
    warp_px = warp or weft or fallback
    weft_px = weft or warp or fallback
    limit = min(shape_hw) / 8
    warp_deg = weave.warp_angle_deg if weave.square and weave.warp_angle_deg is not None else 0.0
    weft_deg = weave.weft_angle_deg if weave.square and weave.weft_angle_deg is not None else 0.0
    return Grid(
        warp_pitch_px=float(np.clip(warp_px, 2.0, limit)),
        weft_pitch_px=float(np.clip(weft_px, 2.0, limit)),
        warp_angle_rad=float(np.radians(warp_deg)),
        weft_angle_rad=float(np.radians(weft_deg)),
        mm_per_px=mm_per_px,
    )


def _implant_one(
    out: npt.NDArray[np.uint8],
    class_name: str,
    grid: Grid,
    rng: np.random.Generator,
    taken: npt.NDArray[np.bool_],
    clipped: npt.NDArray[np.bool_],
) -> tuple[int, int, int, int] | None:
    """Paint one defect whose box overlaps no other; its pixel box, or None if it did not fit."""
    height, width = taken.shape
    painter = PAINTERS[class_name]
    shape = painter.size(grid, rng, min(height, width))
    reach_x, reach_y = shape.reach_px()
    # Small defects lie wholly in the frame; long ones may run out of it.
    margin_x = 0.1 * width if painter.long else min(reach_x, 0.45 * width)
    margin_y = 0.1 * height if painter.long else min(reach_y, 0.45 * height)
    cx = float(rng.uniform(margin_x, width - margin_x))
    cy = float(rng.uniform(margin_y, height - margin_y))
    centre = (slice(max(int(cy) - 3, 0), int(cy) + 4), slice(max(int(cx) - 3, 0), int(cx) + 4))
    if taken[centre].any() or clipped[centre].any():
        return None
    x0, x1 = max(int(cx - reach_x), 0), min(int(np.ceil(cx + reach_x)) + 1, width)
    y0, y1 = max(int(cy - reach_y), 0), min(int(np.ceil(cy + reach_y)) + 1, height)
    before = out[y0:y1, x0:x1].copy()
    patch = before.astype(np.float32).reshape(y1 - y0, x1 - x0, -1)
    site = Site(patch=patch, cx=cx - x0, cy=cy - y0, shape=shape, grid=grid, rng=rng)
    painted = painter.paint(site, float(rng.uniform(0.3, 1.0)))
    after = np.clip(np.rint(painted), 0, 255).astype(np.uint8).reshape(before.shape)
    delta = np.abs(after.astype(np.int16) - before.astype(np.int16))
    changed = (delta.max(axis=2) if delta.ndim == 3 else delta) >= CHANGE_LEVEL
    if not changed.any():
        return None
    cols = np.flatnonzero(changed.any(axis=0))
    rows = np.flatnonzero(changed.any(axis=1))
    if max(cols[-1] + 1 - cols[0], rows[-1] + 1 - rows[0]) < MIN_BOX_SIDE_PX:
        return None  # too small to label
    bx0, bx1 = _widen(int(cols[0]), int(cols[-1]) + 1, x1 - x0)
    by0, by1 = _widen(int(rows[0]), int(rows[-1]) + 1, y1 - y0)
    if bx1 - bx0 < MIN_BOX_SIDE_PX or by1 - by0 < MIN_BOX_SIDE_PX:
        return None
    if taken[y0 + by0 : y0 + by1, x0 + bx0 : x0 + bx1].any():
        return None  # would overlap a defect already there
    if float(clipped[y0:y1, x0:x1][changed].mean()) > 0.05:
        return None  # black corners of a turned photo, burnt-out spots: no cloth to paint on
    inside = np.zeros(changed.shape, dtype=bool)
    inside[by0:by1, bx0:bx1] = True
    after[~inside] = before[~inside]
    out[y0:y1, x0:x1] = after
    gap = BOX_GAP_PX
    taken[max(y0 + by0 - gap, 0) : y0 + by1 + gap, max(x0 + bx0 - gap, 0) : x0 + bx1 + gap] = True
    return (x0 + bx0, y0 + by0, x0 + bx1, y0 + by1)


def _widen(start: int, stop: int, size: int) -> tuple[int, int]:
    """A span at least MIN_BOX_SIDE_PX long (where the patch allows), around the same centre."""
    missing = MIN_BOX_SIDE_PX - (stop - start)
    if missing <= 0:
        return start, stop
    start = max(start - missing // 2, 0)
    return start, min(max(stop, start + MIN_BOX_SIDE_PX), size)
