"""Pascal VOC XML (one file per image) to the YOLO layout.

VOC pixel coordinates are 1-based and inclusive: `xmin=1, xmax=10` covers the first ten pixel
columns. In our pixel-edge coordinates (pixel i spans [i, i+1)) that box is x1 = xmin - 1,
x2 = xmax, so its width is xmax - xmin + 1 as VOC means it.
"""

from __future__ import annotations

import logging
import math
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from loomsight.datasets.importers.common import (
    ImportItem,
    ImportSummary,
    check_declared_size,
    clip_and_drop_empty,
    image_files,
    require_dir,
    write_dataset,
)
from loomsight.datasets.labels import ImageLabels
from loomsight.datasets.layout import check_output_dir
from loomsight.errors import DatasetError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class VocAnnotation:
    """One VOC file: its image, declared size, and boxes in pixel-edge `xyxy_px` with names."""

    xml_path: Path
    image_path: Path
    resolution_wh: tuple[int, int]
    names: tuple[str, ...]
    xyxy_px: tuple[tuple[float, float, float, float], ...]


def import_voc(
    xml_dir: Path,
    images_root: Path,
    out: Path,
    *,
    class_names: Sequence[str] | None = None,
    overwrite: bool = False,
) -> ImportSummary:
    """Import every `*.xml` in `xml_dir`; classes are `class_names`, or all names found, sorted."""
    require_dir(xml_dir, "Pascal VOC .xml files")
    require_dir(images_root, "images")
    check_output_dir(out, [xml_dir, images_root], overwrite)
    xml_paths = sorted(p for p in xml_dir.iterdir() if p.is_file() and p.suffix.lower() == ".xml")
    if not xml_paths:
        raise DatasetError(f"{xml_dir}: expected Pascal VOC .xml files, found none")
    images = ImageFinder(images_root)
    annotations = [read_voc(path, images) for path in xml_paths]
    if class_names is None:
        names = sorted({name for annotation in annotations for name in annotation.names})
    else:
        names = list(class_names)
    class_ids = {name: index for index, name in enumerate(names)}

    items: list[ImportItem] = []
    dropped = 0
    for annotation in annotations:
        unknown = [name for name in annotation.names if name not in class_ids]
        if unknown:
            raise DatasetError(
                f"{annotation.xml_path}: object name {unknown[0]!r} is not one of the given "
                f"classes ({', '.join(names)})"
            )
        check_declared_size(annotation.image_path, annotation.resolution_wh, annotation.xml_path)
        labels = ImageLabels(
            np.array(annotation.xyxy_px, dtype=np.float64).reshape(-1, 4),
            np.array([class_ids[name] for name in annotation.names], dtype=np.int64),
            annotation.resolution_wh,
        )
        labels, dropped_here = clip_and_drop_empty(labels)
        dropped += dropped_here
        relative = annotation.image_path.relative_to(images_root)
        items.append(ImportItem(annotation.image_path, relative, labels))
    if dropped:
        logger.warning("%s: dropped %d boxes with no area inside their image", xml_dir, dropped)
    return write_dataset(out, items, names, overwrite=overwrite, dropped_boxes=dropped)


class ImageFinder:
    """The image of a VOC file: by its <filename>, else by the XML file's stem with any suffix."""

    def __init__(self, images_root: Path) -> None:
        self.images_root = images_root
        self._by_name: dict[str, Path] = {}
        self._by_stem: dict[str, list[Path]] = {}
        for path in image_files(images_root):
            self._by_name[path.name] = path
            self._by_stem.setdefault(path.stem, []).append(path)

    def find(self, xml_path: Path, filename: str) -> Path:
        if filename and Path(filename).name in self._by_name:
            return self._by_name[Path(filename).name]
        same_stem = self._by_stem.get(xml_path.stem, [])
        if len(same_stem) > 1:
            raise DatasetError(
                f"{xml_path}: several images match its name: {', '.join(p.name for p in same_stem)}"
            )
        if not same_stem:
            raise DatasetError(
                f"{xml_path}: image {filename!r} not found in {self.images_root} "
                f"(also looked for {xml_path.stem} with any image suffix)"
            )
        return same_stem[0]


def read_voc(xml_path: Path, images: ImageFinder) -> VocAnnotation:
    """One VOC file and its image; DatasetError naming the file if malformed."""
    try:
        root = ET.parse(xml_path).getroot()
    except ET.ParseError as error:
        raise DatasetError(f"{xml_path}: not well-formed XML ({error})") from None
    except OSError as error:
        raise DatasetError(f"{xml_path}: cannot read ({error})") from None
    if root.tag != "annotation":
        raise DatasetError(f"{xml_path}: expected a VOC <annotation> root, got <{root.tag}>")
    size = root.find("size")
    if size is None:
        raise DatasetError(f"{xml_path}: expected a <size> element with <width> and <height>")
    width, height = (int(_number(size, tag, xml_path, "size")) for tag in ("width", "height"))
    if width <= 0 or height <= 0:
        raise DatasetError(f"{xml_path}: expected a positive <size>, got {width}x{height}")
    names: list[str] = []
    boxes: list[tuple[float, float, float, float]] = []
    for number, element in enumerate(root.findall("object"), start=1):
        name = (element.findtext("name") or "").strip()
        if not name:
            raise DatasetError(f"{xml_path}: <object> {number} has no <name>")
        bndbox = element.find("bndbox")
        if bndbox is None:
            raise DatasetError(f"{xml_path}: <object> {number} ({name}) has no <bndbox>")
        xmin, ymin, xmax, ymax = (
            _number(bndbox, tag, xml_path, "bndbox") for tag in ("xmin", "ymin", "xmax", "ymax")
        )
        if xmax < xmin or ymax < ymin:
            raise DatasetError(
                f"{xml_path}: <object> {number} ({name}): expected xmin <= xmax and ymin <= ymax, "
                f"got {xmin}, {ymin}, {xmax}, {ymax}"
            )
        names.append(name)
        boxes.append((xmin - 1, ymin - 1, xmax, ymax))
    image_path = images.find(xml_path, (root.findtext("filename") or "").strip())
    return VocAnnotation(xml_path, image_path, (width, height), tuple(names), tuple(boxes))


def _number(parent: ET.Element, tag: str, xml_path: Path, parent_tag: str) -> float:
    text = parent.findtext(tag)
    if text is None:
        raise DatasetError(f"{xml_path}: expected <{parent_tag}><{tag}>, found none")
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not math.isfinite(value):
        raise DatasetError(f"{xml_path}: expected a number in <{parent_tag}><{tag}>, got {text!r}")
    return value
