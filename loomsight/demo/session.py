"""One demo run: set up the API, machines and agents, report progress, stop in order, sum up.

The API and the agents run as subprocesses (`loomsight serve`, `loomsight inspect`), as they would
on a mill's machines; `stop` (set by Ctrl-C or SIGTERM in the CLI) ends the run at any step.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from dataclasses import asdict, dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import yaml
from rich.console import Console

from loomsight.camera.frames import utc_now
from loomsight.demo import provision, runner
from loomsight.demo.audit import MachineAudit, audit_machine, audit_table
from loomsight.demo.faults import FaultPlan, FaultScript, FaultWindow
from loomsight.demo.memory import MemoryGrowth, MemoryLog
from loomsight.demo.plan import HEARTBEAT_S, MachinePlan, agent_settings, demo_plan
from loomsight.demo.stats import StoredStats
from loomsight.demo.summary import MachineSummary, summarize, summary_table
from loomsight.errors import ConfigError

MARKER = ".loomsight-demo"
AGENT_STOP_S = 60.0  # capture stop, last heartbeat, flush (10 s); more on a starved box
API_STOP_S = 15.0
API_START_S = 120.0
TICK_S = 0.5  # how often the watch loop looks at the clock (faults start within this)
COVERAGE_GAP_S = 2 * HEARTBEAT_S  # two missed heartbeats make a gap on the machine pages

# Where the QA dashboard will be. The web issue replaces this line with the dashboard's address.
DASHBOARD_PATH = "/machines"  # the web pages (loomsight/api/web), served by the API


@dataclass(frozen=True)
class DemoOptions:
    folder: Path
    machines: int = 3
    duration_s: float | None = None
    fps: float = 2.0
    weights_dir: Path = Path("weights")
    progress_s: float = 10.0
    faults: FaultPlan | None = None  # scripted faults during the run
    memory_warmup_s: float = 120.0  # memory growth is measured after this


def prepare_folder(folder: Path) -> None:
    """An empty demo folder: a former demo's is emptied; any other non-empty folder refused."""
    if folder.exists() and any(folder.iterdir()):
        if not (folder / MARKER).is_file():
            raise ConfigError(
                f"{folder}: expected an empty folder or one a former demo made ({MARKER}), "
                "got other files; name another --folder"
            )
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / MARKER).write_text("made by loomsight demo; emptied by the next run\n")


