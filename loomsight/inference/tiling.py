"""Tiles for frames larger than the model input, and merging their detections into one frame.

Frames much larger than the model input (line-scan strips of 4096x256, 4K frames) would lose small
defects if shrunk into it, so they are cut into overlapping tiles at native resolution with the
dataset tile grid (`loomsight.datasets.tiling.tile_grid`): square tiles of the shorter model input
side, or the whole frame side where the frame is shorter; each tile then fits the input at scale 1.

Merging, in frame pixels:

1. Boxes cut by a tile border are joined: a box whose edge lies on an inner border of its tile
   (within `touch_px`, and not on the frame edge) is joined with each box of the same class from
   another tile that overlaps it, reaches past that border and lies beside it along the border
   (1-D IoU >= `ALIGNED` across the border): the rest of the same defect, seen by the
   neighbouring tile. Both boxes must score at least `join_conf` (default 0.1): weak boxes around
   a defect (decoded down to 0.001 for mAP, to a tenth of the threshold with flip views) can
   grow it into a box the size of a tile or of the frame. Joined groups become one box (their
   union, best confidence). A defect cut across a tile corner, or two defects side by side, stay
   apart and go to NMS as they are.
2. With an overview (the whole frame, shrunk into the model input: `loomsight.inference.overview`),
   its large boxes are added and replace the tile boxes of their class that lie inside them.
3. Class-aware NMS over all tiles (`cv2.dnn.NMSBoxesBatched`) removes the double boxes of defects
   seen whole in the overlap of two tiles; the best `max_det` remain.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Literal

import numpy as np
import numpy.typing as npt

from loomsight.datasets.tiling import TileWindow, tile_grid
from loomsight.inference.box_groups import linked_groups
from loomsight.inference.decode import nms_batched
from loomsight.inference.detections import Detections
from loomsight.inference.overview import add_overview

logger = logging.getLogger(__name__)

TilingMode = Literal["off", "on", "auto"]
Float32Array = npt.NDArray[np.float32]
Int64Array = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

TOUCH_PX = 8.0
"""A box edge this close to its tile's border counts as cut by the border (the model often stops a
few pixels short of it)."""
JOIN_CONF = 0.1
"""Boxes scored below this are not joined across tile borders. Chosen with TOUCH_PX on 1280x720
frames of seed 71, checked on other seeds, 3200x416 and 1920x1080 frames: against joining every box
within 2 px (the rule before), the mAP50 of six sets of tiled frames rose from 0.51-0.73 to
0.86-0.96 (`benchmarks/tiled_frames.py`); floors of 0.05 and 0.2 scored alike. With it the camera
needed its deduplication to join same-class boxes that overlap in a frame
(`loomsight.camera.dedup`): pieces of a diagonal crease kept apart were reported twice."""
ALIGNED = 0.5
"""Two parts of one cut box cover at least this share (1-D IoU) of each other along the border."""


def needs_tiling(
    resolution_wh: tuple[int, int], input_hw: tuple[int, int], mode: TilingMode, factor: float
) -> bool:
    """Whether to tile a frame: always ("on"), never ("off"), or ("auto") when either side is
    more than `factor` times the model input's."""
    if mode == "auto":
        width, height = resolution_wh
        return width > factor * input_hw[1] or height > factor * input_hw[0]
    return mode == "on"


def frame_tiles(
    resolution_wh: tuple[int, int], input_hw: tuple[int, int], overlap_px: int | None = None
) -> list[TileWindow]:
    """The tiles of a frame: squares of the shorter input side, overlapping by `overlap_px`
    (default a fifth of a tile), the last ones flush with the frame edges."""
    tile_px = min(input_hw)
    overlap = tile_px // 5 if overlap_px is None else overlap_px
    return tile_grid(resolution_wh, tile_px, overlap)


