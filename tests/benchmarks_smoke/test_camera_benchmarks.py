"""The camera benchmarks run end to end with tiny settings and print their tables."""

from __future__ import annotations

import importlib.util
import tempfile
from pathlib import Path

import pytest

from benchmarks import agent_steady_state, detector_latency


def test_detector_latency_prints_all_runners_and_the_targets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    if importlib.util.find_spec("ultralytics") is None:
        pytest.skip("ultralytics is not installed (train extra)")
    monkeypatch.setenv("LOOMSIGHT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("YOLO_VERBOSE", "False")
    args = ["--sizes", "640x480", "--threads", "2", "--frames", "2", "--rounds", "1"]
    detector_latency.main([*args, "--warmup", "1"])
    out = capsys.readouterr().out
    runners = ["session.run fp32", "ours fp32", "ours fp32, tiled", "ours fp32, lines as found"]
    runners += ["ours fp32, flip views h+v", "ours int8, flip views h+v"]  # the shipped card's
    runners += ["ours int8, tiled, flip views h+v", "ours int8, tiled, one session"]
    runners += ["ultralytics fp32", "ultralytics fp32, rect=False"]
    runners += ["session.run int8", "ours int8, tiled"]
    for runner in runners:
        assert f"│ {runner} " in out, runner
    # one letterboxed frame; 4 tiles on one session, or in 2 lanes side by side
    assert "1x3x416x416" in out and "4x3x416x416" in out and "2 lanes" in out
    assert "640x480, 2 threads: pre+post fp32" in out
    assert "ours int8 vs ours fp32: flip views h+v " in out


def test_agent_steady_state_prints_speed_and_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the outbox goes there
    args = ["--minutes", "0.05", "--threads", "1,2", "--render-frames", "1", "--sample-s", "1"]
    agent_steady_state.main([*args, "--lanes", "on,off"])
    out = capsys.readouterr().out
    assert "3200x416 frames (0.208 m of roll each" in out
    assert "m/min sustained" in out and "resident memory" in out
    assert "RSS MiB, 1 thread(s): 0.0 min" in out
    assert "RSS MiB, 2 thread(s), lanes on: 0.0 min" in out
    assert "RSS MiB, 2 thread(s), lanes off: 0.0 min" in out
    assert list(tmp_path.iterdir()) == []  # the temporary outbox is gone
