"""Cut large images (line-scan strips, 4K frames) into overlapping tiles at native resolution.

The pure part (`tile_starts`, `tile_grid`, `tile_labels`) decides where tiles lie and which boxes
each tile keeps; `tile_dataset` only reads and writes files around it.

Grid: on each axis, tiles are `tile_px` long, or the whole side when the image is shorter than a
tile (a 4096x256 strip with 640 px tiles gives 640x256 tiles, never padded). Starts are spaced by
`tile_px - overlap_px`; the last tile is placed flush with the image edge, so every pixel is covered
and no tile reaches outside the image.

Which boxes a tile keeps: each box is clipped to the tile, and kept when its clipped part has a
positive area and either

- (a) it keeps at least `min_visible` of the box's area, or
- (b) on each axis, its visible length is at least `min_visible` of the box's own length or at
  least `min_visible` of the tile's length.

Rule (b) keeps big defects (a crease or a broken end running across many tiles) in every tile they
cross, where rule (a) alone would drop them everywhere; a sliver cut off at a tile edge fails both.

Tile files are named `NAME__x{X}_y{Y}{SUFFIX}` beside the source's relative folder, so the source
name stays recoverable (`source_stem`) and a split keeps the tiles of one image together.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from loomsight.datasets.data_yaml import read_class_names
from loomsight.datasets.labels import ImageLabels, read_yolo_labels, write_yolo_labels
from loomsight.datasets.layout import (
    DATA_YAML,
    check_output_dir,
    clear_output_dir,
    images_dir,
    label_path_for,
    list_items,
    read_image,
    write_data_yaml,
    write_image,
)
from loomsight.errors import DatasetError

logger = logging.getLogger(__name__)

TILE_NAME_RE = re.compile(r"__x(?P<x>\d+)_y(?P<y>\d+)$")
"""The suffix tiling adds to a file stem: `__x{X}_y{Y}` (pixel offsets in the source image)."""


@dataclass(frozen=True)
class TileWindow:
    """One tile: its top-left offset and size in pixels of the source image."""

    x_px: int
    y_px: int
    width_px: int
    height_px: int

    @property
    def xyxy_px(self) -> tuple[int, int, int, int]:
        return self.x_px, self.y_px, self.x_px + self.width_px, self.y_px + self.height_px


@dataclass(frozen=True)
class TilingResult:
    """What `tile_dataset` wrote: counts of source images, tiles and boxes."""

    images_in: int
    tiles_out: int
    empty_tiles: int
    boxes_in: int
    boxes_out: int


def tile_name(stem: str, window: TileWindow) -> str:
    """The file stem of a tile: `NAME__x{X}_y{Y}`."""
    return f"{stem}__x{window.x_px}_y{window.y_px}"


def source_stem(stem: str) -> str:
    """The source image's stem of a tile stem (`NAME__x0_y0` -> `NAME`); other stems unchanged."""
    return TILE_NAME_RE.sub("", stem)


def _check_grid_args(tile_px: int, overlap_px: int) -> None:
    if tile_px <= 0:
        raise ValueError(f"tile_px must be positive, got {tile_px}")
    if not 0 <= overlap_px < tile_px:
        raise ValueError(f"overlap_px must be in [0, tile_px={tile_px}), got {overlap_px}")


def _check_min_visible(min_visible: float) -> None:
    if not 0.0 < min_visible <= 1.0:
        raise ValueError(f"min_visible must be in (0, 1], got {min_visible}")


def tile_starts(length_px: int, tile_px: int, overlap_px: int) -> list[int]:
    """Tile starts on one axis: spaced by `tile_px - overlap_px`, the last flush with the end."""
    _check_grid_args(tile_px, overlap_px)
    if length_px <= 0:
        raise ValueError(f"length_px must be positive, got {length_px}")
    if length_px <= tile_px:
        return [0]
    last = length_px - tile_px
    return [*range(0, last, tile_px - overlap_px), last]


