"""Metres and square metres inspected and skipped, counted once, reported per period."""

from __future__ import annotations

import random

import pytest

from loomsight.camera.calibration import Calibration, WebOdometer
from loomsight.camera.coverage import CoverageAmounts, CoverageMeter

WIDTH_MM = 1600.0  # m2 = m x 1.6
FRAME_M = 0.2


def _meter(settle_lag_m: float = 0.0) -> CoverageMeter:
    return CoverageMeter(web_width_mm=WIDTH_MM, frame_length_m=FRAME_M, settle_lag_m=settle_lag_m)


def _feed(meter: CoverageMeter, frames: list[tuple[str, float]]) -> None:
    for kind, top_m in frames:
        (meter.add_processed if kind == "p" else meter.add_skipped)(top_m)


def _amounts(
    inspected_m: float, skipped_m: float, processed: int, skipped: int
) -> tuple[float, float, float, float, int, int]:
    return inspected_m, inspected_m * 1.6, skipped_m, skipped_m * 1.6, processed, skipped


def _as_tuple(amounts: CoverageAmounts) -> tuple[float, float, float, float, int, int]:
    return (
        amounts.inspected_m,
        amounts.inspected_m2,
        amounts.skipped_m,
        amounts.skipped_m2,
        amounts.frames_processed,
        amounts.frames_skipped,
    )


@pytest.mark.parametrize(
    ("frames", "expected"),
    [
        # frames 0.2 m long; (p)rocessed or (s)kipped, by the roll position of the first row
        ([("p", 0.0)], _amounts(0.2, 0.0, 1, 0)),
        ([("p", 0.0), ("p", 0.1), ("p", 0.2), ("p", 0.3)], _amounts(0.5, 0.0, 4, 0)),  # overlap
        ([("p", 0.0), ("p", 0.0)], _amounts(0.2, 0.0, 2, 0)),  # the web stood still
        ([("p", 0.0), ("p", 0.3)], _amounts(0.4, 0.1, 2, 0)),  # a gap of 0.1 m
        ([("p", 0.0), ("s", 0.1), ("s", 0.2), ("p", 0.3)], _amounts(0.4, 0.1, 2, 2)),
        ([("p", 0.0), ("s", 0.1), ("p", 0.15)], _amounts(0.35, 0.0, 2, 1)),  # covered after all
        ([("p", 0.0), ("s", 0.1)], _amounts(0.2, 0.1, 1, 1)),  # the last 0.1 m once flushed
        ([("s", 0.0), ("s", 0.2), ("p", 0.4)], _amounts(0.2, 0.4, 1, 2)),
    ],
)
def test_inspected_and_skipped_fabric(
    frames: list[tuple[str, float]], expected: tuple[float, float, float, float, int, int]
) -> None:
    meter = _meter()
    _feed(meter, frames)
    meter.flush()
    assert _as_tuple(meter.totals) == pytest.approx(expected)


def test_skipped_fabric_is_settled_once_the_web_moved_past_it() -> None:
    meter = _meter()
    _feed(meter, [("p", 0.0), ("s", 0.1), ("s", 0.2)])
    assert meter.totals.skipped_m == pytest.approx(0.0)  # up to 0.2 m covered by the first frame
    meter.add_skipped(0.3)
    assert meter.totals.skipped_m == pytest.approx(0.1)  # 0.2 .. 0.3 m passed uncovered
    meter.add_processed(0.35)  # covers 0.35 .. 0.55: of 0.3 .. 0.35 nothing was seen
    assert meter.totals.skipped_m == pytest.approx(0.15)
    meter.flush()
    assert _as_tuple(meter.totals) == pytest.approx(_amounts(0.4, 0.15, 2, 3))


def test_a_frame_skipped_at_a_time_is_placed_by_the_odometer() -> None:
    calibration = Calibration(mm_per_px=0.5, web_width_mm=WIDTH_MM, speed_m_per_min=60.0)
    meter = _meter()
    timed = CoverageMeter(WIDTH_MM, FRAME_M, odometer=WebOdometer(calibration, start_t_ns=0))
    for each in (meter, timed):
        each.add_processed(0.0)
    meter.add_skipped(0.2)
    timed.add_skipped_at(200_000_000)  # 0.2 s at 1 m/s: 0.2 m
    for each in (meter, timed):
        each.add_processed(0.4)
        each.flush()
    assert _as_tuple(timed.totals) == pytest.approx(_as_tuple(meter.totals))
    assert _as_tuple(timed.totals) == pytest.approx(_amounts(0.4, 0.2, 2, 1))
    with pytest.raises(ValueError, match="needs the meter to have an odometer"):
        meter.add_skipped_at(0)


