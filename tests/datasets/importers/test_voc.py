"""Pascal VOC XML -> YOLO, on small real JPEG/PNG files and real VOC XML files."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from loomsight.datasets.importers import import_voc
from loomsight.errors import DatasetError
from tests.conftest import RunCli

Box = tuple[int, int, int, int]

# VOC boxes are 1-based and inclusive: xmin=11..xmax=40 is pixel columns 10..39, i.e. [10, 40).
# Expected YOLO rows `class cx cy w h` with classes sorted by name: knot=0, stain=1.
EXPECTED_ROWS = {
    "a.txt": [
        [0, 0.25, 0.5, 0.3, 0.5],  # knot 11 21 40 60 in 100x80 -> [10, 20, 40, 60]
        [1, 0.95, 0.9375, 0.1, 0.125],  # stain 91 71 110 90 -> [90, 70, 100, 80] after clipping
    ],
    "b.txt": [[1, 0.125, 0.125, 0.25, 0.25]],  # stain 1 1 15 10 in 60x40 -> [0, 0, 15, 10]
    "c.txt": [],  # no objects: a defect-free image
}


def voc_xml(filename: str, size_wh: tuple[int, int], objects: list[tuple[str, Box]]) -> str:
    """A Pascal VOC annotation as labelImg and CVAT write it."""
    parts = [
        "<annotation>",
        "  <folder>images</folder>",
        f"  <filename>{filename}</filename>",
        "  <source><database>Unknown</database></source>",
        f"  <size><width>{size_wh[0]}</width><height>{size_wh[1]}</height><depth>3</depth></size>",
        "  <segmented>0</segmented>",
    ]
    for name, (xmin, ymin, xmax, ymax) in objects:
        parts += [
            "  <object>",
            f"    <name>{name}</name><pose>Unspecified</pose>",
            "    <truncated>0</truncated><difficult>0</difficult>",
            f"    <bndbox><xmin>{xmin}</xmin><ymin>{ymin}</ymin>"
            f"<xmax>{xmax}</xmax><ymax>{ymax}</ymax></bndbox>",
            "  </object>",
        ]
    return "\n".join([*parts, "</annotation>", ""])


@pytest.fixture
def source(tmp_path: Path) -> tuple[Path, Path]:
    """(xml folder, images folder) in tmp_path/src."""
    xml_dir, images = tmp_path / "src" / "xml", tmp_path / "src" / "images"
    xml_dir.mkdir(parents=True)
    images.mkdir()
    rng = np.random.default_rng(0)
    for name, (width, height) in {"a.jpg": (100, 80), "b.png": (60, 40), "c.jpg": (50, 50)}.items():
        assert cv2.imwrite(str(images / name), rng.integers(0, 255, (height, width, 3), np.uint8))
    files = {
        "a.xml": voc_xml(
            "a.jpg", (100, 80), [("knot", (11, 21, 40, 60)), ("stain", (91, 71, 110, 90))]
        ),
        # <filename> names no file in images/: found by the XML stem instead.
        "b.xml": voc_xml("renamed.png", (60, 40), [("stain", (1, 1, 15, 10))]),
        "c.xml": voc_xml("c.jpg", (50, 50), []),
    }
    for name, text in files.items():
        (xml_dir / name).write_text(text, encoding="utf-8")
    return xml_dir, images


def _rows(path: Path) -> np.ndarray:
    text = path.read_text(encoding="utf-8")
    return np.array([line.split() for line in text.splitlines()], dtype=float).reshape(-1, 5)


def test_import_voc_writes_yolo_labels_with_sorted_class_names(
    source: tuple[Path, Path], tmp_path: Path
) -> None:
    xml_dir, images = source
    out = tmp_path / "out"

    summary = import_voc(xml_dir, images, out)

    assert (summary.images, summary.defect_free_images, summary.boxes) == (3, 1, 3)
    assert summary.class_names == ("knot", "stain")
    for label_name, expected in EXPECTED_ROWS.items():
        rows = _rows(out / "labels" / label_name)
        np.testing.assert_allclose(rows, np.array(expected, float).reshape(-1, 5), atol=1e-4)
    assert (out / "labels" / "c.txt").read_text(encoding="utf-8") == ""
    assert (out / "images" / "b.png").read_bytes() == (images / "b.png").read_bytes()
    data = yaml.safe_load((out / "data.yaml").read_text(encoding="utf-8"))
    assert data["names"] == {0: "knot", 1: "stain"}


def test_import_voc_given_classes_fix_the_class_ids(
    source: tuple[Path, Path], tmp_path: Path
) -> None:
    xml_dir, images = source

    summary = import_voc(xml_dir, images, tmp_path / "out", class_names=["stain", "knot", "slub"])

    assert summary.class_names == ("stain", "knot", "slub")
    assert _rows(tmp_path / "out" / "labels" / "a.txt")[:, 0].tolist() == [1, 0]
    assert _rows(tmp_path / "out" / "labels" / "b.txt")[:, 0].tolist() == [0]


def test_import_voc_unknown_name_with_given_classes_names_file_and_name(
    source: tuple[Path, Path], tmp_path: Path
) -> None:
    xml_dir, images = source
    with pytest.raises(DatasetError) as raised:
        import_voc(xml_dir, images, tmp_path / "out", class_names=["knot"])
    assert str(xml_dir / "a.xml") in str(raised.value)
    assert "'stain'" in str(raised.value)


GOOD = voc_xml("a.jpg", (100, 80), [("knot", (11, 21, 40, 60))])


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        pytest.param("<annotation><size>", "not well-formed XML", id="malformed-xml"),
        pytest.param("<labels/>", "expected a VOC <annotation> root", id="wrong-root"),
        pytest.param(
            GOOD.replace("<size>", "<sise>").replace("</size>", "</sise>"),
            "<size>",
            id="missing-size",
        ),
        pytest.param(GOOD.replace("<width>100</width>", ""), "<size><width>", id="missing-width"),
        pytest.param(GOOD.replace("<width>100", "<width>wide"), "'wide'", id="bad-width"),
        pytest.param(
            GOOD.replace("<bndbox>", "<box>").replace("</bndbox>", "</box>"),
            "has no <bndbox>",
            id="missing-bndbox",
        ),
        pytest.param(GOOD.replace("<xmin>11", "<xmin>x"), "<bndbox><xmin>", id="bad-xmin"),
        pytest.param(GOOD.replace("<xmin>11", "<xmin>50"), "xmin <= xmax", id="inverted-box"),
        pytest.param(GOOD.replace("<name>knot</name>", ""), "no <name>", id="missing-name"),
        pytest.param(GOOD.replace("a.jpg", "nope.jpg"), "'nope.jpg' not found", id="no-image"),
        pytest.param(GOOD.replace("<width>100", "<width>99"), "as 99x80 px", id="size-mismatch"),
    ],
)
def test_import_voc_errors_name_the_xml_file(
    source: tuple[Path, Path], tmp_path: Path, text: str, fragment: str
) -> None:
    xml_dir, images = source
    (xml_dir / "zz.xml").write_text(text, encoding="utf-8")

    with pytest.raises(DatasetError) as raised:
        import_voc(xml_dir, images, tmp_path / "out")

    assert str(xml_dir / "zz.xml") in str(raised.value)
    assert fragment in str(raised.value)
    assert not (tmp_path / "out").exists()


def test_import_voc_without_xml_files_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "xml").mkdir()
    (tmp_path / "images").mkdir()
    with pytest.raises(DatasetError, match=r"expected Pascal VOC \.xml files, found none"):
        import_voc(tmp_path / "xml", tmp_path / "images", tmp_path / "out")


def test_cli_import_voc_with_classes(source: tuple[Path, Path], run_cli: RunCli) -> None:
    result = run_cli(
        *("dataset", "import", "voc", "src/xml", "--images", "src/images", "--out", "out"),
        *("--classes", "stain,knot"),
        check=True,
    )
    assert "imported 3 images (1 defect-free), 3 boxes, 2 classes (stain, knot)" in result.stdout


@pytest.mark.parametrize(
    ("args", "named"),
    [
        pytest.param(["src/xml", "--classes", "knot"], "a.xml", id="unknown-class"),
        pytest.param(["src/nowhere"], "src/nowhere", id="missing-xml-folder"),
    ],
)
def test_cli_import_voc_errors_are_one_line(
    source: tuple[Path, Path], run_cli: RunCli, args: list[str], named: str
) -> None:
    result = run_cli("dataset", "import", "voc", *args, "--images", "src/images", "--out", "out")

    assert result.returncode == 2
    assert result.stderr.startswith("error: ")
    assert named in result.stderr
    assert "Traceback" not in result.stderr
