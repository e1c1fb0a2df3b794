"""Shifted copies of a labelled split: how another mill's camera may see the same cloth.

A model is judged on cloth from mills it never saw: other light, lenses, sensors and camera
heights. Each `ImageShift` changes every image of a split one way, to a fixed degree, and keeps
its labels right, so that `evaluate` on the copy tells how much of the model's score survives
that one change (benchmarks/image_shifts.py; `loomsight evaluate --shift`). Light, blur, noise
and compression change the pixels only; the zooms change the scale of the cloth:

- zoom in (factor > 1): the centre 1/factor of the image, enlarged back to its size; boxes cut
  by the crop are kept where `tile_labels` keeps them (at least half visible), as in tiling;
- zoom out (factor < 1): a grid of the split's images, each shrunk by the factor, side by side
  in one image of the first one's size (what does not fit is cut off, with the same rule); with
  0.5, four whole images. Images are not padded with mirrored cloth: mirrored defects would be
  unlabelled.

The degrees are those a camera set up by another integrator may plausibly differ by, at the edge
of what training augments (training/augment.py): brightness 0.55x and 1.4x (augmented +-25%),
contrast 0.5x (+-30%), a warm cast, blur of 1.5 px and motion of 9 px along the roll, noise of 10
grey levels (1-6% of 255), JPEG quality 30 (50-95), grey, zoom 0.5x and 1.5x (+-30%).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from loomsight.datasets.data_yaml import class_names_of, split_images, split_labels
from loomsight.datasets.labels import ImageLabels, write_yolo_labels
from loomsight.datasets.layout import (
    images_dir,
    labels_dir,
    read_image,
    write_data_yaml,
    write_image,
)
from loomsight.datasets.tiling import TileWindow, tile_labels
from loomsight.errors import DatasetError
from loomsight.inference.letterbox import as_bgr

UInt8Array = npt.NDArray[np.uint8]
PixelChange = Callable[[UInt8Array, np.random.Generator], UInt8Array]
Labelled = tuple[UInt8Array, ImageLabels]


def _to_uint8(values: npt.NDArray[np.floating]) -> UInt8Array:
    return np.asarray(np.clip(np.rint(values), 0, 255), dtype=np.uint8)


def _gain(factor: float) -> PixelChange:
    return lambda image, _: _to_uint8(image.astype(np.float32) * factor)


def _contrast(factor: float) -> PixelChange:
    def change(image: UInt8Array, _: np.random.Generator) -> UInt8Array:
        values = image.astype(np.float32)
        return _to_uint8(values.mean() + (values - values.mean()) * factor)

    return change


def _cast(gain_bgr: tuple[float, float, float]) -> PixelChange:
    gains = np.array(gain_bgr, dtype=np.float32)
    return lambda image, _: _to_uint8(image.astype(np.float32) * gains)


def _blur(sigma_px: float) -> PixelChange:
    return lambda image, _: np.asarray(cv2.GaussianBlur(image, (0, 0), sigma_px), dtype=np.uint8)


def _motion(length_px: int) -> PixelChange:
    """Blur along the roll (the image's y axis: the cloth moves down the frame)."""
    kernel = np.full((length_px, 1), 1.0 / length_px, dtype=np.float32)
    return lambda image, _: np.asarray(cv2.filter2D(image, -1, kernel), dtype=np.uint8)


def _noise(sigma: float) -> PixelChange:
    def change(image: UInt8Array, rng: np.random.Generator) -> UInt8Array:
        return _to_uint8(image.astype(np.float32) + rng.normal(0.0, sigma, image.shape))

    return change


def _jpeg(quality: int) -> PixelChange:
    def change(image: UInt8Array, _: np.random.Generator) -> UInt8Array:
        ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
        if not ok:
            raise DatasetError("OpenCV could not encode an image as JPEG")
        return np.asarray(cv2.imdecode(encoded, cv2.IMREAD_COLOR), dtype=np.uint8)

    return change


def _grey(image: UInt8Array, _: np.random.Generator) -> UInt8Array:
    return as_bgr(np.asarray(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), dtype=np.uint8))


@dataclass(frozen=True)
class ImageShift:
    """One change to every image: PIXELS (labels unchanged), or a ZOOM of the cloth (1: none)."""

    name: str
    description: str
    pixels: PixelChange | None = None
    zoom: float = 1.0

    def __post_init__(self) -> None:
        if self.zoom <= 0:
            raise ValueError(f"zoom must be positive, got {self.zoom}")

    def apply(self, items: Sequence[Labelled], seed: int = 0) -> Iterator[Labelled]:
        """The shifted images with their labels: one per item, or fewer when zooming out (each
        image of the grid is one item)."""
        rng = np.random.default_rng(seed)
        if self.zoom < 1:
            yield from zoom_out(items, self.zoom)
            return
        for image, labels in items:
            if self.pixels is not None:
                image = self.pixels(image, rng)
            yield zoom_in(image, labels, self.zoom) if self.zoom > 1 else (image, labels)