def test_take_period_returns_amounts_since_the_last_call_and_totals_go_on() -> None:
    meter = _meter()
    _feed(meter, [("p", 0.0), ("p", 0.1)])
    first = meter.take_period()
    assert _as_tuple(first) == pytest.approx(_amounts(0.3, 0.0, 2, 0))
    assert _as_tuple(meter.take_period()) == _amounts(0.0, 0.0, 0, 0)
    _feed(meter, [("s", 0.2), ("p", 0.5)])  # 0.3 .. 0.5 passed uncovered
    assert _as_tuple(meter.take_period()) == pytest.approx(_amounts(0.2, 0.2, 1, 1))
    assert _as_tuple(meter.totals) == pytest.approx(_amounts(0.5, 0.2, 3, 1))


def test_square_metres_are_metres_times_the_web_width() -> None:
    meter = CoverageMeter(web_width_mm=2500.0, frame_length_m=0.4)
    _feed(meter, [("p", 10.0), ("p", 10.2), ("s", 10.6), ("p", 11.0)])
    meter.flush()
    # inspected 10.0 .. 10.6 and 11.0 .. 11.4 = 1.0 m = 2.5 m2; skipped 10.6 .. 11.0 = 0.4 m = 1 m2
    assert _as_tuple(meter.totals) == pytest.approx((1.0, 2.5, 0.4, 1.0, 3, 1))


def test_frames_a_little_out_of_order_count_within_the_settle_lag() -> None:
    strict, lenient = _meter(), _meter(settle_lag_m=0.2)
    for meter in (strict, lenient):
        _feed(meter, [("p", 0.0), ("p", 0.3), ("p", 0.1)])  # the frame at 0.1 m comes late
        meter.flush()
    assert _as_tuple(lenient.totals) == pytest.approx(_amounts(0.5, 0.0, 3, 0))
    # Without a lag the gap was settled as skipped before the late frame came; nothing is doubled.
    assert _as_tuple(strict.totals) == pytest.approx(_amounts(0.4, 0.1, 3, 0))


def test_a_new_roll_starts_afresh() -> None:
    meter = _meter()
    _feed(meter, [("p", 50.0), ("s", 50.2)])
    meter.start_roll()  # settles the old roll: 50.2 .. 50.4 skipped
    _feed(meter, [("p", 0.0), ("p", 0.1)])
    meter.flush()
    assert _as_tuple(meter.totals) == pytest.approx(_amounts(0.5, 0.2, 3, 1))


@pytest.mark.parametrize("arguments", [(0.0, 0.2, 0.0), (1000.0, 0.0, 0.0), (1000.0, 0.2, -0.1)])
def test_meter_refuses_sizes_that_are_not_positive(arguments: tuple[float, float, float]) -> None:
    width, length, lag = arguments
    with pytest.raises(ValueError, match="expected web_width_mm > 0"):
        CoverageMeter(web_width_mm=width, frame_length_m=length, settle_lag_m=lag)


@pytest.mark.parametrize("seed", range(40))
def test_inspected_and_skipped_add_up_to_the_fabric_that_passed(seed: int) -> None:
    rng = random.Random(seed)
    steps = [
        (rng.random() < 0.6, rng.uniform(0.0, 0.5), rng.uniform(0.05, 0.5))
        for _ in range(rng.randint(1, 30))
    ]
    meter = _meter()
    top_m, first_m, reach_m = 0.0, 0.0, 0.0
    for index, (processed, advance_m, length_m) in enumerate(steps):
        top_m += advance_m
        if index == 0:
            first_m = top_m
        reach_m = max(reach_m, top_m + length_m)
        (meter.add_processed if processed else meter.add_skipped)(top_m, length_m)
    meter.flush()
    totals = meter.totals
    assert totals.inspected_m + totals.skipped_m == pytest.approx(reach_m - first_m)
    assert totals.inspected_m <= sum(length for p, _, length in steps if p) + 1e-9
    assert totals.frames_processed + totals.frames_skipped == len(steps)
