"""The moving web: one continuous roll, defects at known positions, frames at a line speed."""

from __future__ import annotations

import numpy as np
import pytest

from loomsight.datasets.synth.moving_web import MovingWeb
from loomsight.datasets.synth.weave import WeaveKind

COMPACT = ("hole", "stain", "knot", "contamination")


def _web(**kwargs: object) -> MovingWeb:
    options: dict[str, object] = {
        "seed": 11,
        "width_px": 256,
        "frame_height_px": 128,
        "mm_per_px": 0.2,
        "defects_per_100m": 400.0,
    }
    options.update(kwargs)
    return MovingWeb(**options)  # type: ignore[arg-type]


def test_ground_truth_is_deterministic_and_ordered() -> None:
    first, second = _web(), _web()
    defects = first.defects_between(0.0, 5.0)
    assert [d.defect_id for d in defects] == [d.defect_id for d in second.defects_between(0, 5)]
    assert len(defects) > 5  # 400 per 100 m over 5 m: about 20
    positions = [d.position_m for d in defects]
    assert positions == sorted(positions)
    assert all(0 <= d.across_mm <= first.width_mm for d in defects)
    assert _web(seed=12).defects_between(0, 5) != defects


@pytest.mark.parametrize("start_m", [0.0, 5000.0])
def test_every_planted_defect_is_seen_at_its_position(start_m: float) -> None:
    web = _web(classes=COMPACT)
    end_m = start_m + 3.0
    step_m = web.frame_length_m  # frames edge to edge: the whole roll is seen once
    frames = list(
        web.frames(
            speed_m_per_min=step_m * 60 * 10, fps=10, start_m=start_m, count=int(3.0 / step_m)
        )
    )
    seen: dict[str, list[tuple[float, float]]] = {}
    for frame in frames:
        for box, defect_id in zip(frame.labels.xyxy_px, frame.defect_ids, strict=True):
            centre_y_m = frame.top_m + (box[1] + box[3]) / 2 * web.mm_per_px / 1000
            centre_x_mm = (box[0] + box[2]) / 2 * web.mm_per_px
            seen.setdefault(defect_id, []).append((centre_y_m, centre_x_mm))
    planted = web.defects_between(start_m + 0.02, end_m - 0.02)  # away from the ends
    assert planted
    for defect in planted:
        assert defect.defect_id in seen, f"{defect.class_name} at {defect.position_m:.3f} m unseen"
        # A defect split over two frames is seen in parts; its parts lie around its position.
        ys = [y for y, _ in seen[defect.defect_id]]
        xs = [x for _, x in seen[defect.defect_id]]
        assert min(ys) - 0.02 <= defect.position_m <= max(ys) + 0.02
        assert abs(float(np.mean(xs)) - defect.across_mm) < 0.5 * defect.length_mm + 5


def test_frames_follow_line_speed_and_are_reproducible() -> None:
    web = _web()
    frames = list(web.frames(speed_m_per_min=30.0, fps=25.0, count=3))
    assert [f.top_m for f in frames] == pytest.approx([0.0, 0.02, 0.04])
    again = _web().frame_at(frames[2].top_m, index=2)
    np.testing.assert_array_equal(again.image, frames[2].image)
    assert frames[0].image.shape[:2] == (128, 256)


@pytest.mark.parametrize(("speed", "fps"), [(0.0, 10.0), (10.0, 0.0), (-1.0, 5.0)])
def test_frames_refuse_a_speed_or_rate_that_is_not_positive(speed: float, fps: float) -> None:
    with pytest.raises(ValueError, match="must be positive"):
        next(_web().frames(speed_m_per_min=speed, fps=fps))


@pytest.mark.parametrize("weave", list(WeaveKind))
def test_the_cloth_keeps_its_fine_structure_far_along_the_roll(weave: WeaveKind) -> None:
    # At 0.1 mm/px, 5 km is 5e7 rows: beyond float32's whole numbers, where neighbouring rows
    # of a float32 renderer fall on the same coordinate and the cloth smears along the roll.
    web = _web(mm_per_px=0.1, weaves=(weave,), defects_per_100m=0.0, frame_height_px=256)

    def row_to_row(top_m: float) -> float:
        image = web.frame_at(top_m).image.astype(np.float32)
        return float(np.abs(np.diff(image, axis=0)).mean())

    near, far = row_to_row(1.0), row_to_row(5000.0)
    assert 0.85 < far / near < 1.15, (near, far)
