"""The 4-point system (ASTM D5430) for grading a roll of fabric: pure functions.

A defect scores by its length in inches, the larger of its extent along and across the web:
up to 3 in 1 point, over 3 up to 6 in 2, over 6 up to 9 in 3, over 9 in 4. A hole scores 4
whatever its size (a simplification: the standard gives holes of 1 in or less 2 points). No
linear yard of the roll scores more than 4 points. A defect longer than a yard along the roll
scores 4 points in every yard it touches; any other defect scores in the yard of its centre.
The roll's score is points per 100 square yards: points x 3600 / (width in x length yd).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from loomsight.api.report_settings import REJECTED, GradeStep

MM_PER_INCH = 25.4
M_PER_YARD = 0.9144
INCHES_PER_YARD = 36.0
MAX_POINTS_PER_YARD = 4
SQ_IN_PER_100_SQ_YD = 3600.0  # 100 sq yd = 129,600 sq in = 3600 x 36 in
LIMIT_TOLERANCE = 1e-9  # a score on the limit passes despite rounding
_ROUND = 9  # inches: 76.2 mm is 3 in, not 3.0000000000000004


def scored_length_in(length_mm: float, width_mm: float) -> float:
    """The length that scores: the larger extent, along or across, in inches."""
    return round(max(length_mm, width_mm) / MM_PER_INCH, _ROUND)


def defect_points(length_in: float, is_hole: bool) -> int:
    """1 to 4 points for a defect LENGTH_IN inches long (holes 4)."""
    if length_in < 0 or math.isnan(length_in):
        raise ValueError(f"a defect length must be 0 or more inches, got {length_in}")
    if is_hole or length_in > 9:
        return 4
    if length_in > 6:
        return 3
    if length_in > 3:
        return 2
    return 1


def yards_touched(position_m: float, length_mm: float) -> range:
    """The linear yards (0 = the first) a defect centred at POSITION_M along the roll touches."""
    half_m = length_mm / 2000
    first = max(math.floor((position_m - half_m) / M_PER_YARD), 0)
    last = max(math.ceil((position_m + half_m) / M_PER_YARD) - 1, first)
    return range(first, last + 1)


@dataclass(frozen=True)
class DefectSize:
    """What scoring needs of a defect: centre along the roll, extents, and whether a hole."""

    position_m: float
    length_mm: float
    width_mm: float
    is_hole: bool


@dataclass(frozen=True)
class ScoredDefect:
    length_in: float
    points: int  # the defect's own score (per yard for a defect longer than a yard)
    yards: tuple[int, ...]  # where its points go


@dataclass(frozen=True)
class YardScore:
    yard: int
    raw_points: int
    points: int  # capped at MAX_POINTS_PER_YARD


def score_defect(defect: DefectSize) -> ScoredDefect:
    length_in = scored_length_in(defect.length_mm, defect.width_mm)
    points = defect_points(length_in, defect.is_hole)
    if defect.length_mm / MM_PER_INCH > INCHES_PER_YARD:
        yards = tuple(yards_touched(defect.position_m, defect.length_mm))
        return ScoredDefect(length_in, MAX_POINTS_PER_YARD, yards)
    yard = max(math.floor(defect.position_m / M_PER_YARD), 0)
    return ScoredDefect(length_in, points, (yard,))


def yard_scores(scored: Sequence[ScoredDefect]) -> list[YardScore]:
    """Points per yard, raw and capped at 4, for the yards that have any; by yard."""
    raw: dict[int, int] = defaultdict(int)
    for defect in scored:
        for yard in defect.yards:
            raw[yard] += defect.points
    return [
        YardScore(yard, points, min(points, MAX_POINTS_PER_YARD))
        for yard, points in sorted(raw.items())
    ]


def points_per_100_sq_yd(points: int, width_mm: float, length_m: float) -> float:
    """POINTS x 3600 / (width in inches x length in yards)."""
    width_in = width_mm / MM_PER_INCH
    length_yd = length_m / M_PER_YARD
    if width_in <= 0 or length_yd <= 0:
        raise ValueError(f"width and length must be positive, got {width_mm} mm x {length_m} m")
    return points * SQ_IN_PER_100_SQ_YD / (width_in * length_yd)


def grade(score: float, steps: Sequence[GradeStep]) -> str:
    """The first grade step whose limit SCORE does not exceed; REJECTED over the last one."""
    for step in sorted(steps, key=lambda s: s.max_points_per_100_sq_yd):
        if score <= step.max_points_per_100_sq_yd + LIMIT_TOLERANCE:
            return step.grade
    return REJECTED
