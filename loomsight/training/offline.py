"""Import ultralytics so that it never reaches the network and writes only into our own folder.

ultralytics reads its settings at import time: the environment must be set before the first
import. `load_ultralytics` does that, copies a font it would otherwise download, turns off the
analytics post, and says how to install it when it is missing.
"""

from __future__ import annotations

import importlib
import logging
import os
import shutil
import sys
from pathlib import Path
from types import ModuleType

from loomsight.errors import TrainingError

logger = logging.getLogger(__name__)

_OFF_SETTINGS = (
    "sync",
    "hub",
    "tensorboard",
    "wandb",
    "mlflow",
    "clearml",
    "comet",
    "dvc",
    "neptune",
    "raytune",
    "vscode_msg",
    "openvino_msg",
)

INSTALL_HINT = (
    "training needs the train extra: ./scripts/setup-venv edge,dev,train "
    "(or pip install -e '.[train]'; torch==2.14.1 as ../shared/ENVIRONMENT.md says)"
)


def default_home() -> Path:
    """Where ultralytics may write its settings and fonts: $LOOMSIGHT_HOME or the user cache."""
    if "LOOMSIGHT_HOME" in os.environ:
        return Path(os.environ["LOOMSIGHT_HOME"])
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return cache / "loomsight"


def _offline_folders(home: Path) -> dict[str, str]:
    """The environment variables that name a folder ultralytics or matplotlib writes into."""
    return {"YOLO_CONFIG_DIR": str(home / "ultralytics"), "MPLCONFIGDIR": str(home / "matplotlib")}


# Flags, not folders: nothing is created for them.
_OFFLINE_FLAGS = {
    "YOLO_OFFLINE": "1",  # no online probe, no update check
    "YOLO_AUTOINSTALL": "0",  # never pip-installs export dependencies
}
# Albumentations (imported by ultralytics while training) asks PyPI for updates.
_NO_UPDATE_CHECKS = {"NO_ALBUMENTATIONS_UPDATE": "1"}


def _install_font(config_dir: Path) -> None:
    """The dataset check asks for Arial.ttf and downloads it if missing: give it a local font."""
    target = config_dir / "Ultralytics" / "Arial.ttf"
    if target.is_file():
        return
    try:
        import matplotlib
    except ImportError:
        return
    source = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    if source.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)


def load_ultralytics(home: Path | None = None) -> ModuleType:
    """The ultralytics module, configured offline; TrainingError with an install hint if missing."""
    home = home or default_home()
    for key, value in _NO_UPDATE_CHECKS.items():
        os.environ.setdefault(key, value)
    if "ultralytics" not in sys.modules:
        for key, value in _OFFLINE_FLAGS.items():
            os.environ.setdefault(key, value)
        for key, folder in _offline_folders(home).items():
            os.environ.setdefault(key, folder)
            Path(os.environ[key]).mkdir(parents=True, exist_ok=True)
        _install_font(Path(os.environ["YOLO_CONFIG_DIR"]))
    try:
        ultralytics = importlib.import_module("ultralytics")
        settings = importlib.import_module("ultralytics.utils").SETTINGS
    except ImportError as error:
        raise TrainingError(f"cannot import ultralytics ({error}); {INSTALL_HINT}") from None
    # No analytics post after train, predict and export; no logging integrations.
    settings.update({key: False for key in _OFF_SETTINGS if key in settings})
    return ultralytics
