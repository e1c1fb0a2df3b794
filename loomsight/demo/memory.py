"""Resident memory of the demo's processes over time (Linux /proc), and its growth after warm-up.

A process started again (an agent killed and restarted) is a new series: its warm-up starts over.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from pathlib import Path

PROC = Path("/proc")


def rss_mib(pid: int, proc: Path = PROC) -> float | None:
    """Resident set size of PID in MiB; None if it is gone (or there is no /proc)."""
    try:
        text = (proc / str(pid) / "status").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024  # kB
    return None


@dataclass(frozen=True)
class MemoryGrowth:
    """One process: RSS after warm-up (mean of the first samples after it) and at the end (mean of
    the last samples), in MiB; `growth` is their ratio less one."""

    name: str
    pid: int
    samples: int
    start_mib: float
    warm_mib: float
    end_mib: float
    peak_mib: float

    @property
    def growth(self) -> float:
        return self.end_mib / self.warm_mib - 1 if self.warm_mib else 0.0


@dataclass
class MemoryLog:
    """Samples of (seconds since the run started, MiB) per (name, pid)."""

    series: dict[tuple[str, int], list[tuple[float, float]]] = field(default_factory=dict)

    def sample(self, elapsed_s: float, pids: dict[str, int], proc: Path = PROC) -> None:
        for name, pid in pids.items():
            mib = rss_mib(pid, proc)
            if mib is not None:
                self.series.setdefault((name, pid), []).append((elapsed_s, mib))

    def growth(self, warmup_s: float, average_of: int = 3) -> list[MemoryGrowth]:
        """Per series with samples after WARMUP_S from its own first sample: the mean of the first
        AVERAGE_OF of those against the mean of the last AVERAGE_OF."""
        result = []
        for (name, pid), samples in self.series.items():
            first_s = samples[0][0]
            warm = [mib for t, mib in samples if t - first_s >= warmup_s]
            if len(warm) < 2 * average_of:
                continue
            result.append(
                MemoryGrowth(
                    name=name,
                    pid=pid,
                    samples=len(samples),
                    start_mib=samples[0][1],
                    warm_mib=statistics.fmean(warm[:average_of]),
                    end_mib=statistics.fmean(warm[-average_of:]),
                    peak_mib=max(mib for _, mib in samples),
                )
            )
        return result
