"""The camera-scale benchmark scores frames as they are and resampled to each model scale."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import pytest

from benchmarks import camera_scale
from tests.conftest import REPO_ROOT


@pytest.mark.slow
def test_the_camera_scale_benchmark_scores_each_model_scale(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    model = REPO_ROOT / "weights" / "default" / "model.onnx"
    argv = ["camera_scale", "--model", str(model), "--sets", "400x300@0.3", "--frames", "2"]
    argv += ["--targets", "0.15,0.6", "--work", str(tmp_path)]
    monkeypatch.setattr(sys, "argv", argv)
    camera_scale.main()
    out = capsys.readouterr().out
    assert len(list((tmp_path / "frames-0" / "images").iterdir())) == 2
    for name, factor in (("as it is", "1"), ("0.15 mm/px", "2"), ("0.6 mm/px", "0.5")):
        scores = re.findall(
            rf"│ {re.escape(name)}\s+│ {factor}\s+│ (\d\.\d+)\s+│ (\d\.\d+)\s+│", out
        )
        assert len(scores) == 1, name
        assert all(0 <= float(value) <= 1 for value in scores[0])


def test_model_scales_are_parsed_or_refused() -> None:
    assert camera_scale._targets("0.07,0.1") == [0.07, 0.1]
    for text in ("0.07,x", "0,0.1"):
        with pytest.raises(argparse.ArgumentTypeError):
            camera_scale._targets(text)
