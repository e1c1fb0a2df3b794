"""`loomsight synth` and the dataset writer: deterministic, valid YOLO output, clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from loomsight.datasets.labels import read_yolo_labels
from loomsight.datasets.layout import image_size_wh, list_items
from loomsight.datasets.synth.dataset import SynthKind, SynthOptions, generate_dataset, make_image
from loomsight.datasets.synth.defects import FABRIC_CLASSES
from loomsight.datasets.synth.yarn_board import YARN_CLASSES
from loomsight.errors import DatasetError
from tests.conftest import RunCli


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file() and path.name != "data.yaml"  # data.yaml holds the absolute path
    }


def test_same_seed_same_files_whatever_the_worker_count(tmp_path: Path) -> None:
    options = SynthOptions(count=6, seed=3, size_wh=(96, 80))
    generate_dataset(options, tmp_path / "one", workers=1)
    generate_dataset(options, tmp_path / "two", workers=2)
    assert _files(tmp_path / "one") == _files(tmp_path / "two")
    other = make_image(SynthOptions(count=6, seed=4, size_wh=(96, 80)), 0)
    assert not np.array_equal(other.image, make_image(options, 0).image)


@pytest.mark.parametrize(
    ("kind", "classes"),
    [(SynthKind.FABRIC, FABRIC_CLASSES), (SynthKind.YARN_BOARD, YARN_CLASSES)],
)
def test_output_is_a_valid_yolo_dataset(
    tmp_path: Path, kind: SynthKind, classes: tuple[str, ...]
) -> None:
    options = SynthOptions(
        count=8, seed=1, size_wh=(160, 128), kind=kind, classes=classes, defect_free_share=0.25
    )
    summary = generate_dataset(options, tmp_path, workers=1)
    data = yaml.safe_load((tmp_path / "data.yaml").read_text())
    assert data["names"] == dict(enumerate(classes))
    items = list_items(tmp_path)
    assert len(items) == summary.images == 8
    total_boxes = 0
    for item in items:
        assert image_size_wh(item.image_path) == (160, 128)
        labels = read_yolo_labels(item.label_path, (160, 128))
        total_boxes += len(labels)
        # YOLO text keeps 6 decimals: a box may end a hundredth of a pixel past the edge.
        assert np.all(labels.xyxy_px >= -0.01) and np.all(labels.xyxy_px[:, [0, 2]] <= 160.01)
        assert np.all(labels.class_id < len(classes))
    assert total_boxes == sum(summary.boxes_per_class.values()) > 0


def test_defect_free_share_of_one_gives_only_empty_label_files(tmp_path: Path) -> None:
    generate_dataset(SynthOptions(count=4, size_wh=(64, 64), defect_free_share=1.0), tmp_path)
    assert all(item.label_path.read_text() == "" for item in list_items(tmp_path))


def test_only_the_asked_classes_are_planted() -> None:
    options = SynthOptions(
        count=10, size_wh=(128, 128), classes=("hole", "stain"), defect_free_share=0
    )
    for index in range(10):
        sample = make_image(options, index)
        assert {d.class_name for d in sample.defects} <= {"hole", "stain"}
        assert len(sample.labels) == len(sample.defects) >= 1


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"count": 0}, "at least 1 image"),
        ({"count": 1, "classes": ("hole", "nep")}, "unknown fabric classes"),
        ({"count": 1, "size_wh": (16, 640)}, "at least 32x32"),
        ({"count": 1, "mm_per_px": 0.0}, "mm per pixel"),
        ({"count": 1, "defect_free_share": 1.5}, "defect-free share"),
    ],
)
def test_bad_options_are_refused_with_the_reason(options: dict[str, object], message: str) -> None:
    with pytest.raises(DatasetError, match=message):
        SynthOptions(**options)  # type: ignore[arg-type]


def test_cli_writes_a_dataset_and_says_what_it_made(run_cli: RunCli, tmp_path: Path) -> None:
    result = run_cli(
        "synth",
        "--out",
        str(tmp_path / "d"),
        "-n",
        "5",
        "--size",
        "128x96",
        "--seed",
        "2",
        "--workers",
        "1",
        check=True,
    )
    assert "wrote 5 fabric images" in result.stdout
    assert len(list((tmp_path / "d" / "labels").glob("*.txt"))) == 5
    again = run_cli("synth", "--out", str(tmp_path / "d"), "-n", "5")
    assert again.returncode == 2 and "--overwrite" in again.stderr
    (tmp_path / "d" / "notes.txt").write_text("mine")
    replaced = run_cli("synth", "--out", str(tmp_path / "d"), "-n", "2", "--overwrite", check=True)
    assert "wrote 2 fabric images" in replaced.stdout
    assert len(list((tmp_path / "d" / "images").iterdir())) == 2
    assert (tmp_path / "d" / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--size", "big"], "WIDTHxHEIGHT"),
        (["--kind", "carpet"], "expected one of fabric, yarn-board"),
        (["--classes", "hole,nep"], "unknown fabric classes ['nep']"),
        (["--weaves", "plain,leno"], "expected one of plain, twill, satin, knit"),
        (["--color", "sepia"], "mixed, gray or color"),
    ],
)
def test_cli_bad_input_gives_one_clear_line(
    run_cli: RunCli, tmp_path: Path, args: list[str], message: str
) -> None:
    result = run_cli("synth", "--out", str(tmp_path / "d"), "-n", "2", *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
