"""Faults scripted into the demo: the pieces (plan, script, spans of fabric seen, memory growth)
and one shortened run through real processes: kill -9 an agent and start it again, stop the API
and start it again, cut a camera; then nothing lost, nothing stored twice, rates that add up, and
each fault shown."""

from __future__ import annotations

import io
import json
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from rich.console import Console

from loomsight.demo.faults import FaultKind, FaultPlan, FaultScript, FaultWindow
from loomsight.demo.memory import MemoryLog, rss_mib
from loomsight.demo.plan import FRAME_LENGTH_M, demo_plan
from loomsight.demo.session import DemoOptions, DemoSession
from loomsight.demo.summary import START_MARGIN_S, seen_spans_m
from loomsight.errors import ConfigError
from tests.conftest import REPO_ROOT

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


class Recorder:
    """FaultActions that write down what they were asked to do."""

    def __init__(self) -> None:
        self.done: list[str] = []

    def kill_agent(self, machine_id: str) -> None:
        self.done.append(f"kill {machine_id}")

    def start_agent(self, machine_id: str) -> None:
        self.done.append(f"start {machine_id}")

    def stop_api(self) -> None:
        self.done.append("stop api")

    def start_api(self) -> None:
        self.done.append("start api")

    def cut_camera(self, machine_id: str) -> None:
        self.done.append(f"cut {machine_id}")

    def restore_camera(self, machine_id: str) -> None:
        self.done.append(f"restore {machine_id}")


def test_the_script_runs_each_step_once_in_time_and_keeps_the_windows() -> None:
    clock = {"s": 0.0}
    recorder, said = Recorder(), []
    plan = FaultPlan(kill_at_s=10, restart_after_s=5, api_down_at_s=12, api_down_s=20, cut_at_s=3)
    script = FaultScript(plan, ["a", "b", "c"], recorder, said.append, now=lambda: at(clock["s"]))
    for second in range(0, 40):
        clock["s"] = second
        script.step(second)
    assert recorder.done == [
        "cut b", "kill a", "stop api", "start a", "start api", "restore b"
    ]  # fmt: skip
    assert script.finished and len(said) == 6
    spans = {(w.kind, w.target): (w.start, w.end) for w in script.windows}
    assert spans == {
        (FaultKind.CAMERA_CUT, "b"): (at(3), at(33)),
        (FaultKind.AGENT_KILLED, "a"): (at(10), at(15)),
        (FaultKind.API_STOPPED, "api"): (at(12), at(32)),
    }
    assert plan.ends_at_s == 33 + plan.settle_s


def test_a_plan_naming_machines_the_demo_lacks_or_a_run_too_short_is_refused(
    tmp_path: Path,
) -> None:
    with pytest.raises(ConfigError, match="at least 2 machines, got 1"):
        FaultPlan().check(1)
    options = DemoOptions(folder=tmp_path, duration_s=100, faults=FaultPlan())
    with pytest.raises(ConfigError, match="a run of at least 360 s, got --duration-s 100"):
        DemoSession(options, Console(file=io.StringIO()), threading.Event())


def test_seen_fabric_is_the_heartbeats_on_the_loom_clock_less_cuts() -> None:
    plan = replace(demo_plan(3)[1], moving_since_unix_s=T0.timestamp())  # 4.2 m/min
    speed_m_per_s = plan.speed_m_per_min / 60
    lead_m = speed_m_per_s * START_MARGIN_S
    periods = [(at(0), at(5)), (at(5), at(10)), (at(30), at(40))]  # dead from 10 s to 30 s
    cut = FaultWindow(FaultKind.CAMERA_CUT, plan.machine_id, at(34), at(36))
    other = FaultWindow(FaultKind.CAMERA_CUT, "loom-9", at(1), at(2))
    spans = seen_spans_m(plan, periods, [cut, other])
    expected = [
        (lead_m, 10 * speed_m_per_s + FRAME_LENGTH_M),
        (30 * speed_m_per_s + lead_m, 34 * speed_m_per_s - FRAME_LENGTH_M),
        (36 * speed_m_per_s + lead_m, 40 * speed_m_per_s + FRAME_LENGTH_M),
    ]
    assert len(spans) == len(expected)
    for got, want in zip(spans, expected, strict=True):
        assert got == pytest.approx(want)
    assert seen_spans_m(plan, []) == []


def test_memory_growth_after_warm_up_per_process(tmp_path: Path) -> None:
    log = MemoryLog()
    log.series[("agent", 1)] = [
        (float(t), 100.0 + (50 if t >= 2 else 0) + t / 10) for t in range(12)
    ]
    log.series[("agent", 2)] = [(30.0, 10.0)]  # restarted: too few samples yet
    (growth,) = log.growth(warmup_s=2.0, average_of=3)
    assert (growth.name, growth.pid, growth.samples) == ("agent", 1, 12)
    assert growth.warm_mib == pytest.approx(150.3) and growth.end_mib == pytest.approx(151.0)
    assert growth.growth == pytest.approx(151.0 / 150.3 - 1)
    own = rss_mib(__import__("os").getpid())
    assert own is not None and own > 10
    assert rss_mib(2**22 + 12345) is None


@pytest.mark.slow
def test_faults_during_the_demo_lose_nothing_and_show_the_gaps(tmp_path: Path) -> None:
    plan = FaultPlan(
        kill_at_s=12,
        restart_after_s=10,
        api_down_at_s=28,
        api_down_s=20,
        cut_at_s=52,
        cut_s=12,
        settle_s=12,
    )
    folder = tmp_path / "demo"
    options = DemoOptions(
        folder=folder,
        duration_s=plan.ends_at_s,
        faults=plan,
        weights_dir=REPO_ROOT / "weights",
        progress_s=5.0,
        memory_warmup_s=10.0,
    )
    out = io.StringIO()
    code = DemoSession(options, Console(file=out, width=200), threading.Event()).run()
    output = out.getvalue()
    assert code == 0, output
    report = json.loads((folder / "summary.json").read_text())
    kinds = [(f["kind"], f["target"]) for f in report["faults"]]
    assert kinds == [("agent killed", "loom-1"), ("API stopped", "api"), ("camera cut", "loom-2")]
    audits = {a["machine_id"]: a for a in report["audit"]}
    for audit in audits.values():
        assert audit["problems"] == [], audit  # kill gap shown, cut skipped, rates add up
        assert audit["events_made"] == audit["events_stored"] > 0, audit  # none lost or doubled
        assert audit["left_in_outbox"] == 0, audit
    killed = next(f for f in report["faults"] if f["kind"] == "agent killed")
    kill_start = datetime.fromisoformat(killed["start"])
    assert any(
        datetime.fromisoformat(start) <= kill_start + timedelta(seconds=1)
        and kill_start < datetime.fromisoformat(end)
        for start, end in audits["loom-1"]["gaps"]
    )
    machines = {m["machine_id"]: m for m in report["machines"]}
    assert machines["loom-2"]["skipped_m"] >= 0.5 * 4.2 / 60 * plan.cut_s  # the cut shows
    assert all(m["recall"] >= 0.5 and m["false_alarms"] <= 2 for m in machines.values()), machines
    pids = json.loads((folder / "processes.json").read_text())
    assert len(pids["loom-1"]) == 2 and len(pids["api"]) == 2  # both were started again
    assert "fault: kill -9 loom-1's agent" in output and "fault: start the API again" in output
