"""The package as a user installs and meets it: extras, --version, --help on every verb."""

from __future__ import annotations

import re
import sys
from importlib.metadata import requires, version
from typing import Any

import pytest
import typer.main

from loomsight.cli import app
from tests.conftest import RunCli

HEAVY = {"torch", "torchvision", "ultralytics"}


def _requirement_names(extra: str | None) -> set[str]:
    names = set()
    for line in requires("loomsight") or []:
        name = re.split(r"[ ;<>=\[!~]", line, maxsplit=1)[0].lower()
        marker = line.split(";", 1)[1] if ";" in line else ""
        in_extra = re.search(r"extra\s*==\s*['\"]([\w-]+)['\"]", marker)
        if (in_extra.group(1) if in_extra else None) in (None, extra):
            names.add(name)
    return names


def test_edge_install_does_not_pull_torch() -> None:
    edge = _requirement_names("edge")
    assert {"onnxruntime", "opencv-python-headless", "numpy", "httpx"} <= edge
    assert not edge & HEAVY
    assert _requirement_names("train") >= HEAVY


def _commands(group: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every verb of the Typer app, as paths of names (groups included)."""
    found = []
    for name, command in group.commands.items():
        path = (*prefix, name)
        found.append(path)
        if hasattr(command, "commands"):
            found.extend(_commands(command, path))
    return found


ALL_COMMANDS = _commands(typer.main.get_group(app))
RICH_TAG = re.compile(r"\[[a-z#/@][^\[\]]*\]")  # what rich markup takes for a tag


def test_every_issue_verb_is_there() -> None:
    expected = {
        ("synth",),
        ("dataset", "check"),
        ("dataset", "stats"),
        ("dataset", "split"),
        ("dataset", "tile"),
        ("dataset", "import", "coco"),
        ("dataset", "import", "voc"),
        ("dataset", "import", "masks"),
    }
    assert expected <= set(ALL_COMMANDS)


@pytest.mark.parametrize("path", ALL_COMMANDS, ids=" ".join)
def test_every_verb_explains_itself(run_cli: RunCli, path: tuple[str, ...]) -> None:
    result = run_cli(*path, "--help", check=True)
    assert "Usage: loomsight " + " ".join(path) in " ".join(result.stdout.split())
    command: Any = typer.main.get_group(app)
    for name in path:
        command = command.commands[name]
    assert (command.help or "").strip(), f"loomsight {' '.join(path)} has no help text"
    # rich reads "[default: ...]" as a style tag and drops it from the help it prints
    assert not RICH_TAG.search(command.help or ""), command.help
    for parameter in command.params:
        if parameter.param_type_name == "option" and parameter.name != "help":
            assert parameter.help, f"option {parameter.opts} of {' '.join(path)} has no help"
            assert not RICH_TAG.search(parameter.help), f"{parameter.opts}: {parameter.help}"


def test_version(run_cli: RunCli) -> None:
    result = run_cli("--version", check=True)
    assert result.stdout.strip() == f"loomsight {version('loomsight')}"


def test_runs_with_the_interpreter_of_the_tests() -> None:
    assert sys.version_info >= (3, 11)
