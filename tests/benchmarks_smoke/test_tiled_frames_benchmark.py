"""The tiled-frames benchmark renders frames, scores each merging of tiles and prints its table."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import pytest

from benchmarks import tiled_frames
from tests.conftest import REPO_ROOT


@pytest.mark.slow
def test_the_tiled_frames_benchmark_scores_each_merging(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    model = REPO_ROOT / "weights" / "default" / "model.onnx"
    argv = ["tiled_frames", "--model", str(model), "--sets", "700x700@0.15", "--frames", "3"]
    monkeypatch.setattr(sys, "argv", [*argv, "--work", str(tmp_path)])
    tiled_frames.main()
    out = capsys.readouterr().out
    assert len(list((tmp_path / "frames-0" / "images").iterdir())) == 3
    for name in tiled_frames.MERGINGS:
        scores = re.findall(rf"│ {re.escape(name)}\s+│ (\d\.\d+)\s+│ (\d\.\d+)\s+│", out)
        assert len(scores) == 1, name
        assert all(0 <= float(value) <= 1 for value in scores[0])


def test_a_frame_set_is_parsed_or_refused() -> None:
    assert tiled_frames.FrameSet.parse("1280x720@0.15") == tiled_frames.FrameSet((1280, 720), 0.15)
    with pytest.raises(argparse.ArgumentTypeError, match="WxH@MM_PER_PX"):
        tiled_frames.FrameSet.parse("1280x720")
