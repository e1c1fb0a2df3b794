"""The model registry in `weights/`: one folder per model, one of them marked active.

```
weights/active.json              {"name": "default"}
weights/NAME/model.onnx          what the camera runs
weights/NAME/model.json          its card (loomsight.inference.model_card)
weights/NAME/model.pt            the checkpoint `loomsight train` fine-tunes from
weights/NAME/model.int8.onnx     optional statically quantized copy
weights/articles.json            {"MACHINE": {"ARTICLE": NAME}}: calibrated models per article
```
Reading the registry needs no torch: the camera and the API use it too.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from loomsight.errors import ModelFileError
from loomsight.inference.model_card import ModelCard, read_card

ACTIVE_FILE = "active.json"
ARTICLES_FILE = "articles.json"
ONNX_FILE = "model.onnx"
CHECKPOINT_FILE = "model.pt"
INT8_FILE = "model.int8.onnx"
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass(frozen=True)
class RegisteredModel:
    name: str
    folder: Path
    card: ModelCard
    active: bool

    @property
    def onnx_path(self) -> Path:
        return self.folder / ONNX_FILE

    @property
    def checkpoint_path(self) -> Path:
        return self.folder / CHECKPOINT_FILE


def check_name(name: str) -> str:
    if not NAME_PATTERN.match(name):
        raise ModelFileError(
            f"model name {name!r}: expected 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return name


def active_name(weights_dir: Path) -> str | None:
    path = weights_dir / ACTIVE_FILE
    if not path.is_file():
        return None
    try:
        name = json.loads(path.read_text(encoding="utf-8"))["name"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ModelFileError(
            f'{path}: expected {{"name": MODEL}}, could not read it ({error})'
        ) from None
    return str(name)


def list_models(weights_dir: Path) -> list[RegisteredModel]:
    """Every folder of weights_dir with a card, sorted by name."""
    if not weights_dir.is_dir():
        return []
    active = active_name(weights_dir)
    return [
        RegisteredModel(folder.name, folder, read_card(folder), folder.name == active)
        for folder in sorted(weights_dir.iterdir())
        if (folder / "model.json").is_file()
    ]


def get_model(weights_dir: Path, name: str | None = None) -> RegisteredModel:
    """The named model, or the active one when name is None; ModelFileError saying what exists."""
    chosen = name if name is not None else active_name(weights_dir)
    if chosen is None:
        raise ModelFileError(
            f"{weights_dir}: no model is active; promote one with `loomsight models promote NAME`"
        )
    folder = weights_dir / check_name(chosen)
    if not (folder / "model.json").is_file():
        known = ", ".join(model.name for model in list_models(weights_dir)) or "none"
        raise ModelFileError(f"{folder}: no model {chosen!r} in the registry (known: {known})")
    return RegisteredModel(chosen, folder, read_card(folder), chosen == active_name(weights_dir))


def promote(weights_dir: Path, name: str) -> RegisteredModel:
    """Mark NAME active (atomically); it must exist and have its ONNX file."""
    model = get_model(weights_dir, name)
    if not model.onnx_path.is_file():
        raise ModelFileError(f"{model.onnx_path}: the model's ONNX file is missing")
    _write_json_atomically(weights_dir / ACTIVE_FILE, {"name": name})
    return RegisteredModel(model.name, model.folder, model.card, True)


def _write_json_atomically(path: Path, content: object) -> None:
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(content, sort_keys=True) + "\n", encoding="utf-8")
    temporary.replace(path)


def article_models(weights_dir: Path) -> dict[str, dict[str, str]]:
    """The calibrated model of each machine's articles: {machine: {article: model name}}."""
    path = weights_dir / ARTICLES_FILE
    if not path.is_file():
        return {}
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
        return {str(m): {str(a): str(n) for a, n in arts.items()} for m, arts in content.items()}
    except (OSError, ValueError, AttributeError) as error:
        raise ModelFileError(
            f'{path}: expected {{"MACHINE": {{"ARTICLE": MODEL}}}}, could not read it ({error})'
        ) from None


def set_article_model(weights_dir: Path, machine_id: str, article: str, name: str) -> None:
    """Record NAME (a registered model) as MACHINE_ID's model for ARTICLE (atomically)."""
    get_model(weights_dir, name)
    chosen = article_models(weights_dir)
    chosen.setdefault(machine_id, {})[article] = name
    _write_json_atomically(weights_dir / ARTICLES_FILE, chosen)
