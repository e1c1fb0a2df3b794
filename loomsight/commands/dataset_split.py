"""`loomsight dataset split`: deterministic train/val/test split that keeps groups together."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from loomsight.commands.dataset_check import NAMES_HELP, class_names, progress_bar
from loomsight.datasets.split import (
    SPLITS,
    UnmatchedPolicy,
    compile_group_regex,
    parse_ratios,
    split_dataset,
)
from loomsight.errors import DatasetError


def split_command(
    src: Path = typer.Argument(
        ..., metavar="SRC", help="Dataset folder to split (only read, never written)."
    ),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder, apart from SRC."),
    ratios: str = typer.Option(
        "0.8,0.1,0.1", "--ratios", help="train,val,test shares of the images; must sum to 1."
    ),
    group_regex: str | None = typer.Option(
        None,
        "--group-regex",
        help="Regex searched in each image file name; its named group 'group' (else its first "
        "group, else the whole match) is the group key. Default: each image (with its tiles) "
        "is its own group.",
    ),
    unmatched: str = typer.Option(
        "error", "--unmatched", help="Names the regex misses: 'error' or 'own-group'."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the group shuffle."),
    copy: bool = typer.Option(
        False, "--copy", help="Copy files to OUT/images/<split>/ and OUT/labels/<split>/."
    ),
    names: str | None = typer.Option(None, "--names", help=NAMES_HELP),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Replace the split an earlier run wrote in OUT."
    ),
) -> None:
    """Split SRC into train/val/test by whole groups: lists (or copies), data.yaml, split.json.

    No group (capture session, tiles of one image) ever lands in two splits.
    """
    try:
        ratio_values = parse_ratios(ratios)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--ratios") from None
    try:
        pattern = compile_group_regex(group_regex) if group_regex is not None else None
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--group-regex") from None
    policy: UnmatchedPolicy
    if unmatched == "error":
        policy = "error"
    elif unmatched == "own-group":
        policy = "own-group"
    else:
        raise typer.BadParameter(
            f"expected 'error' or 'own-group', got {unmatched!r}", param_hint="--unmatched"
        )
    class_list = class_names(src, names)
    if class_list is None:
        raise DatasetError(
            f"{src}: no data.yaml with class names; pass --names (e.g. --names defect)"
        )
    with progress_bar("copying") as on_progress:
        result = split_dataset(
            src, out, ratio_values, class_list, seed, pattern, policy, copy, on_progress, overwrite
        )
    plan = result.plan
    images, groups = plan.image_counts(), plan.group_counts()
    table = Table(title=f"Split of {src} (seed {seed})")
    for column in ("split", "images", "share", "groups"):
        table.add_column(column, justify="left" if column == "split" else "right")
    total = sum(images.values())
    for split in SPLITS:
        share = f"{images[split] / total:.3f}"
        table.add_row(split, str(images[split]), share, str(groups[split]))
    console = Console()
    console.print(table)
    console.print(
        f"no group spans two splits ({len(plan.split_of_group)} groups); "
        f"wrote {result.data_yaml} and {out / 'split.json'}"
    )
