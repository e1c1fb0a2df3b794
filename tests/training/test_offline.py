"""load_ultralytics: sets ultralytics offline and writes only into its own home folder."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Run in a fresh interpreter: the environment only counts before ultralytics' first import.
_SCRIPT = """
import json, os
from loomsight.training.offline import load_ultralytics
load_ultralytics()
keys = ["YOLO_OFFLINE", "YOLO_AUTOINSTALL", "YOLO_CONFIG_DIR", "MPLCONFIGDIR"]
print(json.dumps({key: os.environ.get(key) for key in keys}))
"""


def test_only_the_home_folder_is_written_and_the_flags_are_set(tmp_path: Path) -> None:
    """The flags YOLO_OFFLINE=1 and YOLO_AUTOINSTALL=0 once became folders "1" and "0" in the
    working directory of every `loomsight train`."""
    if importlib.util.find_spec("ultralytics") is None:
        pytest.skip("ultralytics is not installed (train extra)")
    work, home = tmp_path / "work", tmp_path / "home"
    work.mkdir()
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("YOLO_", "MPL"))}
    environment |= {"LOOMSIGHT_HOME": str(home), "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT],
        cwd=work,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen == {
        "YOLO_OFFLINE": "1",
        "YOLO_AUTOINSTALL": "0",
        "YOLO_CONFIG_DIR": str(home / "ultralytics"),
        "MPLCONFIGDIR": str(home / "matplotlib"),
    }
    assert list(work.iterdir()) == []  # nothing beside the caller
    assert (home / "ultralytics").is_dir() and (home / "matplotlib").is_dir()