def tile_grid(resolution_wh: tuple[int, int], tile_px: int, overlap_px: int) -> list[TileWindow]:
    """Every tile of an image of `resolution_wh`, row by row."""
    width, height = resolution_wh
    tile_w, tile_h = min(tile_px, width), min(tile_px, height)
    return [
        TileWindow(x, y, tile_w, tile_h)
        for y in tile_starts(height, tile_px, overlap_px)
        for x in tile_starts(width, tile_px, overlap_px)
    ]


def tile_labels(labels: ImageLabels, window: TileWindow, min_visible: float = 0.5) -> ImageLabels:
    """The boxes of `labels` a tile keeps (see the module rule), in the tile's own pixels."""
    _check_min_visible(min_visible)
    tile_wh = np.array([window.width_px, window.height_px], dtype=np.float64)
    if len(labels) == 0:
        return ImageLabels.empty((window.width_px, window.height_px))
    offset = np.array([window.x_px, window.y_px] * 2, dtype=np.float64)
    full = labels.xyxy_px - offset
    clipped = full.copy()
    clipped[:, [0, 2]] = clipped[:, [0, 2]].clip(0, tile_wh[0])
    clipped[:, [1, 3]] = clipped[:, [1, 3]].clip(0, tile_wh[1])
    full_len = full[:, 2:] - full[:, :2]
    visible_len = clipped[:, 2:] - clipped[:, :2]
    visible_area = visible_len.prod(axis=1)
    full_area = full_len.prod(axis=1)
    area_kept = visible_area >= min_visible * full_area
    axis_kept = (visible_len >= min_visible * full_len) | (visible_len >= min_visible * tile_wh)
    keep = (visible_area > 0) & (area_kept | axis_kept.all(axis=1))
    return ImageLabels(clipped[keep], labels.class_id[keep], (window.width_px, window.height_px))


def tile_dataset(
    src: Path,
    out: Path,
    tile_px: int,
    overlap_px: int = 64,
    min_visible: float = 0.5,
    names: Sequence[str] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    overwrite: bool = False,
) -> TilingResult:
    """Tile every image of the dataset SRC into the new dataset OUT (images, labels, data.yaml).

    A missing label file is an error (run `loomsight dataset check` first); `names` (default: those
    of SRC/data.yaml, if any) go to OUT/data.yaml. `on_progress(done, total)` is called after
    each source image.
    """
    try:
        _check_grid_args(tile_px, overlap_px)
        _check_min_visible(min_visible)
    except ValueError as error:
        raise DatasetError(f"tiling options: {error}") from None
    items = list_items(src)
    if not items:
        raise DatasetError(f"{images_dir(src)}: no images found")
    check_output_dir(out, [src], overwrite)
    clear_output_dir(out)
    tiles_out = empty_tiles = boxes_in = boxes_out = 0
    for done, item in enumerate(items, start=1):
        image = read_image(item.image_path)
        resolution_wh = (int(image.shape[1]), int(image.shape[0]))
        if not item.label_path.is_file():
            raise DatasetError(f"{item.label_path}: label file missing for {item.image_path.name}")
        labels = read_yolo_labels(item.label_path, resolution_wh)
        boxes_in += len(labels)
        relative = item.image_path.relative_to(images_dir(src))
        for window in tile_grid(resolution_wh, tile_px, overlap_px):
            x1, y1, x2, y2 = window.xyxy_px
            kept = tile_labels(labels, window, min_visible)
            name = tile_name(relative.stem, window) + relative.suffix
            tile_path = images_dir(out) / relative.parent / name
            write_image(tile_path, np.ascontiguousarray(image[y1:y2, x1:x2]), jpeg_quality=95)
            write_yolo_labels(label_path_for(out, tile_path), kept)
            tiles_out += 1
            empty_tiles += len(kept) == 0
            boxes_out += len(kept)
        if on_progress is not None:
            on_progress(done, len(items))
    if names is None and (src / DATA_YAML).is_file():
        names = read_class_names(src)
    if names is not None:
        write_data_yaml(out, names)
    result = TilingResult(len(items), tiles_out, empty_tiles, boxes_in, boxes_out)
    logger.debug("tiled %s into %s: %s", src, out, result)
    return result
