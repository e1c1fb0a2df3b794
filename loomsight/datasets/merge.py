"""Merge several YOLO datasets into one, remapping class ids by class name.

Merged names: the union of the sources' names (after renames), in first-seen order. Each image keeps
its path below images/ (images/train of every source lands in OUT/images/train) and its file name
gets the source's tag, the SRC folder name (`-2`, `-3` added on repeats): `TAG__NAME.jpg`. Images
are copied byte for byte; labels are rewritten with merged ids, coordinates kept as written. All is
checked before OUT is touched; sources are only read. OUT/merge.json: names, id maps, counts.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from loomsight.datasets import layout
from loomsight.datasets.data_yaml import read_class_names
from loomsight.datasets.labels import parse_yolo_text
from loomsight.datasets.split import SPLITS
from loomsight.errors import DatasetError

FLAT = "all"
"""The split key of images that lie in no images/{train,val,test} sub-folder."""


def _pairs(specs: Sequence[str], option: str, form: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for spec in specs:
        key, sep, value = (part.strip() for part in spec.rpartition("="))
        if not sep or not key or not value or key in pairs:
            reason = f"{key!r} given twice" if key in pairs else f"expected {form}, got {spec!r}"
            raise DatasetError(f"{option}: {reason}")
        pairs[key] = value
    return pairs


def parse_renames(specs: Sequence[str]) -> dict[str, str]:
    """`["old=new", ...]` -> {old: new}; DatasetError on a spec that is not `old=new`."""
    return _pairs(specs, "--rename", "OLD=NEW (e.g. dfect=defect)")


def parse_names_of(specs: Sequence[str]) -> dict[str, list[str]]:
    """`["SRC=a,b", ...]` -> {SRC: [a, b]}; DatasetError on a spec that is not `SRC=NAME[,NAME]`."""
    pairs = _pairs(specs, "--names-of", "SRC=NAME[,NAME...]")
    names_of = {key: [name.strip() for name in value.split(",")] for key, value in pairs.items()}
    if empty := [key for key, names in names_of.items() if not all(names)]:
        raise DatasetError(f"--names-of {empty[0]}=...: expected comma-separated names")
    return names_of


def source_tags(sources: Sequence[Path]) -> list[str]:
    """Each source's folder name, with `-2`, `-3`... on later sources that repeat one."""
    seen: Counter[str] = Counter()
    tags = []
    for source in sources:
        name = source.resolve().name or "root"
        seen[name] += 1
        tags.append(name if seen[name] == 1 else f"{name}-{seen[name]}")
    return tags


@dataclass(frozen=True)
class MergedSource:
    """One source of a merge: its folder, tag, names as read, id mapping, images per split."""

    root: Path
    tag: str
    names: list[str]
    id_map: dict[int, int]
    images: dict[str, int]
    boxes: int


@dataclass(frozen=True)
class MergeResult:
    """A written merge: merged names, per-source summaries, and the files written."""

    out: Path
    names: list[str]
    sources: list[MergedSource]
    data_yaml: Path
    merge_json: Path


_Copy = tuple[Path, Path, Path, str]  # image from, image to, label to, label text


def _source_names(
    root: Path, tag: str, names_of: Mapping[str, Sequence[str]], used: set[str]
) -> list[str]:
    for key, names in names_of.items():
        if key == tag or Path(key).resolve() == root.resolve():
            used.add(key)
            return list(names)
    if not (root / layout.DATA_YAML).is_file():
        hint = f"pass --names-of {root}=NAME[,NAME...]"
        raise DatasetError(f"{root}: no {layout.DATA_YAML} with the class names; {hint}")
    return read_class_names(root)


def _rewrite(path: Path, id_map: Mapping[int, int]) -> str:
    """The label file at PATH with its class ids mapped; other fields kept as written."""
    text = path.read_text(encoding="utf-8")
    labels = parse_yolo_text(text, (1, 1), str(path))  # validates every line
    top = int(labels.class_id.max()) if len(labels) else -1
    if top >= len(id_map):
        raise DatasetError(f"{path}: class id {top}, but the source has {len(id_map)} names")
    lines = [line.split() for line in text.splitlines() if line.split()]
    return "".join(" ".join([str(id_map[int(f[0])]), *f[1:]]) + "\n" for f in lines)


