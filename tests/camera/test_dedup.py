"""Each defect reported once although overlapping frames see it several times."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from loomsight.camera.calibration import Calibration, FabricDefect, to_fabric
from loomsight.camera.dedup import DedupConfig, Deduplicator, join_pieces
from loomsight.datasets.synth.moving_web import MovingWeb
from loomsight.inference.detections import Detections

MM_PER_PX = 0.5
FRAME_WH = (800, 400)  # 400 x 200 mm
CALIBRATION = Calibration(mm_per_px=MM_PER_PX, web_width_mm=400.0, speed_m_per_min=60.0)
CLASSES = ("hole", "stain", "crease", "knot", "defect")


def _seen(
    frame_top_m: float,
    along_mm: tuple[float, float],
    across_mm: tuple[float, float],
    class_name: str = "hole",
    confidence: float = 0.5,
) -> FabricDefect:
    """What a frame whose first row is at `frame_top_m` sees of a defect at these roll spans."""
    top_mm = frame_top_m * 1000
    box = (
        across_mm[0] / MM_PER_PX,
        (along_mm[0] - top_mm) / MM_PER_PX,
        across_mm[1] / MM_PER_PX,
        (along_mm[1] - top_mm) / MM_PER_PX,
    )
    detections = Detections(
        np.array([box]), np.array([confidence]), np.array([CLASSES.index(class_name)])
    )
    (defect,) = to_fabric(detections, CLASSES, frame_top_m, FRAME_WH, CALIBRATION)
    return defect


def test_a_defect_in_three_overlapping_frames_is_reported_once() -> None:
    dedup = Deduplicator()
    sightings = [  # 150..160 mm along, 100..110 mm across; a pixel of jitter, a flickering class
        (0.00, _seen(0.00, (150.0, 160.0), (100.0, 110.0), "hole", 0.6)),
        (0.05, _seen(0.05, (150.5, 160.5), (100.0, 110.5), "stain", 0.9)),
        (0.10, _seen(0.10, (149.5, 160.0), (99.5, 110.0), "hole", 0.7)),
    ]
    reported = [dedup.admit([defect], top_m) for top_m, defect in sightings]
    assert [len(new) for new in reported] == [1, 0, 0]
    assert reported[0][0].class_name == "hole"
    assert (dedup.reported, dedup.suppressed) == (1, 2)
    assert dedup.suppressed_by_class == Counter({"stain": 1, "hole": 1})
    (entry,) = dedup.remembered
    assert entry.best_confidence == pytest.approx(0.9)
    assert entry.sightings == 3


def test_a_defect_longer_than_a_frame_is_followed_from_frame_to_frame() -> None:
    dedup = Deduplicator()
    crease_mm = (120.0, 520.0)  # 400 mm along; frames are 200 mm, one every 100 mm
    counts = []
    for top_m in (0.0, 0.1, 0.2, 0.3, 0.4):
        top_mm = top_m * 1000
        part = (max(crease_mm[0], top_mm), min(crease_mm[1], top_mm + 200.0))
        counts.append(len(dedup.admit([_seen(top_m, part, (50.0, 80.0), "crease")], top_m)))
    assert counts == [1, 0, 0, 0, 0]


def test_two_close_but_distinct_defects_are_two() -> None:
    dedup = Deduplicator()
    for top_m in (0.0, 0.05, 0.1):  # both seen in three frames; 5 mm of cloth between them
        left = _seen(top_m, (150.0, 155.0), (100.0, 105.0))
        right = _seen(top_m, (150.0, 155.0), (110.0, 115.0))
        new = dedup.admit([left, right], top_m)
        assert len(new) == (2 if top_m == 0.0 else 0)
    assert (dedup.reported, dedup.suppressed) == (2, 4)


def test_a_small_defect_beside_a_large_one_of_another_class_stays_apart() -> None:
    dedup = Deduplicator()
    hole = _seen(0.0, (150.0, 155.0), (100.0, 105.0), "hole")
    assert dedup.admit([hole], 0.0) == [hole]
    crease = _seen(0.05, (120.0, 190.0), (90.0, 130.0), "crease")  # covers the hole's box
    assert dedup.admit([crease], 0.05) == [crease]


@pytest.mark.parametrize(("same_class_only", "reported"), [(False, 1), (True, 2)])
def test_class_flicker_is_one_defect_unless_classes_must_agree(
    same_class_only: bool, reported: int
) -> None:
    dedup = Deduplicator(DedupConfig(same_class_only=same_class_only))
    dedup.admit([_seen(0.0, (150.0, 160.0), (100.0, 110.0), "hole")], 0.0)
    dedup.admit([_seen(0.05, (150.0, 160.0), (100.0, 110.0), "stain")], 0.05)
    assert dedup.reported == reported


def test_two_classes_on_one_spot_in_one_frame_are_one_defect() -> None:
    dedup = Deduplicator()
    hole = _seen(0.0, (150.0, 160.0), (100.0, 110.0), "hole", 0.4)
    stain = _seen(0.0, (150.5, 160.0), (100.0, 110.0), "stain", 0.8)
    assert dedup.admit([hole, stain], 0.0) == [hole]
    assert dedup.remembered[0].best_confidence == pytest.approx(0.8)


def test_memory_stays_bounded_over_a_long_run() -> None:
    dedup = Deduplicator(DedupConfig(forget_after_m=0.3))
    largest = 0
    for frame in range(5000):  # 500 m; two new defects in every frame
        top_m = frame * 0.1
        spots = [(top_m * 1000 + 150.0, 40.0), (top_m * 1000 + 160.0, 300.0)]
        seen = [_seen(top_m, (a, a + 4.0), (x, x + 4.0)) for a, x in spots]
        assert len(dedup.admit(seen, top_m)) == 2
        largest = max(largest, len(dedup.remembered))
    assert dedup.reported == 10_000
    assert largest <= 2 * (0.3 + 0.2) / 0.1 + 2  # what the last 0.3 m and this frame hold


def test_memory_is_capped_and_the_oldest_forgotten_first() -> None:
    dedup = Deduplicator(DedupConfig(max_remembered=3))
    seen = [_seen(0.0, (10.0 * k, 10.0 * k + 4.0), (50.0, 54.0)) for k in range(5)]
    dedup.admit(seen, 0.0)
    assert [entry.reported for entry in dedup.remembered] == seen[2:]
    assert dedup.forgotten_early == 2


def test_a_new_roll_does_not_inherit_the_old_rolls_defects() -> None:
    dedup = Deduplicator(DedupConfig(forget_after_m=0.5))
    dedup.admit([_seen(120.0, (120150.0, 120160.0), (100.0, 110.0))], 120.0)
    # The position jumps back to the start; the old defect lies far ahead and is forgotten.
    fresh = _seen(0.0, (150.0, 160.0), (100.0, 110.0))
    assert dedup.admit([fresh], 0.0) == [fresh]
    assert len(dedup.remembered) == 1
    dedup.reset()
    assert dedup.remembered == ()


def test_every_planted_defect_of_the_moving_web_is_reported_exactly_once() -> None:
    web = MovingWeb(seed=9, width_px=256, frame_height_px=128, mm_per_px=0.2, defects_per_100m=400)
    end_m = 3.0
    planted = web.defects_between(-1.0, end_m + 1.0)
    for k, a in enumerate(planted):  # this seed plants no two defects on top of each other
        for b in planted[k + 1 :]:
            assert np.hypot((b.position_m - a.position_m) * 1000, b.across_mm - a.across_mm) > 10
    calibration = Calibration(mm_per_px=0.2, web_width_mm=web.width_mm, speed_m_per_min=60.0)
    step_m = web.frame_length_m / 2  # frames overlap by half
    fps = 60.0 / 60 / step_m
    dedup = Deduplicator(DedupConfig(forget_after_m=web.frame_length_m + 0.05))
    reported: Counter[str] = Counter()
    seen: set[str] = set()
    for frame in web.frames(speed_m_per_min=60.0, fps=fps, count=int(end_m / step_m)):
        labels = frame.labels
        detections = Detections(
            labels.xyxy_px.astype(np.float32),
            np.full(len(labels), 0.9, np.float32),
            labels.class_id,
        )
        defects = to_fabric(detections, web.classes, frame.top_m, labels.resolution_wh, calibration)
        assert len(defects) == len(labels)
        defect_id = {id(defect): ids for defect, ids in zip(defects, frame.defect_ids, strict=True)}
        seen.update(frame.defect_ids)
        reported.update(defect_id[id(new)] for new in dedup.admit(defects, frame.top_m))
    assert len(seen) >= 10
    assert reported == Counter(dict.fromkeys(seen, 1))
    assert dedup.suppressed >= len(seen)  # every defect was seen more than once


def test_pieces_of_a_line_across_the_web_in_one_frame_are_joined_compact_neighbours_not() -> None:
    # A weft fault across the web, cut by the tiles of a wide frame into three short pieces.
    pieces = [_seen(0.0, (150.0, 152.0), (x, x + 24.0)) for x in (8.0, 43.0, 78.0)]
    joined = join_pieces(pieces, gap_mm=15.0)
    assert len(joined) == 1
    assert joined[0].across_span_mm == pytest.approx((8.0, 102.0))
    assert joined[0].length_mm == pytest.approx(2.0)
    assert Deduplicator().admit(pieces, 0.0) == joined
    # Too far apart, or compact (holes side by side): kept apart.
    assert len(join_pieces(pieces, gap_mm=5.0)) == 3
    holes = [_seen(0.0, (150.0, 155.0), (x, x + 5.0)) for x in (100.0, 110.0)]
    assert len(join_pieces(holes, gap_mm=15.0)) == 2


def test_crossing_boxes_of_one_class_in_a_frame_are_one_defect_touching_ones_not() -> None:
    # A diagonal crease cut by a tile border: two boxes that cross (the case seen on the moving
    # web: the next frame's piece overlapped neither the first sighting nor its neighbour enough).
    upper = _seen(0.0, (100.0, 150.0), (40.0, 70.0), "crease", 0.9)
    lower = _seen(0.0, (105.0, 145.0), (20.0, 45.0), "crease", 0.8)
    (joined,) = join_pieces([upper, lower], gap_mm=15.0)
    assert joined.along_span_m == pytest.approx((0.100, 0.150))
    assert joined.across_span_mm == pytest.approx((20.0, 70.0))
    assert joined.confidence == pytest.approx(0.9)
    assert len(join_pieces([upper, lower], gap_mm=15.0, overlapping=False)) == 2
    assert len(Deduplicator(DedupConfig(join_overlapping=False)).admit([upper, lower], 0.0)) == 2
    assert Deduplicator().admit([upper, lower], 0.0) == [joined]
    # Boxes that only touch, or overlapping boxes of different classes, stay apart.
    beside = _seen(0.0, (100.0, 150.0), (70.0, 90.0), "crease", 0.9)
    assert len(join_pieces([upper, beside], gap_mm=15.0)) == 2
    stain = _seen(0.0, (105.0, 145.0), (20.0, 45.0), "stain", 0.8)
    assert len(join_pieces([upper, stain], gap_mm=15.0)) == 2


def test_an_unspecific_defect_box_inside_a_stain_is_the_stain_a_knot_is_not() -> None:
    # The default model's `defect` class (any defect) gives a small box inside a stain it also
    # calls a stain; in the next frame, or in the same one. A knot there is another defect.
    stain = _seen(0.00, (150.0, 170.0), (100.0, 120.0), "stain", 0.9)
    inside = _seen(0.05, (152.0, 154.0), (102.0, 104.0), "defect", 0.4)  # 10 mm off centre
    knot = _seen(0.05, (152.0, 154.0), (102.0, 104.0), "knot", 0.4)
    for later, reported in ((inside, []), (knot, [knot])):
        dedup = Deduplicator()
        assert dedup.admit([stain], 0.00) == [stain]
        assert dedup.admit([later], 0.05) == reported
    assert Deduplicator().admit([stain, inside], 0.0) == [stain]
    assert len(Deduplicator(DedupConfig(unspecific_classes=())).admit([stain, inside], 0.0)) == 2


def test_a_small_box_inside_a_defect_in_the_same_frame_does_not_shrink_what_is_remembered() -> None:
    # A long stain, then a frame with the stain and a `defect` box inside it (a duplicate within
    # the frame), then a frame that sees only the stain's far end: still the same stain.
    dedup = Deduplicator()
    assert len(dedup.admit([_seen(0.05, (150.0, 250.0), (100.0, 120.0), "stain", 0.9)], 0.05)) == 1
    both = [
        _seen(0.10, (150.0, 250.0), (100.0, 120.0), "stain", 0.8),
        _seen(0.10, (155.0, 160.0), (105.0, 110.0), "defect", 0.95),
    ]
    assert dedup.admit(both, 0.10) == []
    (entry,) = dedup.remembered
    assert entry.latest.length_mm == pytest.approx(100.0)
    assert entry.best_confidence == pytest.approx(0.95)
    assert entry.sightings == 3
    assert dedup.admit([_seen(0.20, (200.0, 250.0), (100.0, 120.0), "stain", 0.7)], 0.20) == []


def test_a_frames_sightings_of_one_defect_are_remembered_together() -> None:
    # The stain, then a frame with the stain and a `defect` box reaching past its end (a duplicate
    # within the frame), then a frame that sees only what lies past the stain's end.
    dedup = Deduplicator()
    assert len(dedup.admit([_seen(0.05, (150.0, 250.0), (100.0, 120.0), "stain", 0.9)], 0.05)) == 1
    both = [
        _seen(0.10, (240.0, 270.0), (100.0, 120.0), "defect", 0.5),
        _seen(0.10, (150.0, 250.0), (100.0, 120.0), "stain", 0.8),
    ]
    assert dedup.admit(both, 0.10) == []
    (entry,) = dedup.remembered
    assert [seen.class_name for seen in entry.last_seen()] == ["stain", "defect"]
    assert dedup.admit([_seen(0.20, (255.0, 300.0), (100.0, 120.0), "stain", 0.7)], 0.20) == []
