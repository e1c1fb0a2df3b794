"""The softmax benchmark runs end to end on the shipped checkpoint and prints its table."""

from __future__ import annotations

import sys

import pytest

from benchmarks import softmax_written_out
from tests.conftest import REPO_ROOT


@pytest.mark.slow
def test_the_softmax_benchmark_compares_both_graphs(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    model = REPO_ROOT / "weights" / "default" / "model.pt"
    argv = ["softmax_written_out", "--model", str(model), "--rounds", "1", "--runs", "1"]
    monkeypatch.setattr(sys, "argv", argv)
    softmax_written_out.main()
    out = capsys.readouterr().out
    for row in ("fp32 as exported", "fp32 written out", "int8 as exported", "int8 written out"):
        assert out.count(row) == 2, row  # batch 1 and 3
    lines = [line for line in out.splitlines() if "largest output difference" in line]
    differences = [float(line.rsplit(" ", 1)[1]) for line in lines]
    assert len(differences) == 4 and max(differences) < 1e-2
