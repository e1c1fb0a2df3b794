"""The overview: a tiled frame is also run whole, shrunk into the model input, for large defects.

Tiles see a frame at native resolution, which small defects need. A defect larger than a tile (a
long crease, a wide stain, or any defect in a photo taken closer than the cloth the model learnt
on) is seen by the tiles only in parts: the tile merge joins parts that both score well
(`loomsight.inference.tiling`), the rest come out as several boxes, or not at all, since the model
never learnt such parts. The overview sees the defect whole. Its boxes whose longer side is at
least BIG_SHARE of a tile (in frame pixels) and that score at least MIN_CONF are kept, and each
removes the tile boxes of its class that lie mostly (INSIDE_SHARE of their area) inside it; one
with no such tile box scored CONFIRM_CONF or more keeps UNCONFIRMED_FACTOR of its score. Its
smaller boxes are left out, as the tiles see those at native resolution. Class-aware NMS then runs
over all boxes, as for tiles alone.

Yarn lines (the detector's line classes) are left to the tiles: they see a line at native
resolution, and the detector joins its pieces and traces it in the frame. In the shrunk frame the
model draws a broken pick short (590 of 1024 px) and weakly (0.1 to 0.4), and such boxes replaced
the tiles' pieces of the line: seed 3 of the moving web lost one of three picks 15 and 22 mm apart.

The frame is shrunk by area averaging (`Letterbox.apply(shrink_by_area=True)`), not with the
bilinear resize ultralytics uses for an image a little larger than its input: shrunk about 2.5x,
bilinear samples a fine weave every few pixels into moiré blotches, and on 1 of 30 random fabrics
of the moving web (twill of 2.4 px pitch at 0.1 mm/px) the default model took those for creases
on 9 of 10 clean frames. `benchmarks/clean_cloth.py`, 30 fabrics x 10 clean 1024x512 frames:
fabrics with a false alarm 4 to 2, frames 19 to 9 of 300, crease boxes 13 to 1 (fp32); the two
left (colour satin, 6 and 3 frames) alarm as before; on one of them the tiles raise the boxes.
Camera frames with defects (`benchmarks/tiled_frames.py`, 60 a set): 0.907 / 0.604 to 0.907 /
0.603 at 0.15 mm/px, 0.945 / 0.654 (recall 0.940) to 0.940 / 0.650 (0.925) at 0.07 mm/px.

A frame shrunk to less than MIN_SCALE of its size to fit the model input (a line-scan strip of
4096x256 into 416 px: 0.1) takes no overview: its defects would be a few pixels in it.

Measured on 2026-11-29 (default model, 416 px tiles, flip views; mAP50, boxes down to conf 0.001),
without and with the overview: the real test split (231 photos of held-apart sessions, agnostic)
scaled up 1.6x and tiled, 0.718 and 0.924; scaled up 2x, 0.293 and 0.884; 150 fresh synthetic
images at 0.15 mm/px scaled up 2x, 0.842 and 0.882; 1280x720 camera frames, 0.898 and 0.902 at
0.15 mm/px, 0.898 and 0.940 at 0.07 mm/px, with the same false alarms. Keeping unconfirmed boxes
at their full score: 0.929, 0.899, 0.883, 0.895 and 0.940, but false alarms on 4 of 80 clean
1280x720 frames at 0.15 mm/px (none without the overview). Every overview box kept as it is (no
size floor, no tile box removed): 0.856, 0.784, 0.902, 0.873 and 0.910. `benchmarks/tiled_frames.py`
runs the camera frames with and without it.
"""

from __future__ import annotations

import numpy as np

from loomsight.inference.detections import Detections

MIN_SCALE = 0.2
"""No overview for a frame that must shrink more than this to fit the model input."""
BIG_SHARE = 0.5
"""Overview boxes are kept when their longer side is at least this share of a tile."""
INSIDE_SHARE = 0.7
"""A tile box with at least this share of its area inside a kept overview box of its class goes."""
MIN_CONF = 0.1
"""Overview boxes scored under this are left out (as weak parts are not joined across tiles)."""
CONFIRM_CONF = 0.025
"""A tile box of its class scored at least this inside it confirms an overview box: a tenth of the
usual threshold, which the detector decodes down to with flip views, so the camera and `evaluate`
confirm alike."""
UNCONFIRMED_FACTOR = 0.5
"""An unconfirmed overview box keeps this share of its score: the shrunk frame shows cloth coarser
than the model learnt, and such boxes alone raised false alarms on clean camera frames."""


def takes_overview(
    resolution_wh: tuple[int, int], input_hw: tuple[int, int], min_scale: float = MIN_SCALE
) -> bool:
    """Whether a tiled frame of RESOLUTION_WH is also run whole: when it shrinks to at least
    MIN_SCALE of its size to fit the model input."""
    width, height = resolution_wh
    return min(input_hw[0] / height, input_hw[1] / width) >= min_scale


def add_overview(tiled: Detections, overview: Detections, tile_px: float) -> Detections:
    """TILED (the tiles' boxes, merged, frame pixels) with the large boxes of OVERVIEW (the whole
    frame's, frame pixels) added and the tile boxes of their class mostly inside them removed;
    an overview box with no tile box of its class scored CONFIRM_CONF or more inside it keeps
    UNCONFIRMED_FACTOR of its score."""
    longer_px = overview.size_wh_px.max(axis=1, initial=0.0)
    big = overview.filter((longer_px >= BIG_SHARE * tile_px) & (overview.confidence >= MIN_CONF))
    if len(big) == 0:
        return tiled
    tile_xyxy, big_xyxy = tiled.xyxy_px[:, None, :], big.xyxy_px[None, :, :]
    shared_wh = np.minimum(tile_xyxy[..., 2:], big_xyxy[..., 2:]) - np.maximum(
        tile_xyxy[..., :2], big_xyxy[..., :2]
    )
    shared_px2 = np.clip(shared_wh, 0, None).prod(axis=2)
    area_px2 = np.clip(tiled.size_wh_px, 1e-6, None).prod(axis=1)
    inside = (shared_px2 >= INSIDE_SHARE * area_px2[:, None]) & (
        tiled.class_id[:, None] == big.class_id[None, :]
    )
    confirmed = (inside & (tiled.confidence >= CONFIRM_CONF)[:, None]).any(axis=0)
    confidence = np.where(confirmed, big.confidence, big.confidence * UNCONFIRMED_FACTOR)
    big = Detections(big.xyxy_px, confidence.astype(big.confidence.dtype), big.class_id)
    return Detections.merge([tiled.filter(~inside.any(axis=1)), big])