class DemoSession:
    def __init__(self, options: DemoOptions, console: Console, stop: threading.Event) -> None:
        self.options = options
        self.folder = options.folder.resolve()
        self.console = console
        self.stop = stop
        self.plans: list[MachinePlan] = demo_plan(options.machines, options.fps)
        faults, duration_s = options.faults, options.duration_s
        if faults is not None:
            faults.check(options.machines)
        if faults is not None and duration_s is not None and duration_s < faults.ends_at_s:
            raise ConfigError(
                f"the scripted faults need a run of at least {faults.ends_at_s:.0f} s, "
                f"got --duration-s {duration_s:.0f}"
            )
        self.api: runner.Child | None = None
        self.agents: dict[str, runner.Child] = {}
        self.down: set[str] = set()  # processes stopped on purpose (a scripted fault)
        self.api_dir = self.folder / "api"
        self.database_url = f"sqlite:///{self.api_dir / 'loomsight.db'}"
        self.api_url = ""
        self.admin: provision.Login | None = None
        self.tokens: dict[str, str] = {}
        self.script: FaultScript | None = None
        self.memory = MemoryLog()
        self.started_at = utc_now()
        self.summaries: list[MachineSummary] = []
        self.audits: list[MachineAudit] = []

    def run(self) -> int:
        """Run until the duration is up or STOP is set; 0 if all went well, 1 if a process died,
        did not stop cleanly, or the audit found a problem."""
        prepare_folder(self.folder)
        failed = False
        try:
            if self._start_api() and not self.stop.is_set():
                self._start_agents()
                failed = self._watch()
        except runner.DemoError as error:
            self.console.print(f"[red]demo failed:[/red] {error}")
            failed = True
        finally:
            failed = not self._stop_everything() or failed
        if self.agents:
            self._sum_up()
        return 1 if failed or any(a.problems for a in self.audits) else 0

    # start

    def _api_env(self) -> dict[str, str]:
        return {
            "LOOMSIGHT_API_DATA_DIR": str(self.api_dir),
            "LOOMSIGHT_API_DATABASE_URL": self.database_url,
            "LOOMSIGHT_API_REPORTS": json.dumps({"coverage_gap_s": COVERAGE_GAP_S}),
        }

    def _start_api(self) -> bool:
        self.admin = admin = provision.new_login(provision.ADMIN, "admin")
        reviewer = provision.new_login(provision.REVIEWER, "reviewer")
        env = {**self._api_env(), "LOOMSIGHT_ADMIN_PASSWORD": admin.password}
        argv = runner.loomsight_argv("api", "create-admin", admin.username)
        runner.run_once(argv, env, self.folder, timeout_s=120)
        port = runner.free_port()
        self.api_url = api_url = f"http://127.0.0.1:{port}"
        argv = runner.loomsight_argv("serve", "--port", str(port))
        log = self.folder / "logs" / "api.log"
        self.api = runner.start("api", argv, self._api_env(), self.folder, log)
        if not self._wait_for_api():
            return False
        self.tokens = provision.register(api_url, admin, reviewer, self.plans)
        credentials = self.folder / "credentials.txt"
        provision.write_credentials(credentials, api_url, [admin, reviewer])
        dashboard = f"{api_url}{DASHBOARD_PATH}  (review queue: {api_url}/review)"
        say = self.console.print
        say(f"[bold]API[/bold]        {api_url}  (OpenAPI docs: {api_url}/docs)")
        say(f"[bold]dashboard[/bold]  {dashboard}")
        say(f"[bold]reviewer[/bold]   {reviewer.username} / {reviewer.password}")
        say(f"[bold]admin[/bold]      {admin.username} / {admin.password}")
        say(f"logins are also in {credentials}; logs in {self.folder / 'logs'}")
        return True

    def _wait_for_api(self) -> bool:
        assert self.api is not None
        if runner.wait_ready(f"{self.api_url}/readyz", self.api, API_START_S, self.stop.is_set):
            return True
        if self.stop.is_set():
            return False
        raise runner.DemoError(f"the API did not become ready; see {self.api.log_path}")

    def _start_agents(self) -> None:
        weights_dir = self.options.weights_dir.resolve()
        self.started_at = utc_now()  # the looms start now; cameras see them when they can
        moving_since_unix_s = self.started_at.timestamp()
        cuts = self.folder / "faults"
        cuts.mkdir()
        self.plans = [
            replace(
                p, moving_since_unix_s=moving_since_unix_s, cut_file=cuts / f"{p.machine_id}.cut"
            )
            for p in self.plans
        ]
        for plan in self.plans:
            folder = self._agent_folder(plan.machine_id)
            folder.mkdir(parents=True, exist_ok=True)
            settings = agent_settings(plan, folder, self.api_url, runner.free_port(), weights_dir)
            config = folder / "agent.yaml"
            config.write_text(yaml.safe_dump(settings, sort_keys=False), encoding="utf-8")
            env = {"LOOMSIGHT_AGENT_API__TOKEN": self.tokens[plan.machine_id]}
            argv = runner.loomsight_argv("inspect", "--config", str(config))
            log = self.folder / "logs" / f"{plan.machine_id}.log"
            self.agents[plan.machine_id] = runner.start(plan.machine_id, argv, env, folder, log)
            fault = ", faulty camera (drops out 3 s every 15 s)" if plan.faulty else ""
            self.console.print(
                f"{plan.machine_id} ({plan.name}, {plan.article}): {plan.speed_m_per_min:.1f} "
                f"m/min, {plan.defects_per_100m:.0f} defects planted per 100 m{fault}"
            )
        self._write_processes()
        if self.options.faults is not None:
            self.script = FaultScript(
                self.options.faults, [p.machine_id for p in self.plans], self, self.console.print
            )
        until = (
            f"for {self.options.duration_s:.0f} s"
            if self.options.duration_s is not None
            else "until Ctrl-C"
        )
        self.console.print(f"{len(self.agents)} agents inspecting {until}")

    def _agent_folder(self, machine_id: str) -> Path:
        return self.folder / "agents" / machine_id

    def _children(self) -> list[runner.Child]:
        return [c for c in [self.api, *self.agents.values()] if c is not None]

    def _write_processes(self) -> None:
        """Every process started so far, by name (a restarted one adds its new pid)."""
        path = self.folder / "processes.json"
        known: dict[str, list[int]] = json.loads(path.read_text()) if path.exists() else {}
        for child in self._children():
            pids = known.setdefault(child.name, [])
            if child.pid not in pids:
                pids.append(child.pid)
        path.write_text(json.dumps(known, indent=2) + "\n")

    # run

    def _watch(self) -> bool:
        """Progress every `progress_s` and the scripted faults on time, until the time is up or
        STOP; True if a process died (other than by a scripted fault)."""
        started = time.monotonic()
        deadline = None if self.options.duration_s is None else started + self.options.duration_s
        next_progress = started + self.options.progress_s
        stats = StoredStats(self.database_url)
        try:
            while not self.stop.wait(TICK_S):
                now = time.monotonic()
                if deadline is not None and now >= deadline:
                    break
                if self.script is not None:
                    self.script.step(now - started)
                dead = [c for c in self._children() if c.name not in self.down and not c.running()]
                if dead:
                    for child in dead:
                        self.console.print(
                            f"[red]{child.name} exited ({child.process.returncode}); "
                            f"see {child.log_path}[/red]"
                        )
                    return True
                if now >= next_progress:
                    next_progress += self.options.progress_s
                    self.memory.sample(now - started, {c.name: c.pid for c in self._children()})
                    if "api" not in self.down:
                        self._progress(stats, now - started)
        finally:
            stats.close()
        return False

    def _progress(self, stats: StoredStats, elapsed_s: float) -> None:
        stored = stats.by_machine([p.machine_id for p in self.plans])
        for plan in self.plans:
            s = stored[plan.machine_id]
            self.console.print(
                f"[{elapsed_s:4.0f} s] {plan.machine_id}: {s.events} defects stored, "
                f"{s.inspected_m:.2f} m inspected, {s.skipped_m:.2f} m skipped "
                f"({s.heartbeats} heartbeats)"
            )

    # the scripted faults (FaultActions)

    def kill_agent(self, machine_id: str) -> None:
        child = self.agents[machine_id]
        self.down.add(machine_id)
        child.process.kill()
        child.process.wait()

    def start_agent(self, machine_id: str) -> None:
        self.agents[machine_id] = runner.restart(self.agents[machine_id])
        self.down.discard(machine_id)
        self._write_processes()

    def stop_api(self) -> None:
        assert self.api is not None
        self.down.add("api")
        runner.stop_all([self.api], API_STOP_S)

    def start_api(self) -> None:
        assert self.api is not None
        self.api = runner.restart(self.api)
        self._write_processes()
        self._wait_for_api()
        self.down.discard("api")

    def cut_camera(self, machine_id: str) -> None:
        self._cut_file(machine_id).touch()

    def restore_camera(self, machine_id: str) -> None:
        self._cut_file(machine_id).unlink(missing_ok=True)

    def _cut_file(self, machine_id: str) -> Path:
        return self.folder / "faults" / f"{machine_id}.cut"

    # stop

    def _stop_everything(self) -> bool:
        """Agents first (they send their last heartbeat and what their outbox holds), the audit
        while the API still runs, the API last; False if one did not end cleanly."""
        codes = {}
        for plan in self.plans:
            self.restore_camera(plan.machine_id)  # an agent stopped mid-cut still flushes
        if self.agents:
            self.console.print("stopping the agents (they flush their outboxes to the API)...")
            codes.update(runner.stop_all(list(self.agents.values()), AGENT_STOP_S))
            self._audit()
        if self.api is not None:
            self.console.print("stopping the API...")
            codes.update(runner.stop_all([self.api], API_STOP_S))
        bad = {name: code for name, code in codes.items() if not runner.stopped_cleanly(code)}
        for name, code in bad.items():
            self.console.print(f"[red]{name} ended with exit code {code}[/red]")
        return not bad

    def _audit(self) -> None:
        if self.api is None or not self.api.running() or self.admin is None:
            self.console.print("[red]the API is not running: no audit[/red]")
            return
        run = (self.started_at, utc_now() + timedelta(seconds=1))
        windows = self.script.windows if self.script is not None else []
        stats = StoredStats(self.database_url)
        try:
            stored = stats.by_machine([p.machine_id for p in self.plans])
            with httpx.Client(base_url=self.api_url, timeout=60.0) as client:
                client.headers["Authorization"] = f"Bearer {provision.log_in(client, self.admin)}"
                self.audits = [
                    audit_machine(
                        client,
                        plan,
                        self._agent_folder(plan.machine_id) / "outbox.sqlite",
                        stored[plan.machine_id],
                        run,
                        windows,
                    )
                    for plan in self.plans
                    if plan.machine_id in self.agents
                ]
        except httpx.HTTPError as error:
            self.console.print(f"[red]the audit could not ask the API: {error}[/red]")
        finally:
            stats.close()

    def _sum_up(self) -> None:
        windows = self.script.windows if self.script is not None else []
        stats = StoredStats(self.database_url)
        try:
            stored = stats.by_machine([p.machine_id for p in self.plans])
            self.summaries = [
                summarize(
                    plan,
                    stored[plan.machine_id],
                    stats.events(plan.machine_id),
                    stats.heartbeat_periods(plan.machine_id),
                    windows,
                )
                for plan in self.plans
            ]
        finally:
            stats.close()
        self.console.print(summary_table(self.summaries))
        if self.audits:
            self.console.print(audit_table(self.audits))
        for window in windows:
            seconds = (window.end - window.start).total_seconds()
            self.console.print(f"fault: {window.kind.value} ({window.target}) for {seconds:.0f} s")
        growth = self.memory.growth(self.options.memory_warmup_s)
        for g in growth:
            self.console.print(
                f"memory {g.name} (pid {g.pid}): {g.start_mib:.0f} MiB at start, "
                f"{g.warm_mib:.0f} after warm-up, {g.end_mib:.0f} at the end ({g.growth:+.1%})"
            )
        path = self.folder / "summary.json"
        path.write_text(json.dumps(self._report(windows, growth), indent=2, default=str) + "\n")
        self.console.print(f"summary in {path}; the API database: {self.database_url}")

    def _report(self, windows: list[FaultWindow], growth: list[MemoryGrowth]) -> dict[str, Any]:
        return {
            "machines": [s.as_json() for s in self.summaries],
            "audit": [asdict(a) for a in self.audits],
            "faults": [w.as_json() for w in windows],
            "memory": [asdict(g) | {"growth": g.growth} for g in growth],
        }
