"""Group boxes linked in pairs (the parts of one defect), transitively, by union-find."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import numpy.typing as npt

Int64Array = npt.NDArray[np.int64]


def linked_groups(count: int, pairs: Iterable[tuple[int, int]]) -> Int64Array:
    """The group of each of COUNT items, where PAIRS link items into groups (transitively):
    (count,) group indexes 0..G-1, numbered by each group's first item."""
    parent = list(range(count))

    def root(k: int) -> int:
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    for i, j in pairs:
        if not (0 <= i < count and 0 <= j < count):
            raise ValueError(f"pair ({i}, {j}) names an item outside 0..{count - 1}")
        low, high = sorted((root(i), root(j)))
        parent[high] = low
    roots = np.array([root(k) for k in range(count)], dtype=np.int64)
    return np.unique(roots, return_inverse=True)[1].astype(np.int64).reshape(-1)
