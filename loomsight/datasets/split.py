"""Deterministic train/val/test split that keeps groups (sessions, tiles of an image) together.

Group key of an image: its file name with any tile suffix removed (`NAME__x0_y0.jpg` -> `NAME.jpg`,
so tiles always go with their source), then, when a group regex is given, its named group `group`,
else its first capture group, else its whole match (`re.search`); without a regex each source image
is its own group. Whole groups are assigned to splits: the sorted group keys are shuffled with
`numpy.random.default_rng(seed)`, then each group goes to the split furthest below its target image
count (ties: train, val, test). A split whose ratio is 0 gets nothing.

Output (never inside SRC): OUT/{train,val,test}.txt with absolute image paths and OUT/data.yaml
pointing at them, or with `copy` OUT/images/<split>/ and OUT/labels/<split>/; always OUT/split.json
(group -> split) for audit.
"""

from __future__ import annotations

import json
import logging
import math
import re
import shutil
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from loomsight.datasets.layout import (
    DatasetItem,
    check_output_dir,
    clear_output_dir,
    images_dir,
    labels_dir,
    list_items,
    write_data_yaml,
)
from loomsight.datasets.tiling import source_stem
from loomsight.errors import DatasetError

logger = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")
UnmatchedPolicy = Literal["error", "own-group"]


def parse_ratios(text: str) -> tuple[float, float, float]:
    """`"0.8,0.1,0.1"` -> (0.8, 0.1, 0.1); ValueError unless three numbers >= 0 summing to 1."""
    try:
        ratios = tuple(float(part) for part in text.split(","))
    except ValueError:
        raise ValueError(f"expected three numbers like 0.8,0.1,0.1, got {text!r}") from None
    if len(ratios) != 3:
        raise ValueError(f"expected three ratios (train,val,test), got {len(ratios)}: {text!r}")
    if any(not math.isfinite(ratio) or ratio < 0 for ratio in ratios):
        raise ValueError(f"ratios must be finite and >= 0, got {text!r}")
    if not math.isclose(sum(ratios), 1.0, abs_tol=1e-6):
        raise ValueError(f"ratios must sum to 1, got {text!r} (sum {sum(ratios):g})")
    if ratios[0] == 0:
        raise ValueError(f"the train ratio must be > 0, got {text!r}")
    return ratios[0], ratios[1], ratios[2]


def compile_group_regex(regex: str) -> re.Pattern[str]:
    """The compiled group regex; ValueError naming the problem if it does not compile."""
    try:
        return re.compile(regex)
    except re.error as error:
        raise ValueError(f"not a valid regular expression {regex!r}: {error}") from None


def group_key(file_name: str, pattern: re.Pattern[str] | None) -> str | None:
    """The group of an image file name (see the module docstring); None if `pattern` misses."""
    path = Path(file_name)
    source_name = source_stem(path.stem) + path.suffix
    if pattern is None:
        return source_stem(path.stem)
    match = pattern.search(source_name)
    if match is None:
        return None
    if "group" in pattern.groupindex:
        return match.group("group")
    return match.group(1) if pattern.groups else match.group(0)


def assign_groups(
    group_sizes: Mapping[str, int], ratios: Sequence[float], seed: int
) -> dict[str, str]:
    """Group -> split: shuffled groups, each to the split furthest below its target image count."""
    keys = sorted(group_sizes)
    order = np.random.default_rng(seed).permutation(len(keys))
    total = sum(group_sizes.values())
    targets = [ratio * total for ratio in ratios]
    counts = [0] * len(SPLITS)
    open_splits = [index for index, ratio in enumerate(ratios) if ratio > 0]
    assignment: dict[str, str] = {}
    for position in order:
        key = keys[int(position)]
        best = max(open_splits, key=lambda index: (targets[index] - counts[index], -index))
        counts[best] += group_sizes[key]
        assignment[key] = SPLITS[best]
    return assignment


@dataclass(frozen=True)
class SplitPlan:
    """Which split every image and group goes to."""

    split_of_group: dict[str, str]
    group_of_image: dict[Path, str]
    items: dict[str, list[DatasetItem]] = field(default_factory=dict)

    def image_counts(self) -> dict[str, int]:
        return {split: len(self.items.get(split, [])) for split in SPLITS}

    def group_counts(self) -> dict[str, int]:
        counts = Counter(self.split_of_group.values())
        return {split: counts.get(split, 0) for split in SPLITS}

    def leaking_groups(self) -> list[str]:
        """Groups whose images lie in more than one split, checked from the images themselves."""
        splits_of_group: dict[str, set[str]] = {}
        for split, items in self.items.items():
            for item in items:
                group = self.group_of_image[item.image_path]
                splits_of_group.setdefault(group, set()).add(split)
        return sorted(group for group, splits in splits_of_group.items() if len(splits) > 1)


