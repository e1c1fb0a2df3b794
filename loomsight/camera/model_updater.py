"""Model hot swap: ask the API which model this machine should run, fetch it, check it, load it.

The new detector is loaded (and warmed up) beside the old one; the agent swaps between frames.
Where the API announces a texture-anomaly model with it (a calibrated article's), that is fetched
and loaded too, unless the agent's settings turn it off. A download that does not match the
announced sha256, or a file that is not a detector (or not a texture model), is refused and the
old model keeps running.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
from pydantic import ValidationError

from loomsight.errors import ModelFileError
from loomsight.inference.detector import OnnxDetector
from loomsight.inference.model_card import file_sha256
from loomsight.inference.texture_anomaly import TEXTURE_FILE, TextureAnomalyModel
from loomsight.schema import ACTIVE_MODEL_PATH, ActiveModel

logger = logging.getLogger(__name__)

CHUNK_BYTES = 1 << 20

LoadDetector = Callable[[Path], OnnxDetector]


@dataclass(frozen=True)
class ModelUpdate:
    """A new detector, loaded and ready, and what the API announced for it."""

    detector: OnnxDetector
    announced: ActiveModel
    path: Path
    texture: TextureAnomalyModel | None = None


class ModelUpdater:
    """One `check()` per poll; returns a ModelUpdate when the API names another version."""

    def __init__(
        self,
        client: httpx.Client,
        token: str,
        models_dir: Path,
        load: LoadDetector,
        current_version: str | None = None,
        use_texture: bool = True,
    ) -> None:
        self.client, self.token, self.models_dir, self.load = client, token, models_dir, load
        self.current_version, self.use_texture = current_version, use_texture
        self.refused: dict[str, str] = {}  # version -> why, so a bad file is not fetched again

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def announced(self) -> ActiveModel | None:
        """The active model the API names for this machine; None if it names none (404)."""
        response = self.client.get(ACTIVE_MODEL_PATH, headers=self._headers())
        if response.status_code == 404:
            return None
        response.raise_for_status()
        try:
            return ActiveModel.model_validate_json(response.content)
        except ValidationError as error:
            raise ModelFileError(f"the API's active-model answer is malformed: {error}") from None

    def check(self) -> ModelUpdate | None:
        """Fetch and load the announced model if it is new; None when there is nothing to do.
        Network errors propagate (httpx.HTTPError): the caller retries at its next poll."""
        model = self.announced()
        if model is None or model.version == self.current_version:
            return None
        if model.version in self.refused:
            return None
        try:
            folder = self.models_dir / _safe_name(model.version)
            path = self._download(
                model.download_path, model.sha256, model.size_bytes, folder / "model.onnx"
            )
            detector = self.load(path)
            texture = self._texture(model, folder)
        except ModelFileError as error:
            self.refused[model.version] = str(error)
            logger.error(
                "model %s refused, keeping %s: %s", model.version, self.current_version, error
            )
            return None
        self.current_version = model.version
        logger.info("model %s loaded from %s", model.version, path)
        return ModelUpdate(detector=detector, announced=model, path=path, texture=texture)

    def _texture(self, model: ActiveModel, folder: Path) -> TextureAnomalyModel | None:
        """The texture-anomaly model announced with MODEL, fetched and loaded; None if none is
        announced or the settings turn it off."""
        if not self.use_texture or model.texture_download_path is None:
            return None
        if model.texture_sha256 is None or model.texture_size_bytes is None:
            raise ModelFileError(f"{model.version}: texture announced without sha256 and size")
        path = self._download(
            model.texture_download_path,
            model.texture_sha256,
            model.texture_size_bytes,
            folder / TEXTURE_FILE,
        )
        return TextureAnomalyModel.load(path)

    def _download(self, url: str, sha256: str, size_bytes: int, target: Path) -> Path:
        """URL's bytes at TARGET (kept if it is there already), checked against SHA256 and
        SIZE_BYTES; ModelFileError when they do not match."""
        if target.is_file() and file_sha256(target) == sha256:
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".partial")
        digest, size = hashlib.sha256(), 0
        with (
            self.client.stream("GET", url, headers=self._headers()) as response,
            partial.open("wb") as out,
        ):
            response.raise_for_status()
            for chunk in response.iter_bytes(CHUNK_BYTES):
                digest.update(chunk)
                size += len(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        if digest.hexdigest() != sha256 or size != size_bytes:
            partial.unlink(missing_ok=True)
            raise ModelFileError(
                f"download of {url} does not match its announcement: expected sha256 "
                f"{sha256[:12]}... and {size_bytes} bytes, got "
                f"{digest.hexdigest()[:12]}... and {size} bytes"
            )
        partial.replace(target)
        return target


def _safe_name(version: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in version)
