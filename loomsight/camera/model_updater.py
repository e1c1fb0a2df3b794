"""Model hot swap: ask the API which model this machine should run, fetch it, check it, load it.

The new detector is loaded (and warmed up) beside the old one; the agent swaps between frames.
A download that does not match the announced sha256, or a file that is not a detector, is refused
and the old model keeps running.
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


class ModelUpdater:
    """One `check()` per poll; returns a ModelUpdate when the API names another version."""

    def __init__(
        self,
        client: httpx.Client,
        token: str,
        models_dir: Path,
        load: LoadDetector,
        current_version: str | None = None,
    ) -> None:
        self.client, self.token, self.models_dir, self.load = client, token, models_dir, load
        self.current_version = current_version
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
            path = self._download(model)
            detector = self.load(path)
        except ModelFileError as error:
            self.refused[model.version] = str(error)
            logger.error(
                "model %s refused, keeping %s: %s", model.version, self.current_version, error
            )
            return None
        self.current_version = model.version
        logger.info("model %s loaded from %s", model.version, path)
        return ModelUpdate(detector=detector, announced=model, path=path)

    def _download(self, model: ActiveModel) -> Path:
        folder = self.models_dir / _safe_name(model.version)
        target = folder / "model.onnx"
        if target.is_file() and file_sha256(target) == model.sha256:
            return target
        folder.mkdir(parents=True, exist_ok=True)
        partial = folder / "model.onnx.partial"
        digest, size = hashlib.sha256(), 0
        with (
            self.client.stream("GET", model.download_path, headers=self._headers()) as response,
            partial.open("wb") as out,
        ):
            response.raise_for_status()
            for chunk in response.iter_bytes(CHUNK_BYTES):
                digest.update(chunk)
                size += len(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        if digest.hexdigest() != model.sha256 or size != model.size_bytes:
            partial.unlink(missing_ok=True)
            raise ModelFileError(
                f"download of {model.version} does not match its announcement: expected sha256 "
                f"{model.sha256[:12]}... and {model.size_bytes} bytes, got "
                f"{digest.hexdigest()[:12]}... and {size} bytes"
            )
        partial.replace(target)
        return target


def _safe_name(version: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in version)
