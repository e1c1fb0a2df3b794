"""Deterministic noise addressed by integer coordinates.

Every random property of the cloth (a yarn's colour, its thickness along its length, fibre hairs) is
a pure function of (seed, yarn index, position), never of the order things were drawn in. That is
what lets the moving web render any window of an endless roll and get the same cloth each time.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Float32Array = npt.NDArray[np.float32]
IntLike = npt.NDArray[np.integer] | int

_MIX_1 = np.uint32(0x7FEB352D)
_MIX_2 = np.uint32(0x846CA68B)
_KEY = np.uint32(0x9E3779B1)


def _mix(h: npt.NDArray[np.uint32]) -> npt.NDArray[np.uint32]:
    with np.errstate(over="ignore"):  # wrap-around is the point of the hash
        h = h ^ (h >> np.uint32(16))
        h = h * _MIX_1
        h = h ^ (h >> np.uint32(15))
        h = h * _MIX_2
        return h ^ (h >> np.uint32(16))


def hash_uniform(seed: int, *keys: IntLike) -> Float32Array:
    """Uniform values in [0, 1), one per element of the broadcast integer `keys`."""
    h = np.full((), np.uint32(seed & 0xFFFFFFFF), dtype=np.uint32)
    h = _mix(h ^ _KEY)
    for key in keys:
        as_u32 = np.asarray(key).astype(np.int64).astype(np.uint32)
        with np.errstate(over="ignore"):
            h = _mix(h ^ (as_u32 * _KEY))
    return (h >> np.uint32(8)).astype(np.float32) / np.float32(1 << 24)


def hash_normal(seed: int, *keys: IntLike) -> Float32Array:
    """Roughly standard-normal values (sum of 4 uniforms, rescaled) addressed like hash_uniform."""
    total = hash_uniform(seed, *keys)
    for k in range(1, 4):
        total = total + hash_uniform(seed + 7919 * k, *keys)
    return ((total - 2.0) * np.float32(np.sqrt(3.0))).astype(np.float32)


def interpolation_matrix(start_px: float, count_px: int, cell_px: float) -> Float32Array:
    """Weights (count_px, n_cells) that interpolate lattice values onto pixels start..start+count.

    Lattice point k sits at k * cell_px in global coordinates, so two windows of the same roll get
    identical values where they overlap. Smoothstep weights give a C1-smooth field.
    """
    positions = (start_px + np.arange(count_px, dtype=np.float64)) / cell_px
    first = int(np.floor(positions[0]))
    cell = np.floor(positions).astype(np.int64) - first
    t = (positions - np.floor(positions)).astype(np.float32)
    t = t * t * (3.0 - 2.0 * t)
    n_cells = int(cell.max()) + 2
    weights = np.zeros((count_px, n_cells), dtype=np.float32)
    rows = np.arange(count_px)
    weights[rows, cell] = 1.0 - t
    weights[rows, cell + 1] = t
    return weights


def lattice_start(start_px: float, cell_px: float) -> int:
    """Index of the first lattice point used by interpolation_matrix for this start."""
    return int(np.floor(start_px / cell_px))


def smooth_noise_2d(
    seed: int, origin_xy: tuple[float, float], shape_hw: tuple[int, int], cell_px: float
) -> Float32Array:
    """Smooth noise in [-1, 1] over a window, addressed by global pixel coordinates."""
    x0, y0 = origin_xy
    height, width = shape_hw
    weights_y = interpolation_matrix(y0, height, cell_px)
    weights_x = interpolation_matrix(x0, width, cell_px)
    ky = lattice_start(y0, cell_px) + np.arange(weights_y.shape[1])
    kx = lattice_start(x0, cell_px) + np.arange(weights_x.shape[1])
    lattice = hash_uniform(seed, ky[:, None], kx[None, :]) * 2.0 - 1.0
    return (weights_y @ lattice @ weights_x.T).astype(np.float32)


def fractal_noise_2d(
    seed: int,
    origin_xy: tuple[float, float],
    shape_hw: tuple[int, int],
    cell_px: float,
    octaves: int = 3,
) -> Float32Array:
    """Octaves of smooth_noise_2d, each half the cell size and half the amplitude; about [-1, 1]."""
    total = np.zeros(shape_hw, dtype=np.float32)
    amplitude, norm = 1.0, 0.0
    for octave in range(octaves):
        size = max(cell_px / 2**octave, 1.0)
        total += amplitude * smooth_noise_2d(seed + 101 * octave, origin_xy, shape_hw, size)
        norm += amplitude
        amplitude *= 0.5
    return (total / np.float32(norm)).astype(np.float32)


def yarn_noise(
    seed: int, yarn_first: int, yarn_count: int, start_px: float, count_px: int, cell_px: float
) -> Float32Array:
    """Noise in [-1, 1] along each of `yarn_count` yarns: shape (yarn_count, count_px)."""
    weights = interpolation_matrix(start_px, count_px, cell_px)
    keys = lattice_start(start_px, cell_px) + np.arange(weights.shape[1])
    yarns = yarn_first + np.arange(yarn_count)
    lattice = hash_uniform(seed, yarns[:, None], keys[None, :]) * 2.0 - 1.0
    return (lattice @ weights.T).astype(np.float32)
