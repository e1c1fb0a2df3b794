"""Trace a yarn-line defect (a missing warp end or weft pick) in the image, to its true extent.

The detector finds a missing yarn but cannot measure it: YOLOv8's box head reaches at most 15
cells each way from the cell that predicts a box, so a thin line comes out as pieces of at most
240 px (joined by `line_join`), usually shorter than the line, and thicker than it, since the
head is unsure where across a few yarn pitches the line lies. The 4-point grade is by length, so
a line across the width must be reported across the width.

The line itself is easy to follow once found: along it, the band of the box is darker (or
lighter) than the cloth on either side of it. For each line box, elongated along an axis:

1. Along the line, the contrast of the box's band against equal bands just outside it on both
   sides, averaged over a window of at least `MIN_WINDOW_PX` (and twice the band's thickness) to
   smooth out the weave. The line's contrast is its median over the box.
2. The box is extended along the line over the run of positions, next to the box, where the
   contrast keeps the line's sign and at least `HOLD` of its strength, up to the frame's edge.
   Lines that do not stand out (a contrast under `MIN_CONTRAST_SIGMA` times its own spread over
   the box) are left as they are.
3. Across the line, the box is narrowed to where the line is: the rows (or columns) of the box
   whose mean, along the traced length, differs from the surrounding cloth by at least half the
   peak difference, widened on each side by `EDGE_SHARE` of that width (at least
   `MIN_MARGIN_PX`).

A box only grows along the line and only shrinks across it; its class and confidence are kept.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import numpy.typing as npt

from loomsight.inference.detections import Detections
from loomsight.inference.line_join import MIN_ELONGATION

Float32Array = npt.NDArray[np.float32]
UInt8Array = npt.NDArray[np.uint8]
Float64Array = npt.NDArray[np.float64]

MIN_WINDOW_PX = 16
"""Smallest window over which the contrast along a line is averaged (a few weave repeats)."""
HOLD = 0.5
"""The line goes on while its contrast keeps at least this share of its strength in the box."""
MIN_CONTRAST_SIGMA = 1.0
"""A line is traced only if its contrast is at least this many times its spread over the box."""
EDGE_SHARE = 0.5
"""Across the line, the box spans the half-peak width plus this share of it on each side."""
MIN_MARGIN_PX = 2.0
"""... and at least this many pixels (a blurred line's edges fade out past its half-peak width)."""
CENTRE_SHARE = 0.5
"""Across the line, its peak is looked for in this middle share of the box (a detector centres
its box on the line; a woven or knitted texture has rows as dark or light near the box's edges)."""


def _smooth(values: Float64Array, window_px: int) -> Float64Array:
    """Moving mean of VALUES over WINDOW_PX, over the values that exist near the ends."""
    kernel = np.ones(window_px)
    sums = np.convolve(values, kernel, mode="same")
    counts = np.convolve(np.ones_like(values), kernel, mode="same")
    return np.asarray(sums / counts)


def _run_around(ok: npt.NDArray[np.bool_], start: int, stop: int) -> tuple[int, int]:
    """The run of True in OK that continues [START, STOP) outwards: (first, end) indexes."""
    before = np.flatnonzero(~ok[:start])
    after = np.flatnonzero(~ok[stop:])
    first = int(before[-1]) + 1 if len(before) else 0
    end = stop + int(after[0]) if len(after) else len(ok)
    return first, end


def _across_extent(
    grey: Float32Array, along: tuple[int, int], across: tuple[int, int], sign: float
) -> tuple[float, float] | None:
    """Rows [low, high) of the line within ACROSS (rows of a box), from the row means over the
    columns ALONG, compared with the cloth around; None when no row stands out."""
    low, high = across
    thickness = high - low
    top, bottom = max(0, low - thickness), min(grey.shape[0], high + thickness)
    rows = grey[top:bottom, along[0] : along[1]].mean(axis=1, dtype=np.float64)
    difference = sign * (rows - np.median(rows))
    inside = difference[low - top : high - top]
    skip = int((1 - CENTRE_SHARE) / 2 * len(inside))
    peak_at = skip + int(np.argmax(inside[skip : len(inside) - skip]))
    peak = float(inside[peak_at])
    if peak <= 0:
        return None
    strong = inside >= peak / 2
    first, end = _run_around(strong, peak_at, peak_at + 1)
    margin = max(MIN_MARGIN_PX, EDGE_SHARE * (end - first))
    return max(low, low + first - margin), min(high, low + end + margin)


def _trace_along_x(grey: Float32Array, box: Float64Array) -> Float64Array:
    """BOX (x1, y1, x2, y2), a line along x in GREY, traced as the module doc says."""
    height, width = grey.shape
    x1, y1, x2, y2 = box
    low, high = max(0, math.floor(y1)), min(height, math.ceil(y2))
    start, stop = max(0, math.floor(x1)), min(width, math.ceil(x2))
    thickness = high - low
    window_px = max(MIN_WINDOW_PX, 2 * thickness)
    if thickness < 1 or stop - start < window_px:
        return box
    flanks = [grey[max(0, low - thickness) : low], grey[high : min(height, high + thickness)]]
    outside = [flank for flank in flanks if len(flank)]
    if not outside:
        return box
    band = grey[low:high].mean(axis=0, dtype=np.float64)
    cloth = np.concatenate(outside).mean(axis=0, dtype=np.float64)
    contrast = _smooth(band - cloth, window_px)
    strength = float(np.median(contrast[start:stop]))
    spread = float(np.median(np.abs(contrast[start:stop] - strength))) * 1.4826
    if strength == 0 or abs(strength) < MIN_CONTRAST_SIGMA * spread:
        return box
    sign = math.copysign(1.0, strength)
    first, end = _run_around(sign * contrast >= HOLD * abs(strength), start, stop)
    traced = np.array([min(x1, first), y1, max(x2, end), y2])
    along = (max(0, math.floor(traced[0])), min(width, math.ceil(traced[2])))
    across = _across_extent(grey, along, (low, high), sign)
    if across is not None:
        traced[1], traced[3] = max(y1, across[0]), min(y2, across[1])
    return traced


def trace_lines(frame: UInt8Array, detections: Detections, line_class_ids: set[int]) -> Detections:
    """DETECTIONS (in FRAME's pixels) with each elongated box of a class in LINE_CLASS_IDS traced
    along its line in FRAME (HxW grey or HxWx3 BGR) as the module doc says; other boxes as they
    are."""
    if not (frame.ndim == 2 or (frame.ndim == 3 and frame.shape[2] == 3)):
        raise ValueError(f"frame must be HxW grey or HxWx3 BGR, got shape {frame.shape}")
    if not line_class_ids or not len(detections):
        return detections
    size_wh = detections.size_wh_px
    is_line = np.isin(detections.class_id, sorted(line_class_ids))
    along_x = is_line & (size_wh[:, 0] >= MIN_ELONGATION * size_wh[:, 1])
    along_y = is_line & (size_wh[:, 1] >= MIN_ELONGATION * size_wh[:, 0])
    if not (along_x.any() or along_y.any()):
        return detections
    grey = np.asarray(
        cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) if frame.ndim == 3 else frame, dtype=np.float32
    )
    xyxy = detections.xyxy_px.astype(np.float64)
    for k in np.flatnonzero(along_x):
        xyxy[k] = _trace_along_x(grey, xyxy[k])
    transposed = grey.T
    for k in np.flatnonzero(along_y):
        x1, y1, x2, y2 = _trace_along_x(transposed, xyxy[k][[1, 0, 3, 2]])
        xyxy[k] = (y1, x1, y2, x2)
    return Detections(xyxy.astype(np.float32), detections.confidence, detections.class_id)
