"""Write a synthetic YOLO dataset: images/, labels/, data.yaml and a manifest of what was planted.

Image k is made from the seed sequence [seed, k] alone, so the dataset is the same whatever the
number of worker processes, and a run that is interrupted can be finished by running it again.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path

import cv2
import numpy as np

from loomsight.datasets.labels import write_yolo_labels
from loomsight.datasets.layout import images_dir, labels_dir, write_data_yaml, write_image
from loomsight.datasets.synth.defects import FABRIC_CLASSES
from loomsight.datasets.synth.fabric_image import SynthImage, make_fabric_image
from loomsight.datasets.synth.weave import WeaveKind
from loomsight.datasets.synth.yarn_board import YARN_CLASSES, make_yarn_board_image
from loomsight.errors import DatasetError

logger = logging.getLogger(__name__)


class SynthKind(StrEnum):
    FABRIC = "fabric"
    YARN_BOARD = "yarn-board"


@dataclass(frozen=True)
class SynthOptions:
    """Everything that decides the dataset; with the same options the same files come out."""

    count: int
    seed: int = 0
    size_wh: tuple[int, int] = (640, 640)
    mm_per_px: float = 0.1
    kind: SynthKind = SynthKind.FABRIC
    classes: tuple[str, ...] = FABRIC_CLASSES
    weaves: tuple[WeaveKind, ...] = tuple(WeaveKind)
    defect_free_share: float = 0.2
    max_defects: int = 3
    grayscale: bool | None = None  # None: a mix of grey and colour cameras

    def __post_init__(self) -> None:
        known = FABRIC_CLASSES if self.kind is SynthKind.FABRIC else YARN_CLASSES
        unknown = [name for name in self.classes if name not in known]
        if unknown:
            raise DatasetError(
                f"unknown {self.kind.value} classes {unknown}; expected some of {', '.join(known)}"
            )
        if not self.classes:
            raise DatasetError("expected at least one defect class, got none")
        if self.count < 1:
            raise DatasetError(f"expected a count of at least 1 image, got {self.count}")
        if min(self.size_wh) < 32:
            raise DatasetError(f"expected an image size of at least 32x32 px, got {self.size_wh}")
        if not 0 < self.mm_per_px <= 5:
            raise DatasetError(f"expected mm per pixel in (0, 5], got {self.mm_per_px}")
        if not 0 <= self.defect_free_share <= 1:
            raise DatasetError(
                f"expected a defect-free share in [0, 1], got {self.defect_free_share}"
            )


@dataclass
class SynthSummary:
    out_dir: Path
    images: int = 0
    defect_free_images: int = 0
    boxes_per_class: dict[str, int] = field(default_factory=dict)


def make_image(options: SynthOptions, index: int) -> SynthImage:
    rng = np.random.default_rng([options.seed, index])
    if options.kind is SynthKind.YARN_BOARD:
        return make_yarn_board_image(
            rng,
            options.size_wh,
            options.mm_per_px,
            options.classes,
            options.defect_free_share,
            options.max_defects,
            options.grayscale,
        )
    return make_fabric_image(
        rng,
        options.size_wh,
        options.mm_per_px,
        options.classes,
        options.weaves,
        options.defect_free_share,
        options.max_defects,
        options.grayscale,
    )


def image_name(index: int) -> str:
    return f"synth_{index:06d}"


def _write_one(
    job: tuple[SynthOptions, Path, int],
) -> tuple[int, list[int], list[dict[str, object]]]:
    options, out_dir, index = job
    sample = make_image(options, index)
    name = image_name(index)
    write_image(images_dir(out_dir) / f"{name}.jpg", sample.image)
    write_yolo_labels(labels_dir(out_dir) / f"{name}.txt", sample.labels)
    planted = [asdict(defect) for defect in sample.defects]
    return index, [int(c) for c in sample.labels.class_id], planted


def _init_worker() -> None:
    cv2.setNumThreads(1)  # the pool already uses every core


def generate_dataset(
    options: SynthOptions,
    out_dir: Path,
    workers: int = 1,
    on_progress: Callable[[int], None] | None = None,
) -> SynthSummary:
    """Render options.count images into out_dir (YOLO layout) with `workers` processes."""
    out_dir.mkdir(parents=True, exist_ok=True)
    write_data_yaml(out_dir, options.classes)
    jobs = [(options, out_dir, index) for index in range(options.count)]
    summary = SynthSummary(out_dir=out_dir, boxes_per_class={name: 0 for name in options.classes})
    manifest: dict[str, list[dict[str, object]]] = {}

    def collect(result: tuple[int, list[int], list[dict[str, object]]]) -> None:
        index, class_ids, planted = result
        summary.images += 1
        summary.defect_free_images += int(not class_ids)
        for class_id in class_ids:
            summary.boxes_per_class[options.classes[class_id]] += 1
        manifest[image_name(index)] = planted
        if on_progress is not None:
            on_progress(1)

    if workers <= 1:
        for job in jobs:
            collect(_write_one(job))
    else:
        context = multiprocessing.get_context("spawn")
        with context.Pool(workers, initializer=_init_worker) as pool:
            for result in pool.imap_unordered(_write_one, jobs, chunksize=4):
                collect(result)
    _write_manifest(out_dir, options, manifest)
    logger.debug("wrote %d images to %s", summary.images, out_dir)
    return summary


def _write_manifest(
    out_dir: Path, options: SynthOptions, manifest: dict[str, list[dict[str, object]]]
) -> None:
    content = {
        "generator": "loomsight synth",
        "options": {
            **asdict(options),
            "kind": options.kind.value,
            "weaves": [w.value for w in options.weaves],
        },
        "planted": dict(sorted(manifest.items())),
    }
    (out_dir / "synth.json").write_text(json.dumps(content, indent=1), encoding="utf-8")


def parse_classes(text: str | None, kind: SynthKind) -> tuple[str, ...]:
    """Comma-separated class names, in the canonical order of the kind's taxonomy."""
    known: Sequence[str] = FABRIC_CLASSES if kind is SynthKind.FABRIC else YARN_CLASSES
    if not text:
        return tuple(known)
    asked = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in asked if name not in known]
    if unknown:
        raise DatasetError(
            f"unknown {kind.value} classes {unknown}; expected some of {', '.join(known)}"
        )
    return tuple(name for name in known if name in asked)
