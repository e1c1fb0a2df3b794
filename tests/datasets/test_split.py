"""Group-keeping splits: no leakage, determinism, ratios, output files; and the real dataset."""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from pathlib import Path

import pytest
import yaml

from loomsight.datasets.check import check_dataset
from loomsight.datasets.layout import DatasetItem, list_items
from loomsight.datasets.split import (
    SPLITS,
    compile_group_regex,
    group_key,
    parse_ratios,
    plan_split,
    split_dataset,
)
from loomsight.errors import DatasetError
from tests.conftest import SHARED_DIR, RunCli
from tests.datasets.test_check import make_dataset

REAL_DATASET = SHARED_DIR / "datasets" / "textile-defect-rf"
SESSION_REGEX = r"^(?:expand_[a-z0-9]+_)?(?P<group>.*?\d{8}_?\d{6}_?\d{3})"
"""Capture session of the textile-defect-rf names: the prefix up to its 17-digit (or
YYYYMMDD_HHMMSS_mmm) timestamp, with an augmentation prefix `expand_<word>_` stripped."""


@pytest.mark.parametrize(
    ("text", "ratios"),
    [("0.8,0.1,0.1", (0.8, 0.1, 0.1)), ("0.9,0.1,0", (0.9, 0.1, 0.0)), ("1,0,0", (1.0, 0, 0))],
)
def test_parse_ratios(text: str, ratios: tuple[float, float, float]) -> None:
    assert parse_ratios(text) == pytest.approx(ratios)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0.8,0.1,0.2", "must sum to 1"),
        ("0.8,0.2", "expected three ratios"),
        ("0.8,0.1,x", "expected three numbers"),
        ("1.2,-0.1,-0.1", ">= 0"),
        ("0,0.5,0.5", "train ratio must be > 0"),
    ],
)
def test_parse_ratios_rejects(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_ratios(text)


@pytest.mark.parametrize(
    ("name", "regex", "key"),
    [
        ("a.jpg", None, "a"),
        ("a__x576_y0.jpg", None, "a"),  # tiles group with their source
        ("cam1_0042.png", r"^(cam\d+)_", "cam1"),
        ("cam1_0042__x0_y0.png", r"_(\d+)\.png$", "0042"),  # regex sees the source name
        ("cam1_0042.png", r"^(?P<x>\w)(?P<group>am\d)", "am1"),  # named group wins
        ("cam1_0042.png", r"cam\d", "cam1"),  # no group: the whole match
        ("cam1_0042.png", r"^roll", None),
        # the real dataset's name families and augmented copies
        (
            "00767156391-0-20220101123930352-NG-none-10-_png_jpg.rf.1497a13.jpg",
            SESSION_REGEX,
            "00767156391-0-20220101123930352",
        ),
        (
            "Image_20210407153833216-17-_png_jpg.rf.0a1b.jpg",
            SESSION_REGEX,
            "Image_20210407153833216",
        ),
        (
            "camera_0-0-20221012094321811-NG-none-1362-0-_-label-0-_bmp_jpg.rf.ab.jpg",
            SESSION_REGEX,
            "camera_0-0-20221012094321811",
        ),
        (
            "expand_mrmc_camera_0-0-20221012094321811-NG-none-1424-0-_-label-0-_bmp_jpg.rf.c.jpg",
            SESSION_REGEX,
            "camera_0-0-20221012094321811",
        ),
        (
            "expand_r90_Image_20210407153833216-3_bmp_jpg.rf.d.jpg",
            SESSION_REGEX,
            "Image_20210407153833216",
        ),
        ("20220101_122518_698-0-_png_jpg.rf.26d.jpg", SESSION_REGEX, "20220101_122518_698"),
    ],
)
def test_group_key(name: str, regex: str | None, key: str | None) -> None:
    pattern = compile_group_regex(regex) if regex is not None else None
    assert group_key(name, pattern) == key


def _items(sizes: dict[str, int]) -> list[DatasetItem]:
    """Fake items: `sizes[group]` images named GROUP-INDEX.jpg (plan_split never opens files)."""
    return [
        DatasetItem(Path(f"/ds/images/{group}-{i}.jpg"), Path(f"/ds/labels/{group}-{i}.txt"))
        for group, count in sizes.items()
        for i in range(count)
    ]


ITEMS = _items({f"s{index:03d}": 1 + (index * 7) % 9 for index in range(200)})
BY_PREFIX = compile_group_regex(r"^(s\d+)-")


def _split_of_group_from_images(plan_items: dict[str, list[DatasetItem]]) -> dict[str, set[str]]:
    splits: dict[str, set[str]] = defaultdict(set)
    for split, items in plan_items.items():
        for item in items:
            splits[item.image_path.name.split("-")[0]].add(split)
    return splits


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("ratios", [(0.8, 0.1, 0.1), (0.7, 0.2, 0.1), (0.9, 0.1, 0.0)])
def test_plan_keeps_groups_together_and_honours_ratios(
    seed: int, ratios: tuple[float, float, float]
) -> None:
    plan = plan_split(ITEMS, ratios, seed, BY_PREFIX)
    splits_of_group = _split_of_group_from_images(plan.items)
    assert len(splits_of_group) == 200
    assert all(len(splits) == 1 for splits in splits_of_group.values())
    assert plan.leaking_groups() == []
    counts = plan.image_counts()
    assert sum(counts.values()) == len(ITEMS)
    for split, ratio in zip(SPLITS, ratios, strict=True):
        assert abs(counts[split] - ratio * len(ITEMS)) <= 9  # within the largest group
    assert (counts["test"] == 0) == (ratios[2] == 0)


def test_plan_is_deterministic_per_seed() -> None:
    first, again = (plan_split(ITEMS, (0.8, 0.1, 0.1), 7, BY_PREFIX) for _ in range(2))
    other = plan_split(ITEMS, (0.8, 0.1, 0.1), 8, BY_PREFIX)
    assert first.split_of_group == again.split_of_group
    assert first.items == again.items
    assert first.split_of_group != other.split_of_group


def test_plan_does_not_depend_on_item_order() -> None:
    forward = plan_split(ITEMS, (0.8, 0.1, 0.1), 3, BY_PREFIX)
    backward = plan_split(ITEMS[::-1], (0.8, 0.1, 0.1), 3, BY_PREFIX)
    assert forward.split_of_group == backward.split_of_group


def test_tiles_stay_with_their_source() -> None:
    items = [
        DatasetItem(Path(f"/ds/images/img{i}__x{x}_y0.jpg"), Path(f"/ds/labels/img{i}.txt"))
        for i in range(50)
        for x in (0, 576, 1152)
    ]
    plan = plan_split(items, (0.6, 0.2, 0.2), seed=0)
    assert len(plan.split_of_group) == 50
    for split_items in plan.items.values():
        per_source = Counter(item.image_path.name.split("__")[0] for item in split_items)
        assert set(per_source.values()) <= {3}


def test_unmatched_names_error_lists_examples_or_become_own_groups() -> None:
    items = [*_items({"s1": 2}), *_items({"zz": 2})]
    with pytest.raises(DatasetError, match=r"2 of 4 image names .*zz-0\.jpg, zz-1\.jpg"):
        plan_split(items, (0.8, 0.1, 0.1), 0, BY_PREFIX)
    plan = plan_split(items, (0.8, 0.1, 0.1), 0, BY_PREFIX, unmatched="own-group")
    assert sorted(plan.split_of_group) == ["s1", "zz-0", "zz-1"]


def _small_dataset(root: Path) -> Path:
    label = "0 0.5 0.5 0.2 0.2\n"
    names = [f"cam{c}/s{s}_{i}.jpg" for c in range(2) for s in range(10) for i in range(3)]
    images = {name: ((32, 24), label) for name in names}
    return make_dataset(root, images)


def _snapshot(root: Path) -> dict[str, float]:
    return {str(path): path.stat().st_mtime for path in sorted(root.rglob("*"))}


@pytest.mark.parametrize("copy", [False, True])
def test_split_dataset_writes_outputs_and_leaves_src_alone(tmp_path: Path, copy: bool) -> None:
    src = _small_dataset(tmp_path / "src")
    before = _snapshot(src)
    out = tmp_path / "out"
    pattern = compile_group_regex(r"^(s\d+)_")
    result = split_dataset(src, out, (0.6, 0.2, 0.2), ["defect"], 0, pattern, copy=copy)
    assert _snapshot(src) == before
    data = yaml.safe_load((out / "data.yaml").read_text())
    assert data["names"] == {0: "defect"}
    images_of: dict[str, list[str]] = {}
    for split in SPLITS:
        if copy:
            assert data[split] == f"images/{split}"
            paths = sorted((out / "images" / split).rglob("*.jpg"))
            for path in paths:
                relative = path.relative_to(out / "images" / split).with_suffix(".txt")
                assert (out / "labels" / split / relative).is_file()
        else:
            assert Path(data[split]) == (out / f"{split}.txt").resolve()
            paths = [Path(line) for line in (out / f"{split}.txt").read_text().splitlines()]
            assert all(path.is_absolute() and path.is_file() for path in paths)
        images_of[split] = [path.name for path in paths]
    assert sum(map(len, images_of.values())) == 60
    sessions = {split: {name.split("_")[0] for name in names} for split, names in images_of.items()}
    assert not sessions["train"] & sessions["val"] and not sessions["val"] & sessions["test"]
    assert not sessions["train"] & sessions["test"]
    audit = json.loads((out / "split.json").read_text())
    assert audit["split_of_group"] == result.plan.split_of_group
    assert {split: len(names) for split, names in sessions.items()} == audit["groups"]


@pytest.mark.parametrize(
    ("where", "message"),
    [
        ("inside", "overlaps the source"),
        ("same", "overlaps the source"),
        ("above", "overlaps the source"),
        ("full", "already holds a dataset"),
    ],
)
def test_split_dataset_refuses_output_folder(tmp_path: Path, where: str, message: str) -> None:
    src = _small_dataset(tmp_path / "src")
    full = tmp_path / "earlier"
    (full / "images").mkdir(parents=True)
    (full / "images" / "x.jpg").write_bytes(b"")
    out = {"inside": src / "splits", "same": src, "above": tmp_path, "full": full}[where]
    with pytest.raises(DatasetError, match=message):
        split_dataset(src, out, (0.8, 0.1, 0.1), ["defect"])


def test_cli_split(tmp_path: Path, run_cli: RunCli) -> None:
    src = _small_dataset(tmp_path / "src")
    out = tmp_path / "out"
    args = ["dataset", "split", str(src), "--out", str(out), "--ratios", "0.6,0.2,0.2"]
    result = run_cli(*args, "--group-regex", r"^(s\d+)_", "--seed", "3", check=True)
    assert "no group spans two splits (10 groups)" in result.stdout
    assert (out / "train.txt").is_file() and (out / "split.json").is_file()
    refused = run_cli(*args)
    assert refused.returncode == 2 and "--overwrite" in refused.stderr
    run_cli(*args, "--copy", "--overwrite", check=True)
    assert len(list((out / "images").rglob("*.jpg"))) == 60
    assert not (out / "train.txt").exists()  # the lists of the earlier run went with it


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--ratios", "0.5,0.4,0.3"], "must sum to 1"),
        (["--group-regex", "(unclosed"], "not a valid regular expression"),
        (["--group-regex", "^roll(\\d+)"], "do not match the group regex"),
        (["--unmatched", "drop"], "expected 'error' or 'own-group'"),
    ],
)
def test_cli_split_bad_options_exit_2(
    tmp_path: Path, run_cli: RunCli, extra: list[str], message: str
) -> None:
    src = _small_dataset(tmp_path / "src")
    result = run_cli("dataset", "split", str(src), "--out", str(tmp_path / "out"), *extra)
    assert result.returncode == 2
    assert message in " ".join(result.stderr.split())
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_real_dataset_checks_clean_and_splits_by_session(tmp_path: Path) -> None:
    if not (REAL_DATASET / "images").is_dir():
        pytest.skip(f"real dataset not present at {REAL_DATASET}")
    report = check_dataset(REAL_DATASET, ["defect"])
    assert report.ok, report.by_kind()
    assert report.images == 2717
    pattern = re.compile(SESSION_REGEX)
    assert all(pattern.search(item.image_path.name) for item in list_items(REAL_DATASET))
    out = tmp_path / "split"
    result = split_dataset(REAL_DATASET, out, (0.8, 0.1, 0.1), ["defect"], 0, pattern)
    splits_of_session: dict[str, set[str]] = defaultdict(set)
    for split in SPLITS:
        for line in (out / f"{split}.txt").read_text().splitlines():
            match = pattern.search(Path(line).name)
            assert match is not None
            splits_of_session[match.group("group")].add(split)
    assert len(splits_of_session) == len(result.plan.split_of_group) > 1000
    assert all(len(splits) == 1 for splits in splits_of_session.values())
    assert sum(result.plan.image_counts().values()) == 2717
