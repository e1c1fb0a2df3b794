"""The agent runs the article's texture-anomaly model when one lies beside its ONNX file: what
the detector does not report and the cloth's texture shows becomes an `anomaly` event where a
defect is; clean cloth raises hardly any; the settings can turn it off; overlapping boxes are the
detector's."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from loomsight.article.scoring import threshold_for_false_alarms
from loomsight.article.texture import fit_texture_model
from loomsight.camera.assemble import texture_beside
from loomsight.camera.settings import ModelSettings, load_settings
from loomsight.datasets.synth.moving_web import MovingWeb
from loomsight.inference.detections import Detections
from loomsight.inference.texture_anomaly import ANOMALY_CLASS, TEXTURE_FILE
from loomsight.schema import DefectEvent
from tests.camera.test_agent import HEIGHT_PX, MM_PER_PX, WIDTH_PX, _outbox_items, _run, _settings
from tests.conftest import REPO_ROOT

SEED = 4  # the web of tests/camera/test_agent.py
CELL_PX = 24


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default model with a texture model of the clean web beside it."""
    folder = tmp_path_factory.mktemp("weights") / "loom-1-plain"
    shutil.copytree(REPO_ROOT / "weights" / "default", folder)
    web = MovingWeb(SEED, WIDTH_PX, HEIGHT_PX, MM_PER_PX, defects_per_100m=0)
    frames = [web.frame_at(i * web.frame_length_m, i).image for i in range(90)]
    model = fit_texture_model(frames[:60], CELL_PX)
    unseen = np.array([model.score(frame) for frame in frames[60:]])
    model.with_threshold(threshold_for_false_alarms(unseen, 0.0)).save(folder / TEXTURE_FILE)
    return folder


def _anomalies(
    tmp_path: Path, model_folder: Path, defects_per_100m: float, texture: bool
) -> list[DefectEvent]:
    settings = _settings(
        tmp_path,
        frames=24,
        detector={
            "model": str(model_folder / "model.onnx"),
            "threads": 1,
            "options": {"conf_threshold": 0.99},  # the detector all but silent
            "texture_anomaly": texture,
        },
    )
    settings["source"]["defects_per_100m"] = defects_per_100m
    report = _run(load_settings(None, settings))
    events, _ = _outbox_items(tmp_path / "outbox" / "agent.sqlite")
    assert report.frames_processed == 24
    return [event for event in events if event.class_name == ANOMALY_CLASS]


@pytest.mark.slow
def test_defects_the_detector_misses_become_anomaly_events_where_they_are(
    tmp_path: Path, model_folder: Path
) -> None:
    anomalies = _anomalies(tmp_path / "on", model_folder, 2000, texture=True)
    web = MovingWeb(SEED, WIDTH_PX, HEIGHT_PX, MM_PER_PX, defects_per_100m=2000)
    planted = web.defects_between(0.0, 2.0)

    def gap_mm(event: DefectEvent) -> float:
        """From the event's box to the nearest planted defect's (0 where they overlap)."""
        return min(
            np.hypot(
                (event.position_m - defect.position_m) * 1000, event.across_mm - defect.across_mm
            )
            - (max(defect.length_mm, defect.width_mm) + max(event.length_mm, event.width_mm)) / 2
            for defect in planted
        )

    at_defects = [event for event in anomalies if gap_mm(event) < 5.0]
    print(f"{len(at_defects)} of {len(anomalies)} anomaly events at planted defects")
    assert len(at_defects) >= 5
    assert len(at_defects) >= 0.8 * len(anomalies)
    assert _anomalies(tmp_path / "off", model_folder, 2000, texture=False) == []


@pytest.mark.slow
def test_clean_cloth_raises_hardly_any_anomaly(tmp_path: Path, model_folder: Path) -> None:
    """The threshold is the highest score of 30 clean frames: of 24 more, at most one (4%)
    may reach it."""
    assert len(_anomalies(tmp_path, model_folder, 0, texture=True)) <= 1


def test_the_texture_model_is_the_one_beside_the_onnx_file(model_folder: Path) -> None:
    onnx = model_folder / "model.onnx"
    assert texture_beside(onnx, ModelSettings(model=str(onnx))) is not None
    assert texture_beside(onnx, ModelSettings(model=str(onnx), texture_anomaly=False)) is None
    default = REPO_ROOT / "weights" / "default" / "model.onnx"
    assert texture_beside(default, ModelSettings()) is None


def test_anomaly_boxes_that_overlap_a_detection_are_left_to_the_detector(
    model_folder: Path,
) -> None:
    texture = texture_beside(model_folder / "model.onnx", ModelSettings())
    assert texture is not None
    frame = MovingWeb(SEED, WIDTH_PX, HEIGHT_PX, MM_PER_PX, defects_per_100m=0).frame_at(0.5)
    image = frame.image.copy()
    image[100:140, 200:240] = 20  # a dark patch: a hole
    alone = texture.beside(Detections.empty(), image, class_id=9)
    assert len(alone) == 1 and alone.class_id.tolist() == [9]
    hole = Detections(np.array([[205, 105, 235, 135]], np.float32), np.ones(1), np.zeros(1))
    assert texture.beside(hole, image, class_id=9).class_id.tolist() == [0]
    elsewhere = Detections(np.array([[0, 0, 30, 30]], np.float32), np.ones(1), np.zeros(1))
    assert texture.beside(elsewhere, image, class_id=9).class_id.tolist() == [0, 9]
