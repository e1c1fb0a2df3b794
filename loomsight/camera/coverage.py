"""How much fabric the camera really inspected, and how much passed it uninspected.

Each processed frame covers the roll interval [top_m, top_m + frame length]; inspected metres are
the union of these intervals (overlap counted once). Fabric that passed the camera but that no
processed frame covered counts as skipped: frames dropped under overload, and gaps (a lost source,
frames too far apart). Skipped fabric is settled once the web has moved past it, that is behind the
latest frame's top (less `settle_lag_m`, for frames reported a little out of order), since a later
frame may still cover it; `flush()` settles everything at the end of a roll or run. Frames must be
reported in the order the web carries them; a processed frame that arrives behind the settled line
adds nothing. Square metres are metres times the web width.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, fields

from loomsight.camera.calibration import WebOdometer

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CoverageAmounts:
    """Fabric inspected and skipped, and frames processed and skipped, over some span of time."""

    inspected_m: float = 0.0
    inspected_m2: float = 0.0
    skipped_m: float = 0.0
    skipped_m2: float = 0.0
    frames_processed: int = 0
    frames_skipped: int = 0

    def __add__(self, other: CoverageAmounts) -> CoverageAmounts:
        return CoverageAmounts(
            **{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)}
        )


class CoverageMeter:
    """Counts inspected and skipped fabric for heartbeats (`take_period`) and in total."""

    def __init__(
        self,
        web_width_mm: float,
        frame_length_m: float,
        odometer: WebOdometer | None = None,
        settle_lag_m: float = 0.0,
    ) -> None:
        if not (web_width_mm > 0 and frame_length_m > 0 and settle_lag_m >= 0):
            raise ValueError(
                "expected web_width_mm > 0, frame_length_m > 0 and settle_lag_m >= 0, got "
                f"{web_width_mm}, {frame_length_m} and {settle_lag_m}"
            )
        self._width_m = web_width_mm / 1000
        self._frame_length_m = frame_length_m
        self._odometer = odometer
        self._settle_lag_m = settle_lag_m
        self._period = CoverageAmounts()
        self._totals = CoverageAmounts()
        self._start_roll()

    @property
    def totals(self) -> CoverageAmounts:
        """Everything counted since the meter was made."""
        return self._totals

    def take_period(self) -> CoverageAmounts:
        """What was counted since the last call (or since the meter was made)."""
        period, self._period = self._period, CoverageAmounts()
        return period

    def add_processed(self, top_m: float, length_m: float | None = None) -> None:
        """A frame was inspected: its first row at `top_m`, `length_m` long (default: a frame)."""
        top_m, end_m = self._interval(top_m, length_m)
        start_m = max(top_m, self._settled_m)
        new_m = 0.0
        if end_m > start_m:
            new_m = max(end_m - start_m - self._covered_within(start_m, end_m), 0.0)
            self._cover(start_m, end_m)
        if start_m > top_m:
            logger.debug("the frame at %.3f m came after %.3f m were settled", top_m, start_m)
        self._count(CoverageAmounts(inspected_m=new_m, frames_processed=1))
        self._moved_to(top_m)

    def add_skipped(self, top_m: float, length_m: float | None = None) -> None:
        """A frame was dropped: its fabric is skipped unless another frame covers it."""
        self._interval(top_m, length_m)
        self._count(CoverageAmounts(frames_skipped=1))
        self._moved_to(top_m)

    def add_skipped_at(self, t_ns: int) -> None:
        """A frame taken at monotonic time `t_ns` was dropped; the odometer says where it was."""
        if self._odometer is None:
            raise ValueError("a frame skipped by time alone needs the meter to have an odometer")
        self.add_skipped(self._odometer.position_m(t_ns))

    def flush(self) -> None:
        """Settle everything up to the furthest frame end (end of a roll or of the run)."""
        self._settle(self._reach_m)

    def start_roll(self) -> None:
        """Settle the old roll and start afresh (positions restart at the new roll's start)."""
        self.flush()
        self._start_roll()

    def _start_roll(self) -> None:
        self._started = False
        self._settled_m = 0.0  # fabric behind this is counted (inspected or skipped) for good
        self._reach_m = 0.0  # the furthest end of any frame
        self._latest_top_m = 0.0
        self._covered: list[tuple[float, float]] = []  # processed, beyond the settled line

    def _interval(self, top_m: float, length_m: float | None) -> tuple[float, float]:
        length_m = self._frame_length_m if length_m is None else length_m
        if not length_m > 0:
            raise ValueError(f"frame length must be positive, got {length_m} m")
        if not self._started:
            self._started = True
            self._settled_m = self._reach_m = self._latest_top_m = top_m
        self._reach_m = max(self._reach_m, top_m + length_m)
        return top_m, top_m + length_m

    def _moved_to(self, top_m: float) -> None:
        self._latest_top_m = max(self._latest_top_m, top_m)
        self._settle(self._latest_top_m - self._settle_lag_m)

    def _settle(self, until_m: float) -> None:
        """Count what no processed frame covered in [settled line, until_m] as skipped."""
        if until_m <= self._settled_m:
            return
        uncovered_m = until_m - self._settled_m - self._covered_within(self._settled_m, until_m)
        self._covered = [(max(a, until_m), b) for a, b in self._covered if b > until_m]
        self._settled_m = until_m
        self._count(CoverageAmounts(skipped_m=max(uncovered_m, 0.0)))

    def _covered_within(self, start_m: float, end_m: float) -> float:
        return sum(max(0.0, min(b, end_m) - max(a, start_m)) for a, b in self._covered)

    def _cover(self, start_m: float, end_m: float) -> None:
        merged: list[tuple[float, float]] = []
        for a, b in sorted([*self._covered, (start_m, end_m)]):
            if merged and a <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], b))
            else:
                merged.append((a, b))
        self._covered = merged

    def _count(self, amounts: CoverageAmounts) -> None:
        amounts = CoverageAmounts(
            inspected_m=amounts.inspected_m,
            inspected_m2=amounts.inspected_m * self._width_m,
            skipped_m=amounts.skipped_m,
            skipped_m2=amounts.skipped_m * self._width_m,
            frames_processed=amounts.frames_processed,
            frames_skipped=amounts.frames_skipped,
        )
        self._period += amounts
        self._totals += amounts