def plan_split(
    items: Sequence[DatasetItem],
    ratios: Sequence[float],
    seed: int = 0,
    pattern: re.Pattern[str] | None = None,
    unmatched: UnmatchedPolicy = "error",
) -> SplitPlan:
    """Group the images and assign whole groups to splits; DatasetError on unmatched names."""
    group_of_image: dict[Path, str] = {}
    misses: list[str] = []
    for item in items:
        key = group_key(item.image_path.name, pattern)
        if key is None:
            misses.append(item.image_path.name)
            key = source_stem(item.image_path.stem)
        group_of_image[item.image_path] = key
    if misses and unmatched == "error":
        assert pattern is not None
        examples = ", ".join(misses[:5])
        raise DatasetError(
            f"{len(misses)} of {len(items)} image names do not match the group regex "
            f"{pattern.pattern!r}, e.g. {examples}; fix the regex or pass --unmatched own-group"
        )
    if misses:
        logger.warning("%d image names did not match the group regex: own groups", len(misses))
    sizes = Counter(group_of_image.values())
    split_of_group = assign_groups(sizes, ratios, seed)
    by_split: dict[str, list[DatasetItem]] = {split: [] for split in SPLITS}
    for item in items:
        by_split[split_of_group[group_of_image[item.image_path]]].append(item)
    return SplitPlan(split_of_group, group_of_image, by_split)


@dataclass(frozen=True)
class SplitResult:
    """A written split: the plan, the data.yaml written, and label files that were missing."""

    plan: SplitPlan
    data_yaml: Path
    missing_labels: int


def _copy_split(
    src: Path, out: Path, plan: SplitPlan, on_progress: Callable[[int, int], None] | None
) -> int:
    total = sum(plan.image_counts().values())
    done = missing = 0
    for split, items in plan.items.items():
        for item in items:
            relative = item.image_path.relative_to(images_dir(src))
            image_out = images_dir(out) / split / relative
            image_out.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(item.image_path, image_out)
            if item.label_path.is_file():
                label_out = labels_dir(out) / split / relative.with_suffix(".txt")
                label_out.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(item.label_path, label_out)
            else:
                missing += 1
            done += 1
            if on_progress is not None:
                on_progress(done, total)
    return missing


def split_dataset(
    src: Path,
    out: Path,
    ratios: Sequence[float],
    names: Sequence[str],
    seed: int = 0,
    pattern: re.Pattern[str] | None = None,
    unmatched: UnmatchedPolicy = "error",
    copy: bool = False,
    on_progress: Callable[[int, int], None] | None = None,
    overwrite: bool = False,
) -> SplitResult:
    """Split the dataset SRC into OUT (lists or copies, data.yaml, split.json); SRC is only read."""
    items = list_items(src)
    if not items:
        raise DatasetError(f"{images_dir(src)}: no images found")
    plan = plan_split(items, ratios, seed, pattern, unmatched)
    leaks = plan.leaking_groups()
    if leaks:  # cannot happen by construction; refuse to write a leaking split if it ever does
        raise DatasetError(f"groups in more than one split: {', '.join(leaks[:5])}")
    check_output_dir(out, [src], overwrite)
    clear_output_dir(out)
    counts = plan.image_counts()
    extra: dict[str, Any] = {}
    missing = 0
    if copy:
        for split in SPLITS:  # lists of an earlier run in OUT would contradict the copies
            (out / f"{split}.txt").unlink(missing_ok=True)
        missing = _copy_split(src, out, plan, on_progress)
        for split in SPLITS:
            if split != "test" or counts[split]:
                extra[split] = f"images/{split}"
    else:
        for split in SPLITS:
            list_path = out / f"{split}.txt"
            lines = [str(item.image_path.resolve()) for item in plan.items[split]]
            list_path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
            missing += sum(not item.label_path.is_file() for item in plan.items[split])
            if split != "test" or counts[split]:
                extra[split] = str(list_path.resolve())
    for split in SPLITS:
        if counts[split] == 0:
            logger.warning("split %s is empty", split)
    if missing:
        logger.warning("%d images have no label file (treated as defect-free)", missing)
    data_yaml = write_data_yaml(out, names, extra)
    audit = {
        "src": str(src.resolve()),
        "seed": seed,
        "ratios": dict(zip(SPLITS, ratios, strict=True)),
        "group_regex": pattern.pattern if pattern is not None else None,
        "images": counts,
        "groups": plan.group_counts(),
        "split_of_group": dict(sorted(plan.split_of_group.items())),
    }
    (out / "split.json").write_text(json.dumps(audit, indent=2) + "\n", encoding="utf-8")
    return SplitResult(plan, data_yaml, missing)
