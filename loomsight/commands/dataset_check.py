"""`loomsight dataset check` and `dataset stats`, and the helpers all dataset verbs share."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from loomsight.datasets.check import CheckReport, check_dataset
from loomsight.datasets.data_yaml import read_class_names
from loomsight.datasets.layout import DATA_YAML
from loomsight.datasets.stats import DatasetStats, SizeSummary, dataset_stats

NAMES_HELP = (
    "Class names, comma-separated (e.g. 'defect' or 'hole,stain'); "
    "default: the names in SRC/data.yaml."
)
FIRST_FILES = 3


def class_names(root: Path, names: str | None) -> list[str] | None:
    """Names from the --names option, else from ROOT/data.yaml, else None (no data.yaml)."""
    if names is not None:
        parsed = [name.strip() for name in names.split(",")]
        if not all(parsed):
            raise typer.BadParameter(f"expected comma-separated names, got {names!r}")
        return parsed
    if (root / DATA_YAML).is_file():
        return read_class_names(root)
    return None


@contextmanager
def progress_bar(description: str) -> Iterator[Callable[[int, int], None]]:
    """A transient rich progress bar on stderr; yields an `on_progress(done, total)` callback."""
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    console = Console(stderr=True)
    with Progress(
        *columns,
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,  # no bar in logs and pipes
    ) as bar:
        task = bar.add_task(description, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def _short(path: Path, root: Path) -> str:
    return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)


def print_check_report(report: CheckReport, console: Console) -> None:
    """A table of problems grouped by kind (count, first files), then duplicate groups."""
    if report.ok:
        console.print(
            f"[green]OK[/green] {report.root}: {report.images} images, "
            f"{report.label_files} label files, no problems"
        )
        return
    table = Table(title=f"Problems in {report.root}")
    table.add_column("kind")
    table.add_column("count", justify="right")
    table.add_column(f"first {FIRST_FILES} files")
    for kind, problems in report.by_kind().items():
        files = "\n".join(
            f"{_short(problem.path, report.root)}  [dim]{problem.detail}[/dim]"
            for problem in problems[:FIRST_FILES]
        )
        table.add_row(kind.value, str(len(problems)), files)
    console.print(table)
    if report.duplicate_groups:
        console.print(f"{len(report.duplicate_groups)} groups of identical images, e.g.:")
        for group in report.duplicate_groups[:FIRST_FILES]:
            console.print("  " + "  =  ".join(_short(path, report.root) for path in group))
    console.print(
        f"[red]{len(report.problems)} problems[/red] in {report.root} "
        f"({report.images} images, {report.label_files} label files)"
    )


def check_command(
    src: Path = typer.Argument(
        ..., metavar="SRC", help="Dataset folder (images/, labels/, data.yaml)."
    ),
    names: str | None = typer.Option(None, "--names", help=NAMES_HELP),
) -> None:
    """Check a YOLO dataset for missing, orphan or malformed labels, bad images and duplicates.

    Exits 0 when the dataset is clean, 1 when anything is wrong, 2 when it cannot be read.
    """
    class_list = class_names(src, names)
    with progress_bar("checking images") as on_progress:
        report = check_dataset(src, class_list, on_progress=on_progress)
    print_check_report(report, Console())
    if not report.ok:
        raise typer.Exit(1)


def _fmt(summary: SizeSummary | None, fraction: bool) -> list[str]:
    if summary is None:
        return ["-", "-", "-"]
    values = (summary.min, summary.median, summary.max)
    return [f"{value:.3f}" if fraction else f"{value:.1f}" for value in values]


def print_stats(stats: DatasetStats, console: Console) -> None:
    """Tables: overview, boxes per class, box sizes, image sizes."""
    overview = Table(title=f"Dataset {stats.root}", show_header=False)
    overview.add_row("images", str(stats.images))
    overview.add_row("defect-free images", str(stats.defect_free_images))
    overview.add_row("unlabelled images", str(stats.unlabelled_images))
    overview.add_row("boxes", str(stats.boxes))
    console.print(overview)
    classes = Table(title="Boxes per class")
    for column in ("id", "class", "boxes", "images"):
        classes.add_column(column, justify="left" if column == "class" else "right")
    for class_id, count in stats.boxes_per_class.items():
        images = stats.images_per_class.get(class_id, 0)
        classes.add_row(str(class_id), stats.class_name(class_id), str(count), str(images))
    console.print(classes)
    sizes = Table(title="Box sizes")
    for column in ("", "min", "median", "max"):
        sizes.add_column(column, justify="right")
    sizes.add_row("width px", *_fmt(stats.box_width_px, fraction=False))
    sizes.add_row("height px", *_fmt(stats.box_height_px, fraction=False))
    sizes.add_row("width / image width", *_fmt(stats.box_width_frac, fraction=True))
    sizes.add_row("height / image height", *_fmt(stats.box_height_frac, fraction=True))
    console.print(sizes)
    image_sizes = Table(title="Image sizes")
    image_sizes.add_column("width x height")
    image_sizes.add_column("images", justify="right")
    for (width, height), count in stats.image_sizes_wh.items():
        image_sizes.add_row(f"{width} x {height}", str(count))
    console.print(image_sizes)


def stats_command(
    src: Path = typer.Argument(
        ..., metavar="SRC", help="Dataset folder (images/, labels/, data.yaml)."
    ),
    names: str | None = typer.Option(None, "--names", help=NAMES_HELP),
    json_path: Path | None = typer.Option(
        None, "--json", help="Also write the statistics to this JSON file."
    ),
) -> None:
    """Print dataset statistics: images, defect-free images, boxes per class, box/image sizes."""
    class_list = class_names(src, names)
    with progress_bar("reading images") as on_progress:
        stats = dataset_stats(src, class_list, on_progress=on_progress)
    print_stats(stats, Console())
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(stats.to_dict(), indent=2) + "\n", encoding="utf-8")
