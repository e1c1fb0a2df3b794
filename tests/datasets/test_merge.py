"""Merging datasets: names by first sight, ids rewritten by name, files copied, errors named."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from loomsight.datasets.merge import merge_datasets, parse_names_of, parse_renames, source_tags
from loomsight.errors import DatasetError
from tests.conftest import RunCli
from tests.datasets.test_check import make_dataset

SYNTH_NAMES = ("hole", "stain", "knot")
RF_NAMES = ("defect", "stain")
SYNTH_LABELS = {"s0.jpg": "0 0.5 0.5 0.2 0.2\n2 0.25 0.3 0.1 0.12\n", "s1.png": ""}
RF_LABELS = {
    "a.jpg": "0 0.5 0.5 0.5 0.4\n1 0.1 0.2 0.1 0.1\n",
    "b.jpg": "",
    "c.jpg": "0 .4 .6 .2 .2",
}
SPLIT_OF = {"s0.jpg": "train", "s1.png": "val", "a.jpg": "train", "b.jpg": "val", "c.jpg": "test"}


def _relative(name: str, split: bool) -> str:
    return f"{SPLIT_OF[name]}/{name}" if split else name


def _sources(tmp_path: Path, split: bool = False) -> tuple[Path, Path]:
    """`synth` (hole, stain, knot; with data.yaml) and `rf` (defect, stain; without data.yaml)."""
    synth = make_dataset(
        tmp_path / "synth",
        {_relative(name, split): ((32, 24), text) for name, text in SYNTH_LABELS.items()},
        SYNTH_NAMES,
    )
    rf = make_dataset(
        tmp_path / "rf",
        {_relative(name, split): ((40, 30), text) for name, text in RF_LABELS.items()},
        None,
    )
    return synth, rf


def _rows(text: str) -> list[tuple[int, list[float]]]:
    return [(int(f[0]), [float(v) for v in f[1:]]) for f in map(str.split, text.splitlines()) if f]


@pytest.mark.parametrize(
    ("renames", "names", "synth_map", "rf_map"),
    [
        ({}, ["hole", "stain", "knot", "defect"], {0: 0, 1: 1, 2: 2}, {0: 3, 1: 1}),
        ({"defect": "hole"}, ["hole", "stain", "knot"], {0: 0, 1: 1, 2: 2}, {0: 0, 1: 1}),
        ({"knot": "defect"}, ["hole", "stain", "defect"], {0: 0, 1: 1, 2: 2}, {0: 2, 1: 1}),
        ({"hole": "x", "stain": "x"}, ["x", "knot", "defect"], {0: 0, 1: 0, 2: 1}, {0: 2, 1: 0}),
    ],
)
@pytest.mark.parametrize("split", [False, True])
def test_merge_remaps_ids_by_name_and_copies_files(
    tmp_path: Path,
    split: bool,
    renames: dict[str, str],
    names: list[str],
    synth_map: dict[int, int],
    rf_map: dict[int, int],
) -> None:
    synth, rf = _sources(tmp_path, split)
    before = {path: path.read_bytes() for path in sorted(tmp_path.rglob("*")) if path.is_file()}
    out = tmp_path / "merged"
    result = merge_datasets([synth, rf], out, {"rf": ["defect", "stain"]}, renames)
    assert {p: p.read_bytes() for p in before} == before  # sources untouched
    assert result.names == names
    assert [source.id_map for source in result.sources] == [synth_map, rf_map]
    for root, tag, labels, id_map in [
        (synth, "synth", SYNTH_LABELS, synth_map),
        (rf, "rf", RF_LABELS, rf_map),
    ]:
        for name, text in labels.items():
            relative = Path(_relative(name, split))
            image_out = out / "images" / relative.parent / f"{tag}__{name}"
            assert image_out.read_bytes() == (root / "images" / relative).read_bytes()
            label_out = out / "labels" / relative.parent / f"{tag}__{Path(name).stem}.txt"
            written = label_out.read_text()
            assert (written == "") == (text == "")  # defect-free images stay defect-free
            expected = [(id_map[class_id], xywh) for class_id, xywh in _rows(text)]
            assert _rows(written) == expected
    assert len(list((out / "images").rglob("*.*"))) == 5
    data = yaml.safe_load((out / "data.yaml").read_text())
    assert data["names"] == dict(enumerate(names))
    if split:
        assert {k: data[k] for k in ("train", "val", "test")} == {
            split: f"images/{split}" for split in ("train", "val", "test")
        }
    else:
        assert (data["train"], data["val"], "test" in data) == ("images", "images", False)
    audit = json.loads((out / "merge.json").read_text())
    assert audit["names"] == names and audit["renames"] == renames
    assert [s["tag"] for s in audit["sources"]] == ["synth", "rf"]
    assert [s["names"] for s in audit["sources"]] == [list(SYNTH_NAMES), list(RF_NAMES)]
    assert audit["sources"][1]["id_map"] == {str(k): v for k, v in rf_map.items()}
    assert audit["sources"][1]["root"] == str(rf.resolve())
    counts = [{"train": 1, "val": 1}, {"test": 1, "train": 1, "val": 1}] if split else None
    assert [s["images"] for s in audit["sources"]] == (counts or [{"all": 2}, {"all": 3}])
    assert [s["boxes"] for s in audit["sources"]] == [2, 3]


def test_sources_with_one_folder_name_get_distinct_tags(tmp_path: Path) -> None:
    first = make_dataset(tmp_path / "a" / "ds", {"x.jpg": ((16, 16), "0 .5 .5 .2 .2\n")}, ["hole"])
    second = make_dataset(tmp_path / "b" / "ds", {"x.jpg": ((16, 16), "")}, ["defect"])
    assert source_tags([first, second]) == ["ds", "ds-2"]
    result = merge_datasets([first, second], tmp_path / "out")
    names = sorted(path.name for path in (tmp_path / "out" / "images").iterdir())
    assert names == ["ds-2__x.jpg", "ds__x.jpg"]
    assert result.names == ["hole", "defect"]


@pytest.mark.parametrize(
    ("specs", "parsed"),
    [
        (["old=new"], {"old": "new"}),
        ([" dfect = defect ", "a=b"], {"dfect": "defect", "a": "b"}),
    ],
)
def test_parse_renames(specs: list[str], parsed: dict[str, str]) -> None:
    assert parse_renames(specs) == parsed


def test_parse_names_of() -> None:
    parsed = parse_names_of(["rf=defect", "/data/a=b=hole, stain"])
    assert parsed == {"rf": ["defect"], "/data/a=b": ["hole", "stain"]}


def _unlabel(tmp_path: Path) -> None:
    (tmp_path / "rf" / "labels" / "val" / "b.txt").unlink()


def _flatten_rf(tmp_path: Path) -> None:
    shutil.rmtree(tmp_path / "rf")
    make_dataset(tmp_path / "rf", {"a.jpg": ((8, 8), "")}, RF_NAMES)


def _fill_out(tmp_path: Path) -> None:
    (tmp_path / "merged").mkdir()
    (tmp_path / "merged" / "data.yaml").write_text("names: [x]\n")


def _bad_id(tmp_path: Path) -> None:
    (tmp_path / "rf" / "labels" / "test" / "c.txt").write_text("2 0.5 0.5 0.1 0.1\n")


def _nothing(tmp_path: Path) -> None:
    pass


@pytest.mark.parametrize(
    ("mutate", "out", "kwargs", "message"),
    [
        (_nothing, "merged", {"names_of": {}}, r"rf: no data.yaml .* --names-of .*rf=NAME"),
        (_unlabel, "merged", {}, r"1 images of .*rf have no label file, e\.g\. .*b\.jpg"),
        (_nothing, "rf/merged", {}, "overlaps the source data"),
        (_nothing, ".", {}, "overlaps the source data"),
        (_fill_out, "merged", {}, "already holds a dataset"),
        (_bad_id, "merged", {}, r"c\.txt: class id 2, but the source has 2 names"),
        (
            _nothing,
            "merged",
            {"names_of": {"rf": ["d"], "photos": ["d"]}},
            r"photos=\.\.\.: matches no SRC",
        ),
        (_nothing, "merged", {"renames": {"dfect": "defect"}}, "no source has a class 'dfect'"),
        (_flatten_rf, "merged", {}, "sources rf have images outside images/train"),
    ],
)
def test_merge_errors_name_the_problem_and_write_nothing(
    tmp_path: Path, mutate: Callable[[Path], None], out: str, kwargs: dict[str, Any], message: str
) -> None:
    synth, rf = _sources(tmp_path, split=True)
    mutate(tmp_path)
    options: dict[str, Any] = {"names_of": {"rf": list(RF_NAMES)}, **kwargs}
    with pytest.raises(DatasetError, match=message):
        merge_datasets([synth, rf], tmp_path / out, **options)
    assert not (tmp_path / out / "merge.json").exists()
    assert not (tmp_path / out / "images").exists()


@pytest.mark.parametrize(
    ("parse", "spec", "message"),
    [
        (parse_renames, "defect", "--rename: expected OLD=NEW"),
        (parse_renames, "=defect", "--rename: expected OLD=NEW"),
        (parse_renames, "dfect=", "--rename: expected OLD=NEW"),
        (parse_names_of, "rf", "--names-of: expected SRC=NAME"),
        (parse_names_of, "rf=a,,b", "expected comma-separated names"),
    ],
)
def test_parse_rejects_bad_syntax(
    parse: Callable[[list[str]], object], spec: str, message: str
) -> None:
    with pytest.raises(DatasetError, match=message):
        parse([spec])
    with pytest.raises(DatasetError, match="given twice"):
        parse(["a=b", "a=c"])


def test_cli_merge(tmp_path: Path, run_cli: RunCli) -> None:
    synth, rf = _sources(tmp_path)
    out = tmp_path / "merged"
    args = ["dataset", "merge", str(synth), str(rf), "--out", str(out)]
    result = run_cli(*args, "--names-of", f"{rf}=defect,stain", "--rename", "knot=hole", check=True)
    text = " ".join(result.stdout.split())
    assert "merged 2 datasets, 5 images, 3 classes (hole, stain, defect)" in text
    assert "0 defect -> 2 defect" in text and "2 knot -> 0 hole" in text
    assert (out / "images" / "rf__a.jpg").read_bytes() == (rf / "images" / "a.jpg").read_bytes()
    assert yaml.safe_load((out / "data.yaml").read_text())["names"] == {
        0: "hole",
        1: "stain",
        2: "defect",
    }


def test_cli_merge_failure_exits_2_naming_the_file(tmp_path: Path, run_cli: RunCli) -> None:
    synth, rf = _sources(tmp_path)
    (rf / "labels" / "b.txt").unlink()
    result = run_cli(
        "dataset", "merge", str(synth), str(rf), "--names-of", "rf=defect,stain", "-o", "out"
    )
    assert result.returncode == 2
    assert str(rf / "images" / "b.jpg") in " ".join(result.stderr.split())
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()