def _plan_source(
    root: Path, tag: str, names: list[str], id_map: dict[int, int], out: Path
) -> tuple[MergedSource, list[_Copy]]:
    """Check one source (labels present and valid) and list its copies into OUT."""
    items = layout.list_items(root)
    if not items:
        raise DatasetError(f"{layout.images_dir(root)}: no images found")
    if missing := [item.image_path for item in items if not item.label_path.is_file()]:
        examples = ", ".join(str(path) for path in missing[:3])
        raise DatasetError(
            f"{len(missing)} images of {root} have no label file, e.g. {examples}; "
            f"run `loomsight dataset check {root}` first"
        )
    images: Counter[str] = Counter()
    copies: list[_Copy] = []
    for item in items:
        relative = item.image_path.relative_to(layout.images_dir(root))
        split = relative.parts[0] if len(relative.parts) > 1 else FLAT
        images[split if split in SPLITS else FLAT] += 1
        image_to = layout.images_dir(out) / relative.parent / f"{tag}__{relative.name}"
        label_to = layout.labels_dir(out) / relative.parent / f"{tag}__{relative.stem}.txt"
        copies.append((item.image_path, image_to, label_to, _rewrite(item.label_path, id_map)))
    boxes = sum(copy[3].count("\n") for copy in copies)
    source = MergedSource(root.resolve(), tag, names, id_map, dict(sorted(images.items())), boxes)
    return source, copies


def merge_datasets(
    sources: Sequence[Path],
    out: Path,
    names_of: Mapping[str, Sequence[str]] | None = None,
    renames: Mapping[str, str] | None = None,
    overwrite: bool = False,
    on_progress: Callable[[int, int], None] | None = None,
) -> MergeResult:
    """Merge SOURCES into OUT (images, rewritten labels, data.yaml, merge.json). `names_of`: names
    of a source (key: its path or tag) over its data.yaml; `renames`: name -> name before the union.
    """
    names_of, renames = names_of or {}, renames or {}
    if not sources or len({source.resolve() for source in sources}) < len(sources):
        raise DatasetError(f"expected distinct source folders, got {', '.join(map(str, sources))}")
    layout.check_output_dir(out, sources, overwrite)
    tags = source_tags(sources)
    used: set[str] = set()
    names_read: list[list[str]] = []
    for root, tag in zip(sources, tags, strict=True):
        if not root.is_dir():
            raise DatasetError(f"{root}: dataset folder does not exist")
        names_read.append(_source_names(root, tag, names_of, used))
    if unused := sorted(set(names_of) - used):
        raise DatasetError(f"--names-of {unused[0]}=...: matches no SRC (give its path or name)")
    if unknown := sorted(set(renames) - {name for names in names_read for name in names}):
        raise DatasetError(f"--rename {unknown[0]}=...: no source has a class {unknown[0]!r}")
    merged = list(dict.fromkeys(renames.get(name, name) for ns in names_read for name in ns))
    summaries: list[MergedSource] = []
    copies: list[_Copy] = []
    for root, tag, names in zip(sources, tags, names_read, strict=True):
        id_map = {index: merged.index(renames.get(name, name)) for index, name in enumerate(names)}
        summary, source_copies = _plan_source(root, tag, names, id_map, out)
        summaries.append(summary)
        copies.extend(source_copies)
    splits = {split for summary in summaries for split in summary.images}
    if FLAT in splits and len(splits) > 1:
        flat = [s.tag for s in summaries if FLAT in s.images]
        raise DatasetError(
            f"sources {', '.join(flat)} have images outside images/train|val|test while others "
            "are split (data.yaml could not reach them); split them first with `split --copy`"
        )
    if lacking := sorted({"train", "val"} - splits if FLAT not in splits else set()):
        raise DatasetError(f"no source has images/{lacking[0]}; ultralytics needs train and val")
    layout.clear_output_dir(out)
    for done, (image_from, image_to, label_to, label_text) in enumerate(copies, start=1):
        image_to.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(image_from, image_to)
        label_to.parent.mkdir(parents=True, exist_ok=True)
        label_to.write_text(label_text, encoding="utf-8")
        if on_progress is not None:
            on_progress(done, len(copies))
    extra = {split: f"images/{split}" for split in SPLITS if split in splits}
    data_yaml = layout.write_data_yaml(out, merged, extra)
    audit = {"names": merged, "renames": dict(renames), "sources": list(map(asdict, summaries))}
    merge_json = out / "merge.json"
    merge_json.write_text(json.dumps(audit, indent=2, default=str) + "\n", encoding="utf-8")
    return MergeResult(out, merged, summaries, data_yaml, merge_json)
