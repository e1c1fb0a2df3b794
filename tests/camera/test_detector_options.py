"""The detector options an agent runs with: frames resampled from the camera's scale to the
model's when `detector.model_mm_per_px` is set."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from loomsight.camera.assemble import build_agent, detector_options
from loomsight.camera.settings import load_settings
from loomsight.errors import ConfigError
from tests.conftest import REPO_ROOT

MODEL = REPO_ROOT / "weights" / "default" / "model.onnx"


def _settings(calibration: dict[str, Any], detector: dict[str, Any]) -> dict[str, Any]:
    return {
        "machine_id": "loom-1",
        "camera_id": "cam-1",
        "source": {"type": "synthetic", "max_frames": 1},
        "calibration": {"web_width_mm": 1000, "speed_m_per_min": 20, **calibration},
        "detector": detector,
    }


@pytest.mark.parametrize(
    ("calibration", "model_mm_per_px", "scale"),
    [
        ({"mm_per_px": 0.3}, 0.15, (2.0, 2.0)),  # a camera twice as far: frames enlarged 2x
        ({"mm_per_px": 0.05}, 0.1, (0.5, 0.5)),
        ({"mm_per_px": 0.1, "mm_per_px_along": 0.25}, 0.1, (1.0, 2.5)),  # line-scan rows apart
    ],
)
def test_frames_are_resampled_to_the_model_scale(
    calibration: dict[str, Any], model_mm_per_px: float, scale: tuple[float, float]
) -> None:
    detector = {"model_mm_per_px": model_mm_per_px, "options": {"flip_views": []}}
    options = detector_options(load_settings(None, _settings(calibration, detector)))
    assert options.image_scale == pytest.approx(scale)
    assert options.flip_views == ()  # the other options stay


def test_without_a_model_scale_the_options_are_as_given() -> None:
    settings = load_settings(None, _settings({"mm_per_px": 0.3}, {"options": {"image_scale": 3}}))
    assert detector_options(settings).image_scale == 3
    assert detector_options(load_settings(None, _settings({"mm_per_px": 0.3}, {}))).image_scale == 1


def test_a_model_scale_and_an_image_scale_are_refused_together() -> None:
    detector = {"model_mm_per_px": 0.15, "options": {"image_scale": 2}}
    with pytest.raises(ConfigError, match=r"model_mm_per_px or detector\.options\.image_scale"):
        load_settings(None, _settings({"mm_per_px": 0.3}, detector))


def test_the_agent_runs_its_detector_with_the_resampling(tmp_path: Path) -> None:
    settings = _settings({"mm_per_px": 0.05}, {"model": str(MODEL), "model_mm_per_px": 0.1})
    settings |= {"outbox": {"path": str(tmp_path / "outbox.sqlite")}, "metrics_port": None}
    with ExitStack() as stack:
        agent = build_agent(load_settings(None, settings), stack)
        assert agent.pipeline.detector.options.image_scale == pytest.approx((0.5, 0.5))
