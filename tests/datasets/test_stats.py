"""`dataset_stats` numbers on a known fixture, and the `dataset stats` command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loomsight.datasets.stats import SizeSummary, dataset_stats
from loomsight.errors import DatasetError
from tests.conftest import RunCli
from tests.datasets.test_check import make_dataset, yolo_line


def _values(summary: SizeSummary | None) -> tuple[float, float, float]:
    assert summary is not None
    return summary.min, summary.median, summary.max


def known_dataset(root: Path) -> Path:
    """4 images: two boxes (20x10 class 0, 40x20 class 1), defect-free, one box (50x25 class 0)
    in a bigger image, and one without a label file."""
    size = (100, 50)
    return make_dataset(
        root,
        {
            "a.jpg": (
                (100, 50),
                yolo_line(0, (10, 10, 30, 20), size) + yolo_line(1, (50, 20, 90, 40), size),
            ),
            "b.jpg": ((100, 50), ""),
            "big/c.png": ((200, 100), yolo_line(0, (0, 0, 50, 25), (200, 100))),
            "d.jpg": ((100, 50), None),
        },
    )


def test_stats_of_known_dataset(tmp_path: Path) -> None:
    stats = dataset_stats(known_dataset(tmp_path / "ds"), ["hole", "stain"], workers=2)
    assert (stats.images, stats.defect_free_images, stats.unlabelled_images) == (4, 1, 1)
    assert stats.boxes == 3
    assert stats.boxes_per_class == {0: 2, 1: 1}
    assert stats.images_per_class == {0: 2, 1: 1}
    assert _values(stats.box_width_px) == pytest.approx((20, 40, 50), abs=1e-3)
    assert _values(stats.box_height_px) == pytest.approx((10, 20, 25), abs=1e-3)
    assert _values(stats.box_width_frac) == pytest.approx((0.2, 0.25, 0.4), abs=1e-5)
    assert _values(stats.box_height_frac) == pytest.approx((0.2, 0.25, 0.4), abs=1e-5)
    assert stats.image_sizes_wh == {(100, 50): 3, (200, 100): 1}
    content = stats.to_dict()
    assert content["boxes_per_class"] == {"hole": 2, "stain": 1}
    assert content["image_sizes_wh"] == {"100x50": 3, "200x100": 1}
    json.dumps(content)


def test_stats_without_boxes_have_no_size_summaries(tmp_path: Path) -> None:
    stats = dataset_stats(make_dataset(tmp_path / "ds", {"a.jpg": ((16, 16), "")}))
    assert (stats.boxes, stats.defect_free_images) == (0, 1)
    assert stats.box_width_px is None and stats.box_height_frac is None
    assert stats.class_name(0) == "class 0"


@pytest.mark.parametrize(
    ("fault", "named"),
    [("label", "labels/a.txt"), ("image", "images/a.jpg")],
)
def test_stats_raise_naming_the_bad_file(tmp_path: Path, fault: str, named: str) -> None:
    root = make_dataset(tmp_path / "ds", {"a.jpg": ((16, 16), "")})
    if fault == "label":
        (root / "labels/a.txt").write_text("0 0.5 0.5\n")
    else:
        (root / "images/a.jpg").write_bytes(b"")
    with pytest.raises(DatasetError, match=named):
        dataset_stats(root)


def test_cli_stats_prints_tables_and_writes_json(tmp_path: Path, run_cli: RunCli) -> None:
    root = known_dataset(tmp_path / "ds")
    json_path = tmp_path / "out/stats.json"
    result = run_cli("dataset", "stats", str(root), "--json", str(json_path), check=True)
    for text in ("defect-free images", "Boxes per class", "stain", "100 x 50", "width px"):
        assert text in result.stdout
    content = json.loads(json_path.read_text())
    assert content["images"] == 4 and content["boxes_per_class"] == {"hole": 2, "stain": 1}
    assert content["box_width_px"] == pytest.approx({"min": 20, "median": 40, "max": 50}, abs=1e-3)


def test_cli_stats_missing_folder_exits_2(tmp_path: Path, run_cli: RunCli) -> None:
    result = run_cli("dataset", "stats", str(tmp_path / "absent"))
    assert result.returncode == 2
    assert "absent" in result.stderr and "Traceback" not in result.stderr
