"""Faults scripted into a demo run: an agent killed with SIGKILL and started again, the API
stopped for a while and started again on its address, a camera's cable pulled for a while.

`FaultScript.step(elapsed_s)` is called from the demo's watch loop; each step runs once when its
time has come and the windows of fabric and time each fault hid are kept (`windows`), for the
summary (what no camera could see) and the audit (the gaps the API must show).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from loomsight.camera.frames import utc_now
from loomsight.errors import ConfigError

logger = logging.getLogger(__name__)


class FaultKind(StrEnum):
    AGENT_KILLED = "agent killed"
    API_STOPPED = "API stopped"
    CAMERA_CUT = "camera cut"


@dataclass(frozen=True)
class FaultPlan:
    """When each fault starts (seconds after the agents started) and how long it lasts; the
    defaults are the issue's: kill -9 an agent, the API down 2 minutes, a camera cut 30 s."""

    kill_at_s: float = 60.0
    kill_machine: int = 0  # index in the demo's machines
    restart_after_s: float = 10.0  # longer than the coverage gap threshold: the API shows it
    api_down_at_s: float = 120.0
    api_down_s: float = 120.0
    cut_at_s: float = 300.0
    cut_machine: int = 1
    cut_s: float = 30.0
    settle_s: float = 30.0  # after the last fault: outboxes drain, heartbeats catch up

    def check(self, machines: int) -> None:
        """ConfigError unless the machines the plan names are among MACHINES."""
        named = max(self.kill_machine, self.cut_machine)
        if min(self.kill_machine, self.cut_machine) < 0 or named >= machines:
            raise ConfigError(
                f"the scripted faults need at least {named + 1} machines, got {machines}"
            )

    @property
    def ends_at_s(self) -> float:
        """When the last fault is over and settled: a run must last at least this long."""
        last = max(
            self.kill_at_s + self.restart_after_s,
            self.api_down_at_s + self.api_down_s,
            self.cut_at_s + self.cut_s,
        )
        return last + self.settle_s


@dataclass(frozen=True)
class FaultWindow:
    """One fault as it happened: what, on which machine ("api" for the API), from when to when."""

    kind: FaultKind
    target: str
    start: datetime
    end: datetime

    def as_json(self) -> dict[str, str]:
        return {
            "kind": self.kind.value,
            "target": self.target,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
        }


class FaultActions(Protocol):
    """What the demo session does for the script."""

    def kill_agent(self, machine_id: str) -> None: ...
    def start_agent(self, machine_id: str) -> None: ...
    def stop_api(self) -> None: ...
    def start_api(self) -> None: ...
    def cut_camera(self, machine_id: str) -> None: ...
    def restore_camera(self, machine_id: str) -> None: ...


@dataclass
class _Step:
    at_s: float
    say: str
    act: Callable[[], None]
    done: bool = False


@dataclass
class FaultScript:
    """The plan's steps against MACHINE_IDS, run through ACTIONS as their time comes."""

    plan: FaultPlan
    machine_ids: list[str]
    actions: FaultActions
    say: Callable[[str], None]
    now: Callable[[], datetime] = utc_now
    windows: list[FaultWindow] = field(default_factory=list)
    _started: dict[tuple[FaultKind, str], datetime] = field(default_factory=dict)

    def __post_init__(self) -> None:
        plan, ids = self.plan, self.machine_ids
        plan.check(len(ids))
        killed, cut = ids[plan.kill_machine], ids[plan.cut_machine]
        self._steps = sorted(
            [
                _Step(plan.kill_at_s, f"kill -9 {killed}'s agent", lambda: self._kill(killed)),
                _Step(
                    plan.kill_at_s + plan.restart_after_s,
                    f"start {killed}'s agent again",
                    lambda: self._restart(killed),
                ),
                _Step(
                    plan.api_down_at_s,
                    f"stop the API for {plan.api_down_s:.0f} s",
                    self._stop_api,
                ),
                _Step(
                    plan.api_down_at_s + plan.api_down_s,
                    "start the API again",
                    self._start_api,
                ),
                _Step(
                    plan.cut_at_s,
                    f"cut {cut}'s camera for {plan.cut_s:.0f} s",
                    lambda: self._cut(cut),
                ),
                _Step(
                    plan.cut_at_s + plan.cut_s,
                    f"reconnect {cut}'s camera",
                    lambda: self._restore(cut),
                ),
            ],
            key=lambda step: step.at_s,
        )

    @property
    def finished(self) -> bool:
        return all(step.done for step in self._steps)

    def step(self, elapsed_s: float) -> None:
        """Run every step whose time has come and that has not run yet."""
        for step in self._steps:
            if not step.done and elapsed_s >= step.at_s:
                step.done = True
                self.say(f"[{elapsed_s:4.0f} s] fault: {step.say}")
                step.act()

    def _begin(self, kind: FaultKind, target: str) -> None:
        self._started[(kind, target)] = self.now()

    def _end(self, kind: FaultKind, target: str) -> None:
        start = self._started.pop((kind, target))
        self.windows.append(FaultWindow(kind, target, start, self.now()))

    def _kill(self, machine_id: str) -> None:
        self._begin(FaultKind.AGENT_KILLED, machine_id)
        self.actions.kill_agent(machine_id)

    def _restart(self, machine_id: str) -> None:
        self.actions.start_agent(machine_id)
        self._end(FaultKind.AGENT_KILLED, machine_id)

    def _stop_api(self) -> None:
        self._begin(FaultKind.API_STOPPED, "api")
        self.actions.stop_api()

    def _start_api(self) -> None:
        self.actions.start_api()
        self._end(FaultKind.API_STOPPED, "api")

    def _cut(self, machine_id: str) -> None:
        self._begin(FaultKind.CAMERA_CUT, machine_id)
        self.actions.cut_camera(machine_id)

    def _restore(self, machine_id: str) -> None:
        self.actions.restore_camera(machine_id)
        self._end(FaultKind.CAMERA_CUT, machine_id)
