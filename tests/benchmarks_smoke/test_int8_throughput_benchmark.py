"""The int8 throughput benchmark exports a model both ways and times it, with lanes and without."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest

from benchmarks import int8_throughput


def test_the_int8_throughput_benchmark_times_both_files_with_and_without_lanes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    if importlib.util.find_spec("ultralytics") is None:
        pytest.skip("ultralytics is not installed (train extra)")
    monkeypatch.setenv("LOOMSIGHT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("YOLO_VERBOSE", "False")
    argv = ["int8_throughput", "--sizes", "160", "--frames", "3", "--rounds", "1"]
    argv += ["--frame-wh", "480x200", "--tiling", "auto", "--flip-views", "h"]
    monkeypatch.setattr(sys, "argv", argv)
    int8_throughput.main()
    out = capsys.readouterr().out
    assert re.search(r"480x200 frames\s+\(tiling\s+auto,\s+flip\s+views\s+h\)", out)  # title wraps
    for label in ["fp32", "int8", "fp32, one session", "int8, one session"]:
        assert re.search(rf"│ +160 │ +{re.escape(label)} │", out), label
    assert out.count("1.00x") == 2  # each fp32 row against itself
