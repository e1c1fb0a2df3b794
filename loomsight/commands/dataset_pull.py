"""`loomsight dataset pull`: the API's reviewed detections as a YOLO dataset folder.

The zip is downloaded whole into a temporary file and checked (CRCs, entry names) before OUT is
touched, so a broken download leaves an earlier dataset in OUT as it was.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import typer
import yaml
from rich.console import Console
from rich.progress import DownloadColumn, Progress, TextColumn, TransferSpeedColumn
from rich.table import Table

from loomsight.datasets.layout import DATA_YAML, check_output_dir, clear_output_dir, write_data_yaml
from loomsight.errors import ConfigError, DatasetError

EXPORT_PATH = "/api/v1/datasets/reviewed"
MANIFEST = "export.json"
ENTRY = re.compile(r"^(images/[0-9a-f]{64}\.(jpg|png)|labels/[0-9a-f]{64}\.txt)$")
TOKEN_ENV = "LOOMSIGHT_API_TOKEN"


def _aware(text: str | None, option: str) -> str | None:
    if text is None:
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"expected an ISO time such as 2026-11-26T00:00:00Z, got {text!r}",
                                 param_hint=option) from None  # fmt: skip
    if parsed.tzinfo is None:
        raise typer.BadParameter(f"{text!r} has no time zone; add one, e.g. Z for UTC",
                                 param_hint=option)  # fmt: skip
    return parsed.isoformat()


def _refusal(status: int, body: bytes) -> str:
    try:
        detail: Any = json.loads(body)["detail"]
    except (ValueError, KeyError, TypeError):
        return body[:200].decode(errors="replace")
    if isinstance(detail, list):  # validation errors
        return "; ".join(
            f"{'.'.join(str(p) for p in item.get('loc', [])[1:])}: {item.get('msg')}"
            for item in detail
        )
    return str(detail)


@contextmanager
def _downloaded(
    api: str, token: str, params: dict[str, Any], timeout_s: float
) -> Iterator[IO[bytes]]:
    """The export zip of the API at API, in a temporary file (deleted afterwards)."""
    import httpx

    url = api.rstrip("/") + EXPORT_PATH
    headers = {"Authorization": f"Bearer {token}"}
    columns = (TextColumn("downloading"), DownloadColumn(), TransferSpeedColumn())
    console = Console(stderr=True)
    with tempfile.TemporaryFile() as file:
        try:
            with (
                httpx.stream(
                    "GET", url, params=params, headers=headers, timeout=timeout_s
                ) as reply,
                Progress(
                    *columns, console=console, transient=True, disable=not console.is_terminal
                ) as bar,  # fmt: skip
            ):
                if reply.status_code != 200:
                    reason = _refusal(reply.status_code, reply.read())
                    error = ConfigError if reply.status_code in (401, 403, 404) else DatasetError
                    raise error(f"{url} answered {reply.status_code}: {reason}")
                task = bar.add_task("download", total=None)
                for chunk in reply.iter_bytes():
                    file.write(chunk)
                    bar.update(task, advance=len(chunk))
        except httpx.HTTPError as failure:
            raise ConfigError(f"cannot download {url}: {failure}") from None
        file.seek(0)
        yield file


def _open_zip(file: IO[bytes]) -> zipfile.ZipFile:
    try:
        archive = zipfile.ZipFile(file)
        broken = archive.testzip()
    except (zipfile.BadZipFile, EOFError) as error:
        raise DatasetError(f"the download is not a complete zip ({error}); pull again") from None
    if broken is not None:
        raise DatasetError(f"the download is damaged ({broken} fails its CRC); pull again")
    names = archive.namelist()
    strange = [n for n in names if n not in (DATA_YAML, MANIFEST) and not ENTRY.fullmatch(n)]
    if strange or DATA_YAML not in names or MANIFEST not in names:
        raise DatasetError(
            f"the zip is not a loomsight export: expected {DATA_YAML}, {MANIFEST}, images/ and "
            f"labels/ only, got {(strange or names)[:3]}"
        )
    return archive


def _class_names(archive: zipfile.ZipFile) -> list[str]:
    names = yaml.safe_load(archive.read(DATA_YAML)).get("names") or {}
    return [str(names[index]) for index in range(len(names))]


def _write(archive: zipfile.ZipFile, out: Path) -> tuple[list[str], dict[str, Any]]:
    names = _class_names(archive)
    manifest: dict[str, Any] = json.loads(archive.read(MANIFEST))
    if not manifest["images"]:
        raise DatasetError(
            "nothing to pull: no reviewed frame matches (frames left out: "
            f"{manifest['frames_left_out'] or 'none'}); review more, or widen the filters"
        )
    clear_output_dir(out)
    for member in archive.namelist():
        if ENTRY.fullmatch(member):
            target = out / member
            target.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(member) as source, target.open("wb") as sink:
                shutil.copyfileobj(source, sink)
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    write_data_yaml(out, names)
    return names, manifest


def _report(out: Path, names: list[str], manifest: dict[str, Any]) -> None:
    console = Console()
    table = Table(title=f"Pulled into {out}")
    for column in ("id", "class", "boxes"):
        table.add_column(column, justify="left" if column == "class" else "right")
    for index, name in enumerate(names):
        table.add_row(str(index), name, str(manifest["boxes_per_class"].get(name, 0)))
    console.print(table)
    left_out = ", ".join(f"{n} {why}" for why, n in manifest["frames_left_out"].items())
    console.print(
        f"{manifest['images']} images, {manifest['boxes']} boxes; frames left out: "
        f"{left_out or 'none'}; labelled detections without a frame image: "
        f"{manifest['labelled_events_without_frame']}"
    )
    if manifest["classes_not_in_names"]:
        console.print(f"classes not in --names: {', '.join(manifest['classes_not_in_names'])}")
    console.print(
        f"next: `loomsight dataset split {out} --out SPLIT` then "
        f"`loomsight train --data SPLIT/{DATA_YAML}`"
    )


def pull_command(
    api: str = typer.Option(..., "--api", envvar="LOOMSIGHT_API_URL", help="The API's base URL."),
    token: str = typer.Option(
        ...,
        "--token",
        envvar=TOKEN_ENV,
        help="A reviewer's or admin's login token (POST /api/v1/auth/token).",
    ),
    out: Path = typer.Option(..., "--out", "-o", help="Dataset folder to write."),
    machine: list[str] = typer.Option([], "--machine", help="Only this machine (repeatable)."),
    since: str | None = typer.Option(None, "--since", help="Detected at or after (ISO, zoned)."),
    until: str | None = typer.Option(None, "--until", help="Detected before (ISO, zoned)."),
    names: str | None = typer.Option(
        None, "--names", help="Class names in id order, comma-separated (default: those seen)."
    ),
    model: str | None = typer.Option(
        None, "--model", help="Take the class names from this model version's card."
    ),
    background: bool = typer.Option(
        False, "--background", help="Also frames with only false alarms (empty labels)."
    ),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Replace the dataset an earlier run wrote in OUT."
    ),
    timeout_s: float = typer.Option(300.0, "--timeout-s", min=1, help="HTTP timeout, seconds."),
) -> None:
    """Download the reviewed detections (confirmed, relabelled) from the API as a YOLO dataset.

    One image per full frame, boxes scaled to it (the corrected class and box where relabelled);
    frames with unreviewed detections are left out. Writes OUT/images, OUT/labels, OUT/data.yaml
    and OUT/export.json (what came, what was left out and why).
    """
    check_output_dir(out, [], overwrite)
    params: dict[str, Any] = {"machine": machine, "background": background}
    for key, value in (("since", _aware(since, "--since")), ("until", _aware(until, "--until")),
                       ("names", names), ("model", model)):  # fmt: skip
        if value is not None:
            params[key] = value
    with _downloaded(api, token, params, timeout_s) as file, _open_zip(file) as archive:
        class_names, manifest = _write(archive, out)
    _report(out, class_names, manifest)
