from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import numpy as np
import pytest

from loomsight.article.texture import fit_texture_model
from loomsight.camera.model_updater import ModelUpdater
from loomsight.inference.detector import OnnxDetector
from loomsight.inference.model_card import file_sha256
from loomsight.inference.texture_anomaly import TEXTURE_FILE
from loomsight.schema import ACTIVE_MODEL_PATH, MODEL_FILE_PATH, MODEL_TEXTURE_PATH, ActiveModel
from tests.conftest import REPO_ROOT

FP32 = REPO_ROOT / "weights" / "default" / "model.onnx"
INT8 = REPO_ROOT / "weights" / "default" / "model.int8.onnx"
TOKEN = "camera-token"


class ModelServer:
    """A real HTTP server on loopback answering the camera's model routes from `routes`."""

    def __init__(self) -> None:
        self.routes: dict[str, tuple[int, bytes]] = {}
        self.requests: list[tuple[str, str | None]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.requests.append((self.path, self.headers.get("Authorization")))
                status, body = outer.routes.get(self.path, (404, b"{}"))
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def announce(
        self, version: str, body: bytes, sha256: str | None = None, texture: bytes | None = None
    ) -> None:
        path = MODEL_FILE_PATH.format(version=version)
        texture_path = MODEL_TEXTURE_PATH.format(version=version)
        model = ActiveModel(
            name="default",
            version=version,
            sha256=sha256 or hashlib.sha256(body).hexdigest(),
            size_bytes=len(body),
            download_path=path,
            texture_sha256=None if texture is None else hashlib.sha256(texture).hexdigest(),
            texture_size_bytes=None if texture is None else len(texture),
            texture_download_path=None if texture is None else texture_path,
        )
        self.routes[ACTIVE_MODEL_PATH] = (200, model.model_dump_json().encode())
        self.routes[path] = (200, body)
        if texture is not None:
            self.routes[texture_path] = (200, texture)


@pytest.fixture
def server() -> Iterator[ModelServer]:
    running = ModelServer()
    yield running
    running.server.shutdown()
    running.server.server_close()


def _updater(
    server: ModelServer, tmp_path: Path, current: str | None = None, use_texture: bool = True
) -> ModelUpdater:
    client = httpx.Client(base_url=server.url, timeout=10)
    return ModelUpdater(
        client, TOKEN, tmp_path / "models", OnnxDetector, current, use_texture=use_texture
    )


def _texture_bytes(tmp_path: Path) -> bytes:
    """A texture-anomaly model of some random cloth, as `loomsight calibrate` saves it."""
    rng = np.random.default_rng(0)
    cloth = [rng.integers(90, 160, (64, 64, 3), dtype=np.uint8) for _ in range(4)]
    path = tmp_path / "texture.npz"
    fit_texture_model(cloth, 16).with_threshold(3.0).save(path)
    return path.read_bytes()


def test_a_texture_model_announced_with_the_model_comes_with_it(
    server: ModelServer, tmp_path: Path
) -> None:
    texture = _texture_bytes(tmp_path)
    server.announce("article@1", FP32.read_bytes(), texture=texture)
    update = _updater(server, tmp_path, current="default@1").check()
    assert update is not None and update.texture is not None
    assert (update.texture.cell_px, update.texture.threshold) == (16, 3.0)
    stored = update.path.parent / TEXTURE_FILE
    assert stored.read_bytes() == texture


def test_the_settings_can_leave_the_texture_model_behind(
    server: ModelServer, tmp_path: Path
) -> None:
    server.announce("article@1", FP32.read_bytes(), texture=_texture_bytes(tmp_path))
    update = _updater(server, tmp_path, current="default@1", use_texture=False).check()
    assert update is not None and update.texture is None
    assert not any(path.endswith("/texture") for path, _ in server.requests)


def test_a_texture_file_that_is_not_one_refuses_the_model(
    server: ModelServer, tmp_path: Path
) -> None:
    server.announce("article@2", FP32.read_bytes(), texture=b"not a texture model")
    updater = _updater(server, tmp_path, current="default@1")
    assert updater.check() is None
    assert "not a texture anomaly model" in updater.refused["article@2"]
    assert updater.current_version == "default@1"


def test_a_new_version_is_downloaded_checked_and_loaded(
    server: ModelServer, tmp_path: Path, no_network: list[str]
) -> None:
    server.announce("default@2", FP32.read_bytes())
    updater = _updater(server, tmp_path, current="default@1")
    update = updater.check()
    assert update is not None and update.announced.version == "default@2"
    assert file_sha256(update.path) == file_sha256(FP32)
    assert update.detector.names[-1] == "defect"
    assert updater.current_version == "default@2"
    assert all(auth == f"Bearer {TOKEN}" for _, auth in server.requests)
    assert updater.check() is None  # nothing new: no second download
    assert sum(path.endswith("/file") for path, _ in server.requests) == 1


def test_the_same_version_is_not_fetched_and_none_announced_is_none(
    server: ModelServer, tmp_path: Path
) -> None:
    assert _updater(server, tmp_path).check() is None  # 404: no active model
    server.announce("default@1", INT8.read_bytes())
    assert _updater(server, tmp_path, current="default@1").check() is None
    assert not any(path.endswith("/file") for path, _ in server.requests)


def test_a_download_that_does_not_match_its_sha256_is_refused_once(
    server: ModelServer, tmp_path: Path
) -> None:
    server.announce("default@3", INT8.read_bytes(), sha256="0" * 64)
    updater = _updater(server, tmp_path, current="default@1")
    assert updater.check() is None
    assert "does not match" in updater.refused["default@3"]
    assert updater.current_version == "default@1"
    assert not list((tmp_path / "models").rglob("*.onnx"))  # nothing half-written left
    assert updater.check() is None  # not fetched again
    assert sum(path.endswith("/file") for path, _ in server.requests) == 1


def test_a_file_that_is_not_a_detector_is_refused_and_the_old_model_kept(
    server: ModelServer, tmp_path: Path
) -> None:
    server.announce("broken@1", b"this is not an onnx file")
    updater = _updater(server, tmp_path, current="default@1")
    assert updater.check() is None
    assert "not a loadable ONNX model" in updater.refused["broken@1"]
    assert updater.current_version == "default@1"


def test_the_api_being_down_raises_for_the_caller_to_retry(tmp_path: Path) -> None:
    client = httpx.Client(base_url="http://127.0.0.1:9", timeout=2)
    updater = ModelUpdater(client, TOKEN, tmp_path, OnnxDetector)
    with pytest.raises(httpx.HTTPError):
        updater.check()
