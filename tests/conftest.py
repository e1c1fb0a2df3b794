"""Shared fixtures: the CLI as a user runs it (a real subprocess)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

pytest_plugins = ["tests.network_guard"]

RunCli = Callable[..., subprocess.CompletedProcess[str]]

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DIR = Path(os.environ.get("LOOMSIGHT_SHARED_DIR", REPO_ROOT.parent / "shared"))
"""The read-only shared folder beside the checkout (real datasets); never written to."""


@pytest.fixture
def run_cli(tmp_path: Path) -> RunCli:
    """Run `loomsight ARGS...` in a subprocess; returns the completed process (text output)."""

    def run(*args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "loomsight", *args],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            timeout=600,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"loomsight {' '.join(args)} exited {result.returncode}\n"
                f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
            )
        return result

    return run


@pytest.fixture(scope="session")
def ultralytics_offline(tmp_path_factory: pytest.TempPathFactory) -> ModuleType:
    """ultralytics, imported offline with its settings in a temporary folder."""
    if importlib.util.find_spec("ultralytics") is None:
        pytest.skip("ultralytics is not installed (train extra)")
    from loomsight.training.offline import load_ultralytics

    return load_ultralytics(tmp_path_factory.mktemp("ultralytics-home"))
