"""The 4-point system (ASTM D5430) as tables: points by length, holes, the cap of 4 points per
linear yard, points per 100 square yards and grades."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from loomsight.api.grading import (
    DefectSize,
    defect_points,
    grade,
    points_per_100_sq_yd,
    score_defect,
    yard_scores,
)
from loomsight.api.report_settings import GradeStep, ReportSettings, Shift

INCH = 25.4
YARD_M = 0.9144


@pytest.mark.parametrize(
    ("length_mm", "width_mm", "is_hole", "points"),
    [
        pytest.param(10.0, 2.0, False, 1, id="small"),
        pytest.param(3 * INCH, 1.0, False, 1, id="3 in exactly: 1"),
        pytest.param(3 * INCH + 0.1, 1.0, False, 2, id="just over 3 in: 2"),
        pytest.param(6 * INCH, 1.0, False, 2, id="6 in exactly: 2"),
        pytest.param(6 * INCH + 0.1, 1.0, False, 3, id="just over 6 in: 3"),
        pytest.param(9 * INCH, 1.0, False, 3, id="9 in exactly: 3"),
        pytest.param(9 * INCH + 0.1, 1.0, False, 4, id="just over 9 in: 4"),
        pytest.param(1.0, 9 * INCH + 0.1, False, 4, id="across counts when larger"),
        pytest.param(4 * INCH, 7 * INCH, False, 3, id="the larger extent counts"),
        pytest.param(2.0, 2.0, True, 4, id="a tiny hole: 4"),
        pytest.param(30 * INCH, 2.0, True, 4, id="a long hole: 4"),
    ],
)
def test_a_defect_scores_by_its_larger_extent_in_inches(
    length_mm: float, width_mm: float, is_hole: bool, points: int
) -> None:
    assert score_defect(DefectSize(10.0, length_mm, width_mm, is_hole)).points == points


@pytest.mark.parametrize("length_in", [-1.0, float("nan")])
def test_a_negative_or_nan_length_is_refused(length_in: float) -> None:
    with pytest.raises(ValueError, match="0 or more inches"):
        defect_points(length_in, False)


def _at(position_m: float, length_mm: float = 10.0, is_hole: bool = False) -> DefectSize:
    return DefectSize(position_m, length_mm, 2.0, is_hole)


@pytest.mark.parametrize(
    ("defects", "yards"),
    [
        pytest.param([_at(0.1)], [(0, 1, 1)], id="one small defect"),
        pytest.param(
            [_at(0.1, 8 * INCH), _at(0.5, 8 * INCH)], [(0, 6, 4)], id="two 3-pointers: capped 4"
        ),
        pytest.param(
            [_at(0.1), _at(0.2), _at(0.3)], [(0, 3, 3)], id="three 1-pointers: under the cap"
        ),
        pytest.param([_at(0.5, is_hole=True), _at(0.6)], [(0, 5, 4)], id="a hole and more"),
        pytest.param(
            [_at(YARD_M - 0.01), _at(YARD_M + 0.01)], [(0, 1, 1), (1, 1, 1)], id="either side"
        ),
        pytest.param(
            [_at(5.0, 2000.0)], [(4, 4, 4), (5, 4, 4), (6, 4, 4)], id="2 m long: 4 per yard"
        ),
        pytest.param(
            [_at(5.0, 2000.0), _at(5.0)], [(4, 4, 4), (5, 5, 4), (6, 4, 4)], id="long and short"
        ),
    ],
)
def test_points_go_to_yards_and_no_yard_scores_over_4(
    defects: list[DefectSize], yards: list[tuple[int, int, int]]
) -> None:
    scores = yard_scores([score_defect(d) for d in defects])

    assert [(y.yard, y.raw_points, y.points) for y in scores] == yards


@pytest.mark.parametrize(
    ("points", "width_mm", "length_m", "expected"),
    [
        pytest.param(40, 72 * INCH, 100 * YARD_M, 20.0, id="72 in x 100 yd"),
        pytest.param(10, 36 * INCH, 100 * YARD_M, 10.0, id="36 in x 100 yd"),
        pytest.param(0, 60 * INCH, 50.0, 0.0, id="no points"),
        pytest.param(7, 1800.0, 120.0, 7 * 3600 / (1800 / INCH * 120 / YARD_M), id="metric"),
    ],
)
def test_points_per_100_square_yards(
    points: int, width_mm: float, length_m: float, expected: float
) -> None:
    assert points_per_100_sq_yd(points, width_mm, length_m) == pytest.approx(expected)


def test_points_per_100_square_yards_needs_a_width_and_length() -> None:
    with pytest.raises(ValueError, match="must be positive"):
        points_per_100_sq_yd(3, 0.0, 100.0)


A_ONLY = (GradeStep(grade="A", max_points_per_100_sq_yd=40),)
TABLE = (
    GradeStep(grade="first", max_points_per_100_sq_yd=20),
    GradeStep(grade="second", max_points_per_100_sq_yd=40),
)


@pytest.mark.parametrize(
    ("score", "steps", "expected"),
    [
        (0.0, A_ONLY, "A"),
        (40.0, A_ONLY, "A"),
        (40.01, A_ONLY, "rejected"),
        (points_per_100_sq_yd(80, 72 * INCH, 100 * YARD_M), A_ONLY, "A"),  # 40.000000000x
        (19.9, TABLE, "first"),
        (20.5, TABLE, "second"),
        (41.0, TABLE, "rejected"),
    ],
)
def test_grade_against_the_limits(
    score: float, steps: tuple[GradeStep, ...], expected: str
) -> None:
    assert grade(score, steps) == expected


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"shifts": [{"name": "a", "start": "06:00"}, {"name": "b", "start": "06:00"}]},
            "distinct",
        ),
        ({"shifts": [{"name": "a", "start": "06:00:30"}]}, "HH:MM"),
        ({"shifts": []}, "at least 1"),
        (
            {
                "grades": [
                    {"grade": "A", "max_points_per_100_sq_yd": 40},
                    {"grade": "B", "max_points_per_100_sq_yd": 20},
                ]
            },
            "rise",
        ),
        ({"grades": [{"grade": "rejected", "max_points_per_100_sq_yd": 40}]}, "last limit"),
        ({"coverage_gap_s": 0}, "greater than 0"),
        ({"colour": "red"}, "Extra inputs"),
    ],
)
def test_report_settings_refuse_what_cannot_work(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ReportSettings.model_validate(fields)


def test_default_report_settings_are_three_shifts_and_grade_a_up_to_40() -> None:
    settings = ReportSettings()

    assert [(s.name, s.start.hour) for s in settings.sorted_shifts()] == [
        ("early", 6),
        ("late", 14),
        ("night", 22),
    ]
    assert settings.grades == (GradeStep(grade="A", max_points_per_100_sq_yd=40.0),)
    assert Shift(name="x", start="07:30").start.minute == 30  # type: ignore[arg-type]
