"""`loomsight demo`: the plan it runs, and the whole demo as a user runs it (a subprocess that
starts the API and three agents): a timed run with its summary, and Ctrl-C mid-run; both must
stop cleanly and leave no process behind."""

from __future__ import annotations

import json
import os
import queue
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from loomsight.camera.settings import load_settings
from loomsight.camera.sources.synthetic import SyntheticSource
from loomsight.demo.plan import FRAME_LENGTH_M, agent_settings, demo_plan
from loomsight.demo.session import MARKER, prepare_folder
from loomsight.errors import ConfigError
from tests.conftest import REPO_ROOT

DEMO = [sys.executable, "-m", "loomsight", "demo"]
MACHINES = ["loom-1", "loom-2", "loom-3"]


def test_the_plan_varies_fabric_speed_and_rate_and_has_one_faulty_camera() -> None:
    plans = demo_plan(3)
    assert [p.machine_id for p in plans] == MACHINES
    for field in ("seed", "speed_m_per_min", "defects_per_100m"):
        assert len({getattr(p, field) for p in plans}) == 3, field
    assert [p.faulty for p in plans].count(True) == 1
    for plan in plans:  # consecutive frames overlap: no fabric passes between them
        source = plan.source()
        assert source.realtime and source.speed_m_per_min / 60 / source.fps < FRAME_LENGTH_M
    assert len({p.seed for p in demo_plan(7)}) == 7


def test_each_article_names_the_weave_its_camera_sees() -> None:
    """The dashboard shows the article: a "satin lining" once ran on a twill web."""
    plans = demo_plan(7)
    for plan in plans:
        weave = SyntheticSource(plan.source()).web.fabric.weave.value
        assert plan.article.endswith(f" {weave}"), (plan.article, weave)
    assert len({plan.article for plan in plans[:3]}) == 3


def test_agent_settings_are_valid_agent_settings(tmp_path: Path) -> None:
    plan = demo_plan(3)[2]
    raw = agent_settings(plan, tmp_path, "http://127.0.0.1:9", 9465, REPO_ROOT / "weights")
    settings = load_settings(None, {**raw, "api": {**raw["api"], "token": "t"}})
    assert settings.source == plan.source() and settings.source.dropout_every_s is not None
    assert settings.metrics_port == 9465 and settings.outbox.path.parent == tmp_path


def test_the_folder_is_a_former_demos_or_empty(tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    (other / "thesis.tex").write_text("keep me")
    with pytest.raises(ConfigError, match="expected an empty folder or one a former demo made"):
        prepare_folder(other)
    assert (other / "thesis.tex").exists()
    former = tmp_path / "former"
    prepare_folder(former)
    (former / "old.log").write_text("from the last run")
    prepare_folder(former)
    assert sorted(p.name for p in former.iterdir()) == [MARKER]


class _Output:
    """A process's output lines, read in a thread as they come."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self._new: queue.Queue[str] = queue.Queue()
        self._thread = threading.Thread(target=self._read, args=(process,), daemon=True)
        self._thread.start()

    def _read(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            self.lines.append(line)
            self._new.put(line)

    def wait_for(self, text: str, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                if text in self._new.get(timeout=0.5):
                    return
            except queue.Empty:
                continue
        raise AssertionError(f"no {text!r} within {timeout_s} s; output:\n{self.text()}")

    def text(self) -> str:
        self._thread.join(timeout=10)  # the output ends when the process does
        return "".join(self.lines)


def _start(folder: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*DEMO, "--folder", str(folder), *args],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _left_behind(folder: Path) -> list[str]:
    """Processes that still name FOLDER in their command line or environment (Linux /proc)."""
    mark = str(folder).encode()
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if mark in (proc / "cmdline").read_bytes() or mark in (proc / "environ").read_bytes():
                found.append(f"{proc.name}: {(proc / 'cmdline').read_bytes()!r}")
        except OSError:
            continue
    return found


def _assert_nothing_left(folder: Path) -> None:
    pids = json.loads((folder / "processes.json").read_text())
    assert set(pids) == {"api", *MACHINES}
    for pid in (pid for started in pids.values() for pid in started):
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert _left_behind(folder) == []


needs_proc = pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs /proc")


@pytest.mark.slow
@needs_proc
def test_a_timed_demo_sums_up_and_stops_everything(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    process = _start(folder, "--duration-s", "40")
    output, _ = process.communicate(timeout=150)
    assert process.returncode == 0, output
    assert "API        http://127.0.0.1:" in output and "demo-reviewer / " in output
    assert "dashboard" in output and output.count("defects stored") >= 3 * 3
    rows = [line for line in output.splitlines() if line.startswith("│ loom-")]
    table, audit_table = rows[:3], rows[3:]  # the summary, then the audit
    assert [line.split()[1] for line in table] == MACHINES
    assert [line.split()[1] for line in audit_table] == MACHINES
    report = json.loads((folder / "summary.json").read_text())
    summary = {row["machine_id"]: row for row in report["machines"]}
    for machine_id, row in summary.items():
        assert row["inspected_m"] > 0.5, row  # 2-2.8 m at full pace; less on a busy box
        assert row["planted"] >= 3 and row["defects_stored"] > 0, row
        assert row["recall"] >= 0.5, row
        assert (row["skipped_m"] > 0) == row["faulty"], row  # dropouts show as skipped metres
        assert f"{row['recall']:.2f}" in next(x for x in table if machine_id in x)
    rows = summary.values()
    assert sum(r["found"] for r in rows) >= 0.7 * sum(r["planted"] for r in rows)
    for audit in report["audit"]:  # every event the agents made is stored, once
        assert audit["events_made"] == audit["events_stored"] > 0, audit
        assert audit["problems"] == [], audit
    assert "Audit: made by the agents vs. held by the API" in output
    assert stat.S_IMODE((folder / "credentials.txt").stat().st_mode) == 0o600
    _assert_nothing_left(folder)


@pytest.mark.slow
@needs_proc
def test_ctrl_c_mid_run_stops_agents_then_api_cleanly(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    process = _start(folder)
    try:
        out = _Output(process)
        out.wait_for("agents inspecting until Ctrl-C", timeout_s=90)
        time.sleep(8)
        process.send_signal(signal.SIGINT)
        code = process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    output = out.text()
    assert code == 0, output
    assert "SIGINT: stopping everything" in output
    assert output.index("stopping the agents") < output.index("stopping the API")
    assert "ended with exit code" not in output
    _assert_nothing_left(folder)
