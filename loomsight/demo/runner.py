"""Child processes of the demo: started in their own process group (so a Ctrl-C at the terminal
reaches the demo alone, which then stops them in order), logs to files, stopped with SIGTERM and
killed only if they overstay. On Linux each child also gets SIGTERM if the demo itself dies."""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx

from loomsight.errors import LoomsightError

logger = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1


class DemoError(LoomsightError):
    """A part of the demo could not start, or a step of its set-up was refused."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on HOST now (the OS picks it; another program could take it first)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def loomsight_argv(*args: str) -> list[str]:
    """`loomsight ARGS` with the interpreter running this demo."""
    return [sys.executable, "-m", "loomsight", *args]


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the parent dies (Linux; elsewhere nothing)."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path
    _log: IO[bytes]
    argv: Sequence[str]
    env: Mapping[str, str]
    cwd: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout_s: float, signalled: bool = False) -> int:
        """SIGTERM (unless SIGNALLED already), wait up to TIMEOUT_S, then SIGKILL; the exit code
        (negative: a signal)."""
        if self.running() and not signalled:
            self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            logger.warning("%s did not stop within %.0f s: killed", self.name, timeout_s)
            self.process.kill()
            code = self.process.wait()
        self._log.close()
        return code


def start(
    name: str, argv: Sequence[str], env: Mapping[str, str], cwd: Path, log_path: Path
) -> Child:
    """Start ARGV with ENV added to this environment; stdout and stderr go to LOG_PATH."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = log_path.open("ab")
    process = subprocess.Popen(
        list(argv),
        cwd=cwd,
        env={**os.environ, **env},
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        process_group=0,
        preexec_fn=_die_with_parent,
    )
    return Child(name, process, log_path, log, list(argv), dict(env), cwd)


def restart(child: Child) -> Child:
    """CHILD's command started again (it must have ended), its log appended to."""
    if child.running():
        raise DemoError(f"{child.name} is still running (pid {child.pid}); stop it first")
    child.stop(0.1, signalled=True)  # reaps it and closes its log
    return start(child.name, child.argv, child.env, child.cwd, child.log_path)


def run_once(argv: Sequence[str], env: Mapping[str, str], cwd: Path, timeout_s: float) -> str:
    """Run ARGV to its end; its stdout, or DemoError with its output if it failed."""
    result = subprocess.run(
        list(argv),
        cwd=cwd,
        env={**os.environ, **env},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
        process_group=0,
    )
    if result.returncode != 0:
        raise DemoError(
            f"{' '.join(argv[2:])} exited {result.returncode}: {result.stderr.strip()[-2000:]}"
        )
    return result.stdout


def wait_ready(
    url: str,
    child: Child,
    timeout_s: float,
    should_stop: Callable[[], bool] = lambda: False,
) -> bool:
    """Poll URL until it answers 200; False if CHILD exits, SHOULD_STOP says so, or time is up."""
    deadline = time.monotonic() + timeout_s
    with httpx.Client(timeout=2.0) as client:
        while time.monotonic() < deadline and child.running() and not should_stop():
            try:
                if client.get(url).status_code == 200:
                    return True
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
    return False


def stopped_cleanly(code: int) -> bool:
    """Exit code 0, or death by the SIGTERM it was sent (uvicorn re-raises it after a graceful
    shutdown)."""
    return code in (0, -signal.SIGTERM)


def stop_all(children: Sequence[Child], timeout_s: float) -> dict[str, int]:
    """SIGTERM to every child at once, then wait for all within TIMEOUT_S (SIGKILL after);
    exit codes by name."""
    for child in children:
        if child.running():
            child.process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    return {c.name: c.stop(max(deadline - time.monotonic(), 0.1), True) for c in children}
