"""Join the pieces of one yarn-line defect (a missing warp end or weft pick) into one box.

A missing yarn is a thin line that may cross the whole frame. YOLOv8's box head reaches at most
15 cells each way from the cell that predicts a box (reg_max 16), so a thin line, predicted by
the finest (stride-8) cells, comes out as overlapping pieces of at most 240 px, and a line across
a wide frame as many pieces. Reported as they are, one defect would count as several and each
piece would be graded by its own short length.

Two boxes of one line class are pieces of one line when both are elongated along the same axis
(the longer side at least `MIN_ELONGATION` times the shorter), they overlap across it (by at least
`ALIGNED` of the thinner one) and the gap between them along it is at most `max_gap_px`. Each
group of pieces (linked transitively) becomes one box: along the line it spans all the pieces;
across it, it keeps the extent of the best piece, whose confidence it takes.

Pieces scored down to `LINE_JOIN_CONF` are joined, well below the threshold at which a detector
reports defects: the detector decodes line classes down to it, joins, then reports a joined box
when its best piece passes its threshold. A weak piece so lengthens a line found by a strong one,
but never makes a defect of its own; and since no piece below `LINE_JOIN_CONF` takes part, the
boxes reported at the operating threshold are the same whether the detector keeps lower scores
(as evaluation does) or not.

Joined lines are then traced in the frame (`line_trace`): the box head cannot measure a long
line, the image can.

The camera's dedup (`loomsight.camera.dedup.join_pieces`) joins elongated boxes of any class in
fabric millimetres afterwards; joining here, before the threshold, is what lets weak pieces
lengthen a line and lets `loomsight evaluate` score what the camera reports.
"""

from __future__ import annotations

import logging

import numpy as np
import numpy.typing as npt

from loomsight.inference.box_groups import linked_groups
from loomsight.inference.detections import Detections

logger = logging.getLogger(__name__)

Float32Array = npt.NDArray[np.float32]

LINE_CLASSES = ("broken_end", "broken_pick")
"""Classes of the default taxonomy that are yarn lines."""
MIN_ELONGATION = 3.0
"""A box is a line piece when its longer side is at least this many times its shorter side."""
ALIGNED = 0.5
"""Two pieces of one line overlap across it by at least this share of the thinner piece."""
LINE_JOIN_CONF = 0.05
"""Default lowest score of a piece that is joined to others."""
MAX_GAP_PX = 96.0
"""Default largest gap along a line between two of its pieces (chosen on tiled 2048 px frames)."""


def _line_pairs(xyxy: Float32Array, axis: int, max_gap_px: float) -> list[tuple[int, int]]:
    """(i, j), i < j: pieces of one line running along AXIS (0: x, 1: y)."""
    across = 1 - axis
    start, end = xyxy[:, axis], xyxy[:, axis + 2]
    low, high = xyxy[:, across], xyxy[:, across + 2]
    overlap = np.minimum(high[:, None], high[None]) - np.maximum(low[:, None], low[None])
    thinner = np.minimum((high - low)[:, None], (high - low)[None])
    gap = np.maximum(start[:, None], start[None]) - np.minimum(end[:, None], end[None])
    linked = (overlap >= ALIGNED * thinner) & (overlap > 0) & (gap <= max_gap_px)
    i, j = np.nonzero(np.triu(linked, k=1))
    return list(zip(i.tolist(), j.tolist(), strict=True))


def join_line_pieces(
    detections: Detections,
    line_class_ids: set[int],
    min_confidence: float,
    max_gap_px: float = MAX_GAP_PX,
) -> Detections:
    """DETECTIONS with the pieces of each line of a class in LINE_CLASS_IDS joined into one box
    (see the module doc); only boxes scored at least MIN_CONFIDENCE take part. The result
    is sorted by confidence, best first."""
    if max_gap_px < 0:
        raise ValueError(f"max_gap_px must be >= 0, got {max_gap_px}")
    if not line_class_ids or len(detections) < 2:
        return detections
    size_wh = detections.size_wh_px
    eligible = np.isin(detections.class_id, sorted(line_class_ids)) & (
        detections.confidence >= min_confidence
    )
    pairs: list[tuple[int, int]] = []
    for axis in (0, 1):
        elongated = size_wh[:, axis] >= MIN_ELONGATION * size_wh[:, 1 - axis]
        for class_id in line_class_ids:
            members = np.flatnonzero(eligible & elongated & (detections.class_id == class_id))
            if len(members) > 1:
                found = _line_pairs(detections.xyxy_px[members], axis, max_gap_px)
                pairs.extend((int(members[i]), int(members[j])) for i, j in found)
    if not pairs:
        return detections
    group = linked_groups(len(detections), pairs)
    best = np.zeros(group.max() + 1, dtype=np.int64)  # best piece of each group
    for k in np.argsort(detections.confidence, kind="stable"):  # ascending: the best wins
        best[group[k]] = k
    xyxy = detections.xyxy_px[best].copy()
    along = (size_wh[best, 0] >= size_wh[best, 1])[:, None] == np.array([True, False])
    starts, ends = xyxy[:, :2].copy(), xyxy[:, 2:].copy()
    np.minimum.at(starts, group, detections.xyxy_px[:, :2])
    np.maximum.at(ends, group, detections.xyxy_px[:, 2:])
    xyxy[:, :2] = np.where(along, starts, xyxy[:, :2])
    xyxy[:, 2:] = np.where(along, ends, xyxy[:, 2:])
    logger.debug("joined %d line pieces into %d boxes", len(detections), len(best))
    joined = Detections(xyxy, detections.confidence[best], detections.class_id[best])
    return joined.sorted_by_confidence()