def _cut_pairs(
    xyxy: Float32Array,
    class_id: Int64Array,
    tile_index: Int64Array,
    tiles_xyxy: Float32Array,
    resolution_wh: tuple[int, int],
    touch_px: float,
    strong: BoolArray,
) -> list[tuple[int, int]]:
    """(i, j): box i is cut by a border of its tile and box j, from another tile, continues it;
    both STRONG (scored at least the join floor)."""
    tile = tiles_xyxy[tile_index]
    width, height = resolution_wh
    cut = np.stack(
        [
            (xyxy[:, 0] <= tile[:, 0] + touch_px) & (tile[:, 0] > 0),
            (xyxy[:, 1] <= tile[:, 1] + touch_px) & (tile[:, 1] > 0),
            (xyxy[:, 2] >= tile[:, 2] - touch_px) & (tile[:, 2] < width),
            (xyxy[:, 3] >= tile[:, 3] - touch_px) & (tile[:, 3] < height),
        ],
        axis=1,
    )
    pairs: list[tuple[int, int]] = []
    for i in np.flatnonzero(cut.any(axis=1) & strong):
        box, edges = xyxy[i], tile[i]
        overlap_wh = np.minimum(box[2:], xyxy[:, 2:]) - np.maximum(box[:2], xyxy[:, :2])
        span_wh = np.maximum(box[2:], xyxy[:, 2:]) - np.minimum(box[:2], xyxy[:, :2])
        aligned_x, aligned_y = (overlap_wh >= ALIGNED * np.maximum(span_wh, 1e-6)).T
        continues = (
            (cut[i, 0] & (xyxy[:, 0] < edges[0]) & aligned_y)
            | (cut[i, 1] & (xyxy[:, 1] < edges[1]) & aligned_x)
            | (cut[i, 2] & (xyxy[:, 2] > edges[2]) & aligned_y)
            | (cut[i, 3] & (xyxy[:, 3] > edges[3]) & aligned_x)
        )
        joined = (
            continues
            & strong
            & (overlap_wh > 0).all(axis=1)
            & (class_id == class_id[i])
            & (tile_index != tile_index[i])
        )
        pairs.extend((int(i), int(j)) for j in np.flatnonzero(joined))
    return pairs


def join_cut_boxes(
    detections: Detections,
    tile_index: Int64Array,
    windows: Sequence[TileWindow],
    resolution_wh: tuple[int, int],
    touch_px: float = TOUCH_PX,
    join_conf: float = JOIN_CONF,
) -> Detections:
    """DETECTIONS (frame pixels; box k found in tile `tile_index[k]`) with every group of boxes
    cut by tile borders (each scored at least JOIN_CONF) replaced by one box: their union, with
    the group's best confidence."""
    if len(detections) == 0:
        return detections
    tiles_xyxy = np.array([window.xyxy_px for window in windows], dtype=np.float32)
    xyxy = detections.xyxy_px
    strong = detections.confidence >= join_conf
    pairs = _cut_pairs(
        xyxy, detections.class_id, tile_index, tiles_xyxy, resolution_wh, touch_px, strong
    )
    if not pairs:
        return detections
    group = linked_groups(len(detections), pairs)
    first = np.unique(group, return_index=True)[1]  # first box of each group
    x1y1 = np.full((len(first), 2), np.inf, np.float32)
    x2y2 = np.full((len(first), 2), -np.inf, np.float32)
    confidence = np.zeros(len(first), np.float32)
    np.minimum.at(x1y1, group, xyxy[:, :2])
    np.maximum.at(x2y2, group, xyxy[:, 2:])
    np.maximum.at(confidence, group, detections.confidence)
    logger.debug("joined %d cut boxes into %d", len(detections), len(first))
    return Detections(np.hstack([x1y1, x2y2]), confidence, detections.class_id[first])


def merge_tiles(
    per_tile: Sequence[Detections],
    windows: Sequence[TileWindow],
    resolution_wh: tuple[int, int],
    iou_threshold: float | Float32Array,
    max_det: int,
    join_conf: float | None = JOIN_CONF,
    touch_px: float = TOUCH_PX,
    overview: Detections | None = None,
) -> Detections:
    """Detections of each tile (in the tile's pixels) -> one set for the frame (frame pixels):
    cut boxes joined (none with join_conf None), the OVERVIEW's large boxes (the whole frame's, in
    frame pixels) added over the tile boxes inside them, double boxes removed, best `max_det`
    first."""
    if len(per_tile) != len(windows):
        raise ValueError(f"expected detections for {len(windows)} tiles, got {len(per_tile)}")
    shifted = [found.shifted(w.x_px, w.y_px) for found, w in zip(per_tile, windows, strict=True)]
    tile_index = np.repeat(np.arange(len(windows)), [len(found) for found in per_tile])
    merged = Detections.merge(shifted)
    if join_conf is not None:
        merged = join_cut_boxes(merged, tile_index, windows, resolution_wh, touch_px, join_conf)
    if overview is not None:
        tile_px = max(max(w.width_px, w.height_px) for w in windows)
        merged = add_overview(merged, overview, tile_px)
    return nms_batched(merged, iou_threshold, max_det)
