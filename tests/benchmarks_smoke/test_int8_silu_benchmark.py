"""The int8 SiLU benchmark runs end to end on the shipped model and prints its table."""

from __future__ import annotations

import re
import sys

import pytest

from benchmarks import int8_silu
from tests.conftest import REPO_ROOT


@pytest.mark.slow
def test_the_int8_silu_benchmark_times_both_int8_files(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    model = REPO_ROOT / "weights" / "default"
    argv = ["int8_silu", "--model", str(model), "--rounds", "1", "--runs", "1"]
    monkeypatch.setattr(sys, "argv", argv)
    int8_silu.main()
    out = capsys.readouterr().out
    for row in int8_silu.FILES:
        assert out.count(f"│ {row} ") == 4, row  # 1 and 2 threads, batch 1 and 3
    correlations = [float(c) for c in re.findall(r"score correlation (\d\.\d+)", out)]
    assert len(correlations) == 2 and min(correlations) > 0.98  # a trained model, as exported
