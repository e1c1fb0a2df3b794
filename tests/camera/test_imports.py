from __future__ import annotations

import pkgutil
import subprocess
import sys

import loomsight.camera


def test_the_camera_side_imports_neither_torch_nor_ultralytics() -> None:
    """Every camera module (the agent and all it wires) and the inspect command, imported
    together in a fresh interpreter, leave torch and ultralytics out (edge PCs have neither)."""
    modules = [
        info.name for info in pkgutil.walk_packages(loomsight.camera.__path__, "loomsight.camera.")
    ]
    assert "loomsight.camera.agent" in modules and "loomsight.camera.sources.synthetic" in modules
    code = (
        "import sys\n"
        + "".join(f"import {name}\n" for name in [*modules, "loomsight.commands.inspection"])
        + "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'ultralytics'))\n"
        + "assert not heavy, heavy\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
