"""A per-article texture-anomaly score: how unlike the article's good cloth each part of a frame is.

No labels and no downloaded backbone. A small filter bank describes the texture of each square
cell (cells overlap by half): the mean and spread over the cell of the light (CIE L over the
frame's median, so a brighter or darker lamp changes little), of the local contrast, and of the
gradient energy along x and y and the Laplacian energy at two scales; and the cell's mean colour
(CIE a and b less the frame's median). The features are standardized over the article's defect-free
frames, and a memory of good cells (a random subset) is kept. A cell's score is its distance to
the nearest remembered good cell, in standard deviations: a print's light and dark stripes, twill
lines and the like are all in the memory and score low; a hole, a stain, a missing yarn or a
foreign fibre makes a cell no good cell looked like. The score map is averaged over 3x3 cells
(a defect spans neighbouring cells, a lone odd cell of good cloth does not).

A frame's score is the highest of that map; where it reaches the article's threshold (set at
calibration so that few clean frames alarm) the cells join into `anomaly` boxes.

Deployment code: numpy and OpenCV only. Fitting is `loomsight.article.texture`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from loomsight.errors import ModelFileError
from loomsight.inference.detections import Detections

Float32Array = npt.NDArray[np.float32]
Image = npt.NDArray[np.uint8]

FEATURES = 18  # 8 textures x (mean, spread) + 2 colours
SMOOTH_CELLS = 3  # the score map is averaged over this many cells each way
QUERY_CHUNK = 2_048  # cells compared with the memory at once
FORMAT_VERSION = 1
ANOMALY_CLASS = "anomaly"
TEXTURE_FILE = "texture.npz"  # beside a calibrated model's ONNX file in the registry


def _lab(image: Image) -> Float32Array:
    """IMAGE as CIE Lab in floats (L 0..100, a and b about -100..100; 0 for grey), unquantized:
    on near-grey cloth the 8-bit a and b would step by whole units."""
    colour = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR) if image.ndim == 2 else image
    lab = cv2.cvtColor(colour.astype(np.float32) / 255.0, cv2.COLOR_BGR2LAB)
    return np.asarray(lab, np.float32)


def cell_grid(image_hw: tuple[int, int], cell_px: int) -> tuple[int, int]:
    """(rows, cols) of cells of CELL_PX, half a cell apart, that fit in an image of IMAGE_HW."""
    stride = max(cell_px // 2, 1)
    return (image_hw[0] - cell_px) // stride + 1, (image_hw[1] - cell_px) // stride + 1


def cell_features(image: Image, cell_px: int) -> Float32Array:
    """Features of each CELL_PX square cell of IMAGE, (rows * cols, FEATURES), row-major."""
    rows, cols = cell_grid(image.shape[:2], cell_px)
    if rows < 1 or cols < 1:
        raise ValueError(
            f"image must be at least {cell_px}x{cell_px} px, got {image.shape[1]}x{image.shape[0]}"
        )
    lab = _lab(image)
    median = np.median(lab.reshape(-1, 3), axis=0)
    light = np.ascontiguousarray(lab[:, :, 0] * (1.0 / max(float(median[0]), 1e-3)))
    textures = [light, np.abs(light - cv2.blur(light, (5, 5)))]
    for sigma_px in (1.0, 2.5):
        smooth = cv2.GaussianBlur(light, (0, 0), sigma_px)
        textures.append(np.abs(cv2.Sobel(smooth, cv2.CV_32F, 1, 0, ksize=3)))
        textures.append(np.abs(cv2.Sobel(smooth, cv2.CV_32F, 0, 1, ksize=3)))
        textures.append(np.abs(cv2.Laplacian(smooth, cv2.CV_32F, ksize=3)))
    stride, centre = max(cell_px // 2, 1), cell_px // 2
    at_centres = np.ix_(centre + stride * np.arange(rows), centre + stride * np.arange(cols))
    features = []
    for response in textures:
        mean = cv2.boxFilter(response, -1, (cell_px, cell_px))
        square = cv2.boxFilter(response * response, -1, (cell_px, cell_px))
        spread = np.sqrt(np.maximum(square - mean * mean, 0.0))
        features += [mean[at_centres].reshape(-1), spread[at_centres].reshape(-1)]
    for channel in (1, 2):  # colour: the cell's mean only (its spread is sensor noise)
        tint = np.ascontiguousarray(lab[:, :, channel] - median[channel])
        features.append(cv2.boxFilter(tint, -1, (cell_px, cell_px))[at_centres].reshape(-1))
    return np.stack(features, axis=1).astype(np.float32)


@dataclass(frozen=True, eq=False)
class TextureAnomalyModel:
    """The good cloth of one article: feature centre and scale, remembered good cells
    (standardized), and the threshold at which a frame's score is an anomaly (infinite until
    calibrated)."""

    cell_px: int
    mean: Float32Array  # (FEATURES,)
    scale: Float32Array  # (FEATURES,)
    memory: Float32Array  # (cells, FEATURES)
    threshold: float

    def __post_init__(self) -> None:
        shapes = (self.mean.shape, self.scale.shape, self.memory.shape[1:])
        if self.cell_px < 2 or any(shape != (FEATURES,) for shape in shapes):
            raise ValueError(
                f"expected cell_px >= 2 and {FEATURES} features, got cell_px {self.cell_px}, "
                f"mean {self.mean.shape}, scale {self.scale.shape}, memory {self.memory.shape}"
            )
        if len(self.memory) == 0 or not bool(np.all(self.scale > 0)):
            raise ValueError("expected a non-empty memory and positive feature scales")

    def with_threshold(self, threshold: float) -> TextureAnomalyModel:
        return TextureAnomalyModel(self.cell_px, self.mean, self.scale, self.memory, threshold)

    def score_map(self, image: Image) -> Float32Array:
        """Each cell's distance to the nearest good cell, averaged over SMOOTH_CELLS cells each
        way: (rows, cols)."""
        query = (cell_features(image, self.cell_px) - self.mean) / self.scale
        memory_sq = np.sum(self.memory * self.memory, axis=1)
        nearest = np.empty(len(query), np.float32)
        for start in range(0, len(query), QUERY_CHUNK):
            chunk = query[start : start + QUERY_CHUNK]
            squared = np.sum(chunk * chunk, axis=1)[:, None] - 2.0 * chunk @ self.memory.T
            nearest[start : start + len(chunk)] = (squared + memory_sq).min(axis=1)
        distances = np.sqrt(np.maximum(nearest, 0.0)).reshape(
            cell_grid(image.shape[:2], self.cell_px)
        )
        smooth = min(SMOOTH_CELLS, *distances.shape)
        smoothed = cv2.blur(distances, (smooth, smooth), borderType=cv2.BORDER_REPLICATE)
        return np.asarray(smoothed, np.float32)

    def score(self, image: Image) -> float:
        """IMAGE's score: the highest of its score map."""
        return float(self.score_map(image).max())

    def find(self, image: Image, class_id: int) -> Detections:
        """Boxes around the cells at or above the threshold, joined where they touch, as
        CLASS_ID; confidence 0.5 at the threshold, rising towards 1 as the score grows."""
        scores = self.score_map(image)
        hot = (scores >= self.threshold).astype(np.uint8)
        count, labels, stats, _ = cv2.connectedComponentsWithStats(hot, connectivity=8)
        stride = max(self.cell_px // 2, 1)
        boxes, confidence = [], []
        for region in range(1, count):
            col, row, width, height = stats[region, :4]
            x1, y1 = col * stride, row * stride
            x2 = min((col + width - 1) * stride + self.cell_px, image.shape[1])
            y2 = min((row + height - 1) * stride + self.cell_px, image.shape[0])
            boxes.append([x1, y1, x2, y2])
            peak = float(scores[labels == region].max())
            confidence.append(1.0 - 0.5 * self.threshold / peak)
        if not boxes:
            return Detections.empty()
        return Detections(
            np.array(boxes, np.float32),
            np.array(confidence, np.float32),
            np.full(len(boxes), class_id, np.int64),
        )

    def beside(self, detections: Detections, image: Image, class_id: int) -> Detections:
        """DETECTIONS and, after them, IMAGE's anomaly boxes (as CLASS_ID) that overlap none of
        them: a second opinion for what the detector did not report."""
        found = self.find(image, class_id)
        if len(found) and len(detections):
            a, d = found.xyxy_px[:, None, :], detections.xyxy_px[None, :, :]
            overlap_x = np.minimum(a[..., 2], d[..., 2]) > np.maximum(a[..., 0], d[..., 0])
            overlap_y = np.minimum(a[..., 3], d[..., 3]) > np.maximum(a[..., 1], d[..., 1])
            found = found.filter(np.asarray(~(overlap_x & overlap_y).any(axis=1), dtype=bool))
        return Detections.merge([detections, found])

    def save(self, path: Path) -> None:
        np.savez_compressed(
            path,
            format_version=np.int64(FORMAT_VERSION),
            cell_px=np.int64(self.cell_px),
            mean=self.mean,
            scale=self.scale,
            memory=self.memory.astype(np.float16),
            threshold=np.float64(self.threshold),
        )

    @classmethod
    def load(cls, path: Path) -> TextureAnomalyModel:
        """The model saved at PATH; ModelFileError naming the file if it is not one."""
        try:
            with np.load(path) as data:
                version = int(data["format_version"])
                if version != FORMAT_VERSION:
                    raise ModelFileError(
                        f"{path}: texture model format {FORMAT_VERSION} expected, got {version}"
                    )
                return cls(
                    cell_px=int(data["cell_px"]),
                    mean=data["mean"].astype(np.float32),
                    scale=data["scale"].astype(np.float32),
                    memory=data["memory"].astype(np.float32),
                    threshold=float(data["threshold"]),
                )
        except (OSError, KeyError, ValueError, EOFError) as error:
            raise ModelFileError(f"{path}: not a texture anomaly model ({error})") from None
