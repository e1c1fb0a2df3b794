"""Collecting defect-free cloth from a camera source: the length asked for, frames that share no
cloth, positions from the frames (encoder) or their order (a folder)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from loomsight.article.collect import collect_frames
from loomsight.camera.calibration import Calibration
from loomsight.camera.sources import FolderSourceConfig, SyntheticSourceConfig, open_source
from loomsight.errors import ConfigError

# 64 rows at 0.5 mm/px: 32 mm of cloth per frame; 0.6 m/min at 10 fps: 1 mm per frame
SYNTH = SyntheticSourceConfig(
    seed=3, width_px=64, frame_height_px=64, mm_per_px=0.5, speed_m_per_min=12.0, fps=10.0
)
CALIBRATION = Calibration(mm_per_px=0.5, web_width_mm=32.0, speed_m_per_min=12.0)


def test_overlapping_frames_are_thinned_to_ones_that_share_no_cloth() -> None:
    """Frames 20 mm apart, 32 mm long: every other one is kept; 0.3 m asked for."""
    progress: list[float] = []
    collected = collect_frames(
        open_source(SYNTH), CALIBRATION, 0.3, on_progress=lambda done, _: progress.append(done)
    )
    assert collected.covered_m >= 0.3 and collected.covered_m < 0.3 + 0.02 + 0.032
    assert np.all(np.diff(collected.top_m) >= collected.frame_length_m - 1e-9)
    assert collected.frames_read == pytest.approx(len(collected.images) * 2, abs=2)
    assert collected.frame_length_m == pytest.approx(0.032)
    assert progress == sorted(progress) and progress[-1] == collected.covered_m
    assert collected.source_name == "synthetic:3"


def test_a_folder_is_taken_in_order_one_frame_length_each(tmp_path: Path) -> None:
    for index in range(5):
        cv2.imwrite(str(tmp_path / f"{index:02d}.png"), np.full((40, 60), 50 * index, np.uint8))
    source = open_source(FolderSourceConfig(path=tmp_path))
    collected = collect_frames(source, CALIBRATION, 10.0, by_sequence=True)
    assert len(collected.images) == collected.frames_read == 5  # the folder ended first
    assert collected.top_m == pytest.approx([0.0, 0.02, 0.04, 0.06, 0.08])
    assert [int(image.mean()) for image in collected.images] == [0, 50, 100, 150, 200]


def test_a_length_of_nothing_is_refused() -> None:
    with pytest.raises(ConfigError, match="length of cloth above 0 m, got 0"):
        collect_frames(open_source(SYNTH), CALIBRATION, 0.0)
