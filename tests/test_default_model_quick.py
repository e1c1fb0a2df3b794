"""scripts/default-model with QUICK=1: the whole recipe on a CPU, in a folder of its own.

The script runs from a scratch folder holding a copy of it, with the project's loomsight
(LOOMSIGHT_CLI) and the shared real photos (read, never written)."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT, SHARED_DIR

REAL = SHARED_DIR / "datasets" / "textile-defect-rf"


@pytest.mark.slow
def test_the_quick_recipe_makes_a_model_and_leaves_the_real_work_alone(tmp_path: Path) -> None:
    if importlib.util.find_spec("ultralytics") is None:
        pytest.skip("ultralytics is not installed (train extra)")
    if not (REAL / "images").is_dir():
        pytest.skip(f"no real photos in {REAL}")
    (tmp_path / "scripts").mkdir()
    shutil.copy2(REPO_ROOT / "scripts" / "default-model", tmp_path / "scripts" / "default-model")
    # what a user has there: prepared data, a GPU round's checkpoints, the shipped registry
    kept = [tmp_path / p for p in ("datasets/default/keep", "runs/default/keep", "weights/keep")]
    for path in kept:
        path.parent.mkdir(parents=True)
        path.write_text("mine")
    # ultralytics' own folder variables, set by an earlier test in this process, left out: the
    # recipe's commands set them to LOOMSIGHT_HOME themselves
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("YOLO_", "MPL"))}
    environment = {
        **inherited,
        "QUICK": "1",
        "LOOMSIGHT_CLI": f"{sys.executable} -m loomsight",
        "LOOMSIGHT_SHARED_DIR": str(SHARED_DIR),
        "LOOMSIGHT_HOME": str(tmp_path / "home"),
        "PYTHONPATH": str(REPO_ROOT),
    }
    done = subprocess.run(
        ["bash", str(tmp_path / "scripts" / "default-model"), "all"],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    quick = tmp_path / "datasets" / "default-quick"
    card = json.loads((quick / "weights" / "default" / "model.json").read_text())
    assert (quick / "weights" / "default" / card["onnx"]["file"]).is_file()
    assert (quick / "runs" / "default" / "weights" / "best.pt").is_file()
    for report in ("real-test", "synth-fine-test", "synth-coarse-test"):
        assert json.loads((quick / "reports" / f"{report}.json").read_text())["images"] > 0
    assert all(path.read_text() == "mine" for path in kept)
    top = sorted(p.name for p in tmp_path.iterdir())  # nothing else beside them
    assert top == ["datasets", "home", "runs", "scripts", "weights"]
    assert sorted(p.name for p in (tmp_path / "datasets").iterdir()) == ["default", "default-quick"]
    assert [p.name for p in (tmp_path / "runs").iterdir()] == ["default"]
    assert [p.name for p in (tmp_path / "weights").iterdir()] == ["keep"]