SHIFTS: tuple[ImageShift, ...] = (
    ImageShift("none", "the split as it is"),
    ImageShift("darker", "brightness x0.55 (under-exposed)", _gain(0.55)),
    ImageShift("brighter", "brightness x1.4, clipped (over-exposed)", _gain(1.4)),
    ImageShift("flat", "contrast x0.5 about the mean (flat light)", _contrast(0.5)),
    ImageShift("warm", "warm light: blue x0.8, red x1.15", _cast((0.8, 1.0, 1.15))),
    ImageShift("defocus", "Gaussian blur, sigma 1.5 px", _blur(1.5)),
    ImageShift("motion", "motion blur of 9 px along the roll", _motion(9)),
    ImageShift("noise", "sensor noise, sigma 10 grey levels", _noise(10.0)),
    ImageShift("jpeg", "JPEG quality 30", _jpeg(30)),
    ImageShift("grey", "a mono camera (grey)", _grey),
    ImageShift("zoom-in", "cloth 1.5x larger (a closer camera)", zoom=1.5),
    ImageShift("zoom-out", "cloth 0.5x smaller (a farther camera): 4 images in one", zoom=0.5),
)
SHIFT_NAMES = tuple(shift.name for shift in SHIFTS)


def shift_named(name: str) -> ImageShift:
    for shift in SHIFTS:
        if shift.name == name:
            return shift
    raise ValueError(f"unknown shift {name!r}; expected one of {', '.join(SHIFT_NAMES)}")


def zoom_in(image: UInt8Array, labels: ImageLabels, factor: float) -> Labelled:
    """The centre 1/FACTOR of IMAGE enlarged to its size, with the labels it keeps."""
    height, width = image.shape[:2]
    crop_w, crop_h = max(round(width / factor), 1), max(round(height / factor), 1)
    window = TileWindow((width - crop_w) // 2, (height - crop_h) // 2, crop_w, crop_h)
    crop = image[window.y_px : window.y_px + crop_h, window.x_px : window.x_px + crop_w]
    kept = tile_labels(labels, window)
    scale = np.array([width / crop_w, height / crop_h] * 2)
    enlarged = cv2.resize(crop, (width, height), interpolation=cv2.INTER_LINEAR)
    return np.asarray(enlarged, dtype=np.uint8), ImageLabels(
        kept.xyxy_px * scale, kept.class_id, (width, height)
    )


def zoom_out(items: Sequence[Labelled], factor: float) -> Iterator[Labelled]:
    """Grids of k x k items (k = ceil(1 / FACTOR)), each shrunk by FACTOR, in one image of the
    first one's size; the labels it keeps. The last grid may have empty (grey) cells."""
    per_side = math.ceil(1 / factor - 1e-9)
    per_grid = per_side * per_side
    for start in range(0, len(items), per_grid):
        group = items[start : start + per_grid]
        height, width = group[0][0].shape[:2]
        cell_w, cell_h = max(round(width * factor), 1), max(round(height * factor), 1)
        canvas = np.full((cell_h * per_side, cell_w * per_side, 3), 114, dtype=np.uint8)
        boxes, class_ids = [], []
        for cell, (image, labels) in enumerate(group):
            x0, y0 = (cell % per_side) * cell_w, (cell // per_side) * cell_h
            source_h, source_w = image.shape[:2]
            canvas[y0 : y0 + cell_h, x0 : x0 + cell_w] = cv2.resize(
                as_bgr(image), (cell_w, cell_h), interpolation=cv2.INTER_AREA
            )
            gain = np.array([cell_w / source_w, cell_h / source_h] * 2)
            boxes.append(labels.xyxy_px * gain + np.array([x0, y0] * 2))
            class_ids.append(labels.class_id)
        placed = ImageLabels(
            np.concatenate(boxes), np.concatenate(class_ids), (canvas.shape[1], canvas.shape[0])
        )
        yield canvas[:height, :width].copy(), tile_labels(placed, TileWindow(0, 0, width, height))


def write_shifted_split(
    data_yaml: Path, split: str, shift: ImageShift, out: Path, seed: int = 0
) -> Path:
    """SPLIT of DATA_YAML, shifted, as a dataset in OUT (PNG images, YOLO labels; the same
    class names; the split named the same); its data.yaml."""
    names = class_names_of(data_yaml)
    images = split_images(data_yaml, split)
    if not images:
        raise DatasetError(f"{data_yaml}: the {split} split holds no images")
    items: list[Labelled] = []
    for path in images:
        image = as_bgr(read_image(path))
        items.append((image, split_labels(path, (int(image.shape[1]), int(image.shape[0])))))
    for index, (image, labels) in enumerate(shift.apply(items, seed)):
        stem = f"{index:05d}"
        write_image(images_dir(out) / split / f"{stem}.png", image)
        write_yolo_labels(labels_dir(out) / split / f"{stem}.txt", labels.clipped())
    return write_data_yaml(out, names, {split: f"images/{split}"})
