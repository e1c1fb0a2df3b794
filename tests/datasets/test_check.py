"""`check_dataset` finds each kind of fault in the right file, and passes a clean dataset."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import cv2
import numpy as np
import pytest

from loomsight.datasets.check import ProblemKind, check_dataset, check_label_text
from loomsight.datasets.layout import write_data_yaml
from loomsight.errors import DatasetError
from tests.conftest import RunCli

NAMES = ("hole", "stain")


def yolo_line(class_id: int, xyxy_px: Sequence[float], resolution_wh: tuple[int, int]) -> str:
    """One YOLO label line for a pixel box."""
    (x1, y1, x2, y2), (width, height) = xyxy_px, resolution_wh
    cx, cy = (x1 + x2) / 2 / width, (y1 + y2) / 2 / height
    return f"{class_id} {cx:.6f} {cy:.6f} {(x2 - x1) / width:.6f} {(y2 - y1) / height:.6f}\n"


def make_dataset(
    root: Path,
    images: Mapping[str, tuple[tuple[int, int], str | None]],
    names: Sequence[str] | None = NAMES,
) -> Path:
    """A dataset at ROOT: `images` maps a relative image path to (resolution_wh, label text or
    None for no label file); each image has its own random content, so no two are identical."""
    for index, (relative, ((width, height), label_text)) in enumerate(images.items()):
        pixels = np.random.default_rng(index).integers(0, 255, (height, width, 3), dtype=np.uint8)
        image_path = root / "images" / relative
        image_path.parent.mkdir(parents=True, exist_ok=True)
        assert cv2.imwrite(str(image_path), pixels)
        if label_text is not None:
            label_path = (root / "labels" / relative).with_suffix(".txt")
            label_path.parent.mkdir(parents=True, exist_ok=True)
            label_path.write_text(label_text, encoding="utf-8")
    if names is not None:
        write_data_yaml(root, names)
    return root


def clean_dataset(root: Path) -> Path:
    return make_dataset(
        root,
        {
            "a.jpg": ((64, 48), yolo_line(0, (8, 8, 24, 20), (64, 48))),
            "b.jpg": ((64, 48), yolo_line(1, (0, 0, 64, 48), (64, 48))),
            "sub/c.png": ((32, 32), ""),
        },
    )


def _write(relative: str, content: bytes | str) -> Callable[[Path], None]:
    def mutate(root: Path) -> None:
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            path.write_text(content, encoding="utf-8")
        else:
            path.write_bytes(content)

    return mutate


def _delete(relative: str) -> Callable[[Path], None]:
    return lambda root: (root / relative).unlink()


def _duplicate(root: Path) -> None:
    shutil.copyfile(root / "images/a.jpg", root / "images/sub/d.jpg")
    shutil.copyfile(root / "labels/a.txt", root / "labels/sub/d.txt")


# fmt: off
FAULTS: list[tuple[str, Callable[[Path], None], ProblemKind, list[str]]] = [
    ("no label file", _delete("labels/b.txt"), ProblemKind.MISSING_LABEL, ["images/b.jpg"]),
    ("label without image", _write("labels/ghost.txt", ""), ProblemKind.ORPHAN_LABEL,
     ["labels/ghost.txt"]),
    ("4 fields", _write("labels/b.txt", "0 0.5 0.5 0.1\n"), ProblemKind.BAD_LINE,
     ["labels/b.txt"]),
    ("not numbers", _write("labels/b.txt", "0 0.5 x 0.1 0.1\n"), ProblemKind.BAD_LINE,
     ["labels/b.txt"]),
    ("class not integer", _write("labels/b.txt", "0.5 0.5 0.5 0.1 0.1\n"), ProblemKind.BAD_LINE,
     ["labels/b.txt"]),
    ("centre > 1", _write("labels/b.txt", "0 1.2 0.5 0.1 0.1\n"), ProblemKind.OUT_OF_RANGE,
     ["labels/b.txt"]),
    ("box past right edge", _write("labels/b.txt", "0 0.98 0.5 0.1 0.1\n"),
     ProblemKind.OUT_OF_RANGE, ["labels/b.txt"]),
    ("zero width", _write("labels/b.txt", "0 0.5 0.5 0 0.1\n"), ProblemKind.BAD_SIZE,
     ["labels/b.txt"]),
    ("negative height", _write("labels/b.txt", "0 0.5 0.5 0.1 -0.1\n"), ProblemKind.BAD_SIZE,
     ["labels/b.txt"]),
    ("class id >= len(names)", _write("labels/b.txt", "2 0.5 0.5 0.1 0.1\n"),
     ProblemKind.UNKNOWN_CLASS, ["labels/b.txt"]),
    ("negative class id", _write("labels/b.txt", "-1 0.5 0.5 0.1 0.1\n"),
     ProblemKind.UNKNOWN_CLASS, ["labels/b.txt"]),
    ("0-byte image", _write("images/b.jpg", b""), ProblemKind.EMPTY_IMAGE, ["images/b.jpg"]),
    ("corrupt image", _write("images/b.jpg", b"not a jpeg"), ProblemKind.UNREADABLE_IMAGE,
     ["images/b.jpg"]),
    ("identical images", _duplicate, ProblemKind.DUPLICATE_IMAGE,
     ["images/a.jpg", "images/sub/d.jpg"]),
]
# fmt: on


@pytest.mark.parametrize(
    ("mutate", "kind", "files"),
    [pytest.param(mutate, kind, files, id=case) for case, mutate, kind, files in FAULTS],
)
def test_each_fault_is_reported_for_its_file(
    tmp_path: Path, mutate: Callable[[Path], None], kind: ProblemKind, files: list[str]
) -> None:
    root = clean_dataset(tmp_path / "ds")
    mutate(root)
    report = check_dataset(root, list(NAMES))
    assert not report.ok
    assert set(report.by_kind()) == {kind}, report.problems
    assert sorted(str(p.path.relative_to(root)) for p in report.problems) == files


def test_clean_dataset_passes(tmp_path: Path) -> None:
    report = check_dataset(clean_dataset(tmp_path / "ds"), list(NAMES))
    assert report.ok, report.problems
    assert (report.images, report.label_files) == (3, 3)


def test_duplicates_are_listed_as_groups(tmp_path: Path) -> None:
    root = clean_dataset(tmp_path / "ds")
    _duplicate(root)
    report = check_dataset(root, list(NAMES))
    assert report.duplicate_groups == [[root / "images/a.jpg", root / "images/sub/d.jpg"]]


def test_no_class_names_is_reported_and_ids_are_not_checked(tmp_path: Path) -> None:
    root = clean_dataset(tmp_path / "ds")
    (root / "labels/b.txt").write_text("7 0.5 0.5 0.1 0.1\n", encoding="utf-8")
    report = check_dataset(root, None)
    assert [problem.kind for problem in report.problems] == [ProblemKind.MISSING_DATA_YAML]


@pytest.mark.parametrize(
    ("line", "kinds"),
    [
        ("0 0.5 0.5 1.0 1.0", []),
        ("1 0.5 0.5 1.0005 1.0", []),  # within the tolerance
        ("1 0.5 0.5 1.01 1.0", [ProblemKind.OUT_OF_RANGE]),
        ("0 0.02 0.5 0.05 0.1", [ProblemKind.OUT_OF_RANGE]),  # left edge at -0.005
        ("0 nan 0.5 0.1 0.1", [ProblemKind.BAD_LINE]),
        ("0 0.5 0.5 0.1 0.1 0.9", [ProblemKind.BAD_LINE]),
        ("5 0.5 0.5 0 0.1", [ProblemKind.UNKNOWN_CLASS, ProblemKind.BAD_SIZE]),
        ("", []),
    ],
)
def test_check_label_text(line: str, kinds: list[ProblemKind]) -> None:
    problems = check_label_text(line + "\n", Path("x.txt"), class_count=2)
    assert [problem.kind for problem in problems] == kinds


@pytest.mark.parametrize(
    ("layout", "message"),
    [("missing", "does not exist"), ("no_images", "images/ folder")],
)
def test_unreadable_dataset_raises(tmp_path: Path, layout: str, message: str) -> None:
    root = tmp_path / "ds"
    if layout == "no_images":
        (root / "labels").mkdir(parents=True)
    with pytest.raises(DatasetError, match=message):
        check_dataset(root, list(NAMES))


def test_cli_check_clean_exits_0(tmp_path: Path, run_cli: RunCli) -> None:
    root = clean_dataset(tmp_path / "ds")
    result = run_cli("dataset", "check", str(root), check=True)
    assert "no problems" in result.stdout and "3 images" in result.stdout


def test_cli_check_faulty_exits_1_with_report(tmp_path: Path, run_cli: RunCli) -> None:
    root = clean_dataset(tmp_path / "ds")
    (root / "labels/b.txt").write_text("0 0.5 0.5 0 0.1\n", encoding="utf-8")
    (root / "labels/b.txt").with_name("ghost.txt").write_text("", encoding="utf-8")
    result = run_cli("dataset", "check", str(root))
    assert result.returncode == 1, result.stderr
    for text in ("bad_size", "orphan_label", "ghost.txt", "2 problems"):
        assert text in result.stdout


def test_cli_check_names_option_replaces_data_yaml(tmp_path: Path, run_cli: RunCli) -> None:
    root = clean_dataset(tmp_path / "ds")
    (root / "data.yaml").unlink()
    assert run_cli("dataset", "check", str(root)).returncode == 1
    assert run_cli("dataset", "check", str(root), "--names", "hole,stain").returncode == 0
    assert run_cli("dataset", "check", str(root), "--names", "hole").returncode == 1


@pytest.mark.parametrize(
    ("setup", "named"),
    [("missing", "nowhere"), ("bad_yaml", "data.yaml"), ("bad_names", "data.yaml")],
)
def test_cli_check_bad_input_exits_2_without_traceback(
    tmp_path: Path, run_cli: RunCli, setup: str, named: str
) -> None:
    root = tmp_path / "nowhere" if setup == "missing" else clean_dataset(tmp_path / "ds")
    if setup == "bad_yaml":
        (root / "data.yaml").write_text("names: [a, b\n", encoding="utf-8")
    if setup == "bad_names":
        (root / "data.yaml").write_text("names: 3\n", encoding="utf-8")
    result = run_cli("dataset", "check", str(root))
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and named in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
