"""The clean-cloth benchmark counts alarmed frames and fabrics for each model on the same frames."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from benchmarks import clean_cloth
from benchmarks.tiled_frames import FrameSet
from loomsight.datasets.synth.weave import WeaveKind
from loomsight.inference.detections import Detections
from tests.conftest import REPO_ROOT

NAMES = ("hole", "stain", "crease")
SMALL = FrameSet((160, 96), 0.2)


def _boxes(*class_ids: int) -> Detections:
    count = len(class_ids)
    xyxy = np.tile(np.array([[1.0, 1.0, 9.0, 9.0]], np.float32), (count, 1))
    return Detections(xyxy, np.full(count, 0.5, np.float32), np.array(class_ids, np.int64))


def test_clean_frames_are_the_fabric_without_defects_and_differ_along_the_roll() -> None:
    fabric, images = clean_cloth.clean_frames(5, SMALL, 3)
    assert fabric.seed == 5 and fabric.weave in ("plain", "twill", "satin", "knit")
    assert len(images) == 3
    assert all(image.shape[:2] == (96, 160) and image.dtype == np.uint8 for image in images)
    assert not np.array_equal(images[0], images[1])  # another stretch of the roll
    again = clean_cloth.clean_frames(5, SMALL, 1)[1][0]
    np.testing.assert_array_equal(images[0], again)  # the same cloth for every model


def test_the_fabrics_come_from_the_weaves_asked_for() -> None:
    knits = [clean_cloth.clean_frames(seed, SMALL, 1, (WeaveKind.KNIT,))[0] for seed in (1, 2)]
    assert [fabric.weave for fabric in knits] == ["knit", "knit"]
    woven = {clean_cloth.clean_frames(seed, SMALL, 1)[0].weave for seed in range(1, 13)}
    assert woven == {"plain", "twill", "satin"}  # the moving web's weaves by default


@pytest.mark.parametrize("text", ["wool", ",", "plain,wool"])
def test_unknown_weaves_are_a_clear_error(
    text: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "argv", ["clean_cloth", "--weaves", text])
    with pytest.raises(SystemExit) as stopped:
        clean_cloth.main()
    assert stopped.value.code == 2
    assert "expected weaves from plain, twill, satin, knit" in capsys.readouterr().err


def test_alarms_are_counted_by_frame_fabric_class_and_weave() -> None:
    fabric_a = clean_cloth.Fabric(1, "satin", False)
    fabric_b = clean_cloth.Fabric(2, "satin", True)
    fabric_c = clean_cloth.Fabric(3, "plain", True)
    result = clean_cloth.CleanCloth("m")
    result.add(fabric_a, [_boxes(1, 1), Detections.empty(), _boxes(2)], NAMES)
    result.add(fabric_b, [Detections.empty()] * 3, NAMES)
    result.add(fabric_c, [_boxes(1)] * 3, NAMES)
    assert result.frames_alarmed == {fabric_a: 2, fabric_b: 0, fabric_c: 3}
    assert result.frames_seen == {fabric_a: 3, fabric_b: 3, fabric_c: 3}
    assert result.boxes_by_class == {"stain": 5, "crease": 1}
    assert result.fabrics_alarmed() == [fabric_a, fabric_c]
    assert result.worst(5) == [(fabric_c, 3), (fabric_a, 2)]  # fabrics without alarms left out
    assert result.by_weave() == {"plain": (1, 1), "satin": (1, 2)}


def test_every_model_sees_the_same_frames() -> None:
    seen: dict[str, list[float]] = {"a": [], "b": []}

    def detector(name: str, alarm: bool) -> Callable[[clean_cloth.Frame], Detections]:
        def detect(image: clean_cloth.Frame) -> Detections:
            seen[name].append(float(image.mean()))
            return _boxes(0) if alarm else Detections.empty()

        return detect

    lines: list[str] = []
    results = clean_cloth.measure(
        {"a": (detector("a", True), NAMES), "b": (detector("b", False), NAMES)},
        fabrics=2,
        frames=2,
        frame=SMALL,
        progress=lines.append,
    )
    assert seen["a"] == seen["b"] and len(seen["a"]) == 4
    assert [len(r.fabrics_alarmed()) for r in results] == [2, 0]
    assert [sum(r.frames_alarmed.values()) for r in results] == [4, 0]
    assert len(lines) == 2 and "a 2/2, b 0/2" in lines[0]


@pytest.mark.slow
def test_the_clean_cloth_benchmark_prints_a_row_per_model(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    default = REPO_ROOT / "weights" / "default"
    argv = ["clean_cloth", "--fabrics", "2", "--frames", "1", "--frame", "416x256@0.2"]
    argv += ["--model", str(default / "model.onnx"), "--model", str(default / "model.int8.onnx")]
    monkeypatch.setattr(sys, "argv", argv)
    clean_cloth.main()
    out = capsys.readouterr().out
    for model in ("default/model.onnx", "default/model.int8.onnx"):
        rows = re.findall(rf"│ {re.escape(model)}\s+│ (\d)/2\s+│ (\d)/2 \(", out)
        assert len(rows) == 1, out
        assert all(0 <= int(value) <= 2 for value in rows[0])


def test_no_model_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setattr(clean_cloth, "REPO", tmp_path)  # no weights/default there
    monkeypatch.setattr(sys, "argv", ["clean_cloth", "--fabrics", "1"])
    with pytest.raises(SystemExit) as stopped:
        clean_cloth.main()
    assert stopped.value.code == 2
    assert "no model" in capsys.readouterr().err


def test_a_missing_model_file_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setattr(sys, "argv", ["clean_cloth", "--model", str(tmp_path / "gone.onnx")])
    with pytest.raises(SystemExit) as stopped:
        clean_cloth.main()
    assert stopped.value.code == 2
    assert "gone.onnx: no such file" in capsys.readouterr().err
