"""Find what is wrong with a YOLO dataset: labels, images, duplicates. Reports; never fixes.

Each problem has a kind (`ProblemKind`) and the file it is about. Label lines are checked in their
normalised form: 5 fields, an integer class id below the number of class names, finite numbers,
centre and size in [0, 1] and the box inside the image, all within `TOLERANCE`; a width or height
<= 0 is its own kind. Images are decoded with OpenCV (in threads) and hashed (sha256 of the file
bytes) to find exact duplicates.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

import cv2
import numpy as np

from loomsight.datasets.layout import DATA_YAML, images_dir, labels_dir, list_items

logger = logging.getLogger(__name__)

TOLERANCE = 1e-3
"""How far (in normalised units) a coordinate may lie outside [0, 1] before it is a problem."""


class ProblemKind(StrEnum):
    """What can be wrong; the value is the name the report shows."""

    MISSING_DATA_YAML = "missing_data_yaml"
    MISSING_LABEL = "missing_label"
    ORPHAN_LABEL = "orphan_label"
    BAD_LINE = "bad_line"
    OUT_OF_RANGE = "out_of_range"
    BAD_SIZE = "bad_size"
    UNKNOWN_CLASS = "unknown_class"
    EMPTY_IMAGE = "empty_image"
    UNREADABLE_IMAGE = "unreadable_image"
    DUPLICATE_IMAGE = "duplicate_image"


@dataclass(frozen=True)
class Problem:
    """One problem: its kind, the file, and a detail (line number, offending value, ...)."""

    kind: ProblemKind
    path: Path
    detail: str = ""


@dataclass(frozen=True)
class CheckReport:
    """Everything `check_dataset` found; `ok` when nothing."""

    root: Path
    images: int
    label_files: int
    problems: list[Problem] = field(default_factory=list)
    duplicate_groups: list[list[Path]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def by_kind(self) -> dict[ProblemKind, list[Problem]]:
        grouped: dict[ProblemKind, list[Problem]] = {}
        for problem in self.problems:
            grouped.setdefault(problem.kind, []).append(problem)
        return {kind: grouped[kind] for kind in ProblemKind if kind in grouped}


def check_label_text(text: str, path: Path, class_count: int | None) -> list[Problem]:
    """Problems of one YOLO label file's text; `class_count` None skips the class-id check."""
    problems: list[Problem] = []
    for line_number, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        where = f"line {line_number}: {line.strip()!r}"
        if len(fields) != 5:
            problems.append(Problem(ProblemKind.BAD_LINE, path, f"{where}: {len(fields)} fields"))
            continue
        try:
            class_value, cx, cy, w, h = (float(value) for value in fields)
        except ValueError:
            problems.append(Problem(ProblemKind.BAD_LINE, path, f"{where}: not numbers"))
            continue
        if not all(math.isfinite(value) for value in (class_value, cx, cy, w, h)):
            problems.append(Problem(ProblemKind.BAD_LINE, path, f"{where}: not finite"))
            continue
        if not class_value.is_integer():
            problems.append(Problem(ProblemKind.BAD_LINE, path, f"{where}: class not an integer"))
            continue
        class_id = int(class_value)
        if class_id < 0 or (class_count is not None and class_id >= class_count):
            known = f"0..{class_count - 1}" if class_count else "none"
            detail = f"{where}: class {class_id}, known ids {known}"
            problems.append(Problem(ProblemKind.UNKNOWN_CLASS, path, detail))
        if w <= 0 or h <= 0:
            problems.append(Problem(ProblemKind.BAD_SIZE, path, f"{where}: width/height <= 0"))
            continue
        low, high = -TOLERANCE, 1 + TOLERANCE
        edges = (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
        if not all(low <= value <= high for value in (cx, cy, w, h, *edges)):
            detail = f"{where}: outside [0, 1] or outside the image"
            problems.append(Problem(ProblemKind.OUT_OF_RANGE, path, detail))
    return problems


def _inspect_image(path: Path) -> tuple[str | None, ProblemKind | None]:
    """sha256 of the file bytes (None if unreadable) and the image problem, if any."""
    try:
        data = path.read_bytes()
    except OSError:
        return None, ProblemKind.UNREADABLE_IMAGE
    if not data:
        return None, ProblemKind.EMPTY_IMAGE
    digest = hashlib.sha256(data).hexdigest()
    decoded = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    return digest, (ProblemKind.UNREADABLE_IMAGE if decoded is None else None)


def _image_problems(
    paths: Sequence[Path], workers: int, on_progress: Callable[[int, int], None] | None
) -> tuple[list[Problem], list[list[Path]]]:
    problems: list[Problem] = []
    by_digest: dict[str, list[Path]] = defaultdict(list)
    executor = ThreadPoolExecutor(max_workers=workers)
    try:
        results = executor.map(_inspect_image, paths)
        for done, (path, (digest, kind)) in enumerate(zip(paths, results, strict=True), start=1):
            if kind is not None:
                detail = "0 bytes" if kind is ProblemKind.EMPTY_IMAGE else "OpenCV cannot decode"
                problems.append(Problem(kind, path, detail))
            if digest is not None:
                by_digest[digest].append(path)
            if on_progress is not None:
                on_progress(done, len(paths))
    finally:  # on Ctrl-C, drop the queued work instead of finishing it
        executor.shutdown(wait=True, cancel_futures=True)
    duplicates = sorted(group for group in by_digest.values() if len(group) > 1)
    for group in duplicates:
        for path in group:
            others = ", ".join(other.name for other in group if other != path)
            problems.append(Problem(ProblemKind.DUPLICATE_IMAGE, path, f"same bytes as {others}"))
    return problems, duplicates


def check_dataset(
    root: Path,
    names: Sequence[str] | None = None,
    workers: int = 8,
    on_progress: Callable[[int, int], None] | None = None,
) -> CheckReport:
    """Check the dataset ROOT; `names` None means no data.yaml was found (reported, ids unchecked).

    Raises DatasetError only when ROOT or ROOT/images is missing; everything else is reported.
    `on_progress(done, total)` is called after each image.
    """
    items = list_items(root)
    problems: list[Problem] = []
    if names is None:
        detail = "no class names: add data.yaml or pass --names; class ids not checked"
        problems.append(Problem(ProblemKind.MISSING_DATA_YAML, root / DATA_YAML, detail))
    class_count = len(names) if names is not None else None
    expected_labels = {item.label_path for item in items}
    label_files = sorted(labels_dir(root).rglob("*.txt")) if labels_dir(root).is_dir() else []
    for label_path in label_files:
        if label_path not in expected_labels:
            detail = f"no image with this name under {images_dir(root)}"
            problems.append(Problem(ProblemKind.ORPHAN_LABEL, label_path, detail))
    for item in items:
        if not item.label_path.is_file():
            detail = f"expected label file {item.label_path}"
            problems.append(Problem(ProblemKind.MISSING_LABEL, item.image_path, detail))
            continue
        try:
            text = item.label_path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            problems.append(Problem(ProblemKind.BAD_LINE, item.label_path, f"unreadable: {error}"))
            continue
        problems.extend(check_label_text(text, item.label_path, class_count))
    image_problems, duplicates = _image_problems(
        [item.image_path for item in items], workers, on_progress
    )
    problems.extend(image_problems)
    report = CheckReport(root, len(items), len(label_files), problems, duplicates)
    logger.debug("checked %s: %d images, %d problems", root, len(items), len(problems))
    return report
