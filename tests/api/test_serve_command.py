"""`loomsight serve` and `loomsight api ...` as an operator meets them.

The verbs are Typer functions in `loomsight.commands.serve`; here they run through Typer directly
(CliRunner), and `serve` as a real process on a free port."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from loomsight.api.errors import ConflictError
from loomsight.commands.serve import ADMIN_PASSWORD_ENV, FIRST_ADMIN_HINT, api_app
from loomsight.errors import LoomsightError
from loomsight.schema import INGEST_PATH
from tests.api.conftest import PASSWORD, free_socket, http_client


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {"LOOMSIGHT_API_DATA_DIR": str(tmp_path / "data"), **extra}


def test_create_admin_then_add_a_machine_and_a_camera(tmp_path: Path) -> None:
    runner = CliRunner()
    env = _env(tmp_path, **{ADMIN_PASSWORD_ENV: PASSWORD})

    created = runner.invoke(api_app, ["create-admin", "boss"], env=env)
    again = runner.invoke(api_app, ["create-admin", "boss"], env=env)
    machine = runner.invoke(api_app, ["add-machine", "loom-1", "--name", "Loom 1"], env=env)
    camera = runner.invoke(api_app, ["add-camera", "loom-1", "cam-1"], env=env)

    assert created.exit_code == 0, created.output
    assert "admin 'boss' created" in created.output
    assert isinstance(again.exception, ConflictError)
    assert machine.exit_code == 0, machine.output
    assert camera.exit_code == 0, camera.output
    assert camera.output.strip().startswith("lsc_")
    assert (tmp_path / "data" / "loomsight.db").is_file()


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["create-admin", "../boss"], {ADMIN_PASSWORD_ENV: PASSWORD}, "a username is"),
        (["create-admin", "boss"], {ADMIN_PASSWORD_ENV: "short"}, "at least 10"),
        (["create-admin", "boss"], {}, ADMIN_PASSWORD_ENV),
        (["migrate"], {"LOOMSIGHT_API_DATABASE_URL": "postgresql://x"}, "DATABASE_URL"),
        (["add-machine", "m", "--name", "n", "--web-width-mm", "-1"], {}, "web_width_mm"),
    ],
)
def test_bad_arguments_are_one_clear_error(
    tmp_path: Path, args: list[str], env: dict[str, str], message: str
) -> None:
    result = CliRunner().invoke(api_app, args, env=_env(tmp_path, **env))

    assert result.exit_code != 0
    assert isinstance(result.exception, LoomsightError)  # `loomsight` prints it as one line
    assert message in str(result.exception)


@pytest.mark.slow
def test_serve_migrates_says_how_to_make_an_admin_and_answers(tmp_path: Path) -> None:
    sock = free_socket()
    port = sock.getsockname()[1]
    sock.close()
    code = (
        "import typer; from loomsight.commands.serve import serve_command; typer.run(serve_command)"
    )
    env = {**os.environ, **_env(tmp_path)}
    server = subprocess.Popen(
        [sys.executable, "-c", code, "--port", str(port), "--log-format", "json"],
        env=env,
        cwd=tmp_path,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        client = http_client(f"http://127.0.0.1:{port}")
        deadline = time.monotonic() + 30
        while True:
            try:
                ready = client.get("/readyz")
                break
            except httpx.TransportError:
                assert server.poll() is None, server.stderr.read() if server.stderr else ""
                assert time.monotonic() < deadline, "serve did not answer"
                time.sleep(0.1)
        assert ready.status_code == 200
        assert client.post(INGEST_PATH, json={}).status_code == 401
    finally:
        server.terminate()
        _out, err = server.communicate(timeout=30)
    assert FIRST_ADMIN_HINT in err
    assert '"route": "/readyz"' in err  # the JSON access log line
