"""One demo run: set up the API, machines and agents, report progress, stop in order, sum up.

The API and the agents run as subprocesses (`loomsight serve`, `loomsight inspect`), as they would
on a mill's machines; `stop` (set by Ctrl-C or SIGTERM in the CLI) ends the run at any step.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import yaml
from rich.console import Console

from loomsight.demo import provision, runner
from loomsight.demo.plan import MachinePlan, agent_settings, demo_plan
from loomsight.demo.stats import StoredStats
from loomsight.demo.summary import MachineSummary, summarize, summary_table
from loomsight.errors import ConfigError

MARKER = ".loomsight-demo"
AGENT_STOP_S = 60.0  # capture stop, last heartbeat, flush (10 s); more on a starved box
API_STOP_S = 15.0

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
        self.api: runner.Child | None = None
        self.agents: list[runner.Child] = []
        self.api_dir = self.folder / "api"
        self.database_url = f"sqlite:///{self.api_dir / 'loomsight.db'}"
        self.tokens: dict[str, str] = {}
        self.summaries: list[MachineSummary] = []

    def run(self) -> int:
        """Run until the duration is up or STOP is set; 0 if all went well, 1 if a process died."""
        prepare_folder(self.folder)
        failed = False
        try:
            api_url = self._start_api()
            if api_url is not None and not self.stop.is_set():
                self._start_agents(api_url)
                failed = self._watch()
        except runner.DemoError as error:
            self.console.print(f"[red]demo failed:[/red] {error}")
            failed = True
        finally:
            failed = not self._stop_everything() or failed
        if self.agents:
            self._sum_up()
        return 1 if failed else 0

    # start

    def _api_env(self) -> dict[str, str]:
        return {
            "LOOMSIGHT_API_DATA_DIR": str(self.api_dir),
            "LOOMSIGHT_API_DATABASE_URL": self.database_url,
        }

    def _start_api(self) -> str | None:
        admin = provision.new_login(provision.ADMIN, "admin")
        reviewer = provision.new_login(provision.REVIEWER, "reviewer")
        env = {**self._api_env(), "LOOMSIGHT_ADMIN_PASSWORD": admin.password}
        argv = runner.loomsight_argv("api", "create-admin", admin.username)
        runner.run_once(argv, env, self.folder, timeout_s=120)
        port = runner.free_port()
        api_url = f"http://127.0.0.1:{port}"
        argv = runner.loomsight_argv("serve", "--port", str(port))
        log = self.folder / "logs" / "api.log"
        self.api = runner.start("api", argv, self._api_env(), self.folder, log)
        if not runner.wait_ready(f"{api_url}/readyz", self.api, 120, self.stop.is_set):
            if self.stop.is_set():
                return None
            raise runner.DemoError(f"the API did not become ready; see {log}")
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
        return api_url

    def _start_agents(self, api_url: str) -> None:
        weights_dir = self.options.weights_dir.resolve()
        for plan in self.plans:
            folder = self.folder / "agents" / plan.machine_id
            folder.mkdir(parents=True, exist_ok=True)
            settings = agent_settings(plan, folder, api_url, runner.free_port(), weights_dir)
            config = folder / "agent.yaml"
            config.write_text(yaml.safe_dump(settings, sort_keys=False), encoding="utf-8")
            env = {"LOOMSIGHT_AGENT_API__TOKEN": self.tokens[plan.machine_id]}
            argv = runner.loomsight_argv("inspect", "--config", str(config))
            log = self.folder / "logs" / f"{plan.machine_id}.log"
            self.agents.append(runner.start(plan.machine_id, argv, env, folder, log))
            fault = ", faulty camera (drops out 3 s every 15 s)" if plan.faulty else ""
            self.console.print(
                f"{plan.machine_id} ({plan.name}, {plan.article}): {plan.speed_m_per_min:.1f} "
                f"m/min, {plan.defects_per_100m:.0f} defects planted per 100 m{fault}"
            )
        processes = {c.name: c.pid for c in [self.api, *self.agents] if c is not None}
        (self.folder / "processes.json").write_text(json.dumps(processes, indent=2) + "\n")
        until = (
            f"for {self.options.duration_s:.0f} s"
            if self.options.duration_s is not None
            else "until Ctrl-C"
        )
        self.console.print(f"{len(self.agents)} agents inspecting {until}")

    # run

    def _watch(self) -> bool:
        """Progress every `progress_s` until the time is up or STOP; True if a process died."""
        started = time.monotonic()
        deadline = None if self.options.duration_s is None else started + self.options.duration_s
        stats = StoredStats(self.database_url)
        try:
            while not self.stop.is_set():
                now = time.monotonic()
                if deadline is not None and now >= deadline:
                    break
                wait_s = self.options.progress_s
                if deadline is not None:
                    wait_s = min(wait_s, deadline - now)
                if self.stop.wait(wait_s):
                    break
                dead = [c for c in [self.api, *self.agents] if c is not None and not c.running()]
                if dead:
                    for child in dead:
                        self.console.print(
                            f"[red]{child.name} exited ({child.process.returncode}); "
                            f"see {child.log_path}[/red]"
                        )
                    return True
                self._progress(stats, time.monotonic() - started)
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

    # stop

    def _stop_everything(self) -> bool:
        """Agents first (they send their last heartbeat and what their outbox holds), the API
        after them; False if one did not end cleanly."""
        codes = {}
        if self.agents:
            self.console.print("stopping the agents (they flush their outboxes to the API)...")
            codes.update(runner.stop_all(self.agents, AGENT_STOP_S))
        if self.api is not None:
            self.console.print("stopping the API...")
            codes.update(runner.stop_all([self.api], API_STOP_S))
        bad = {name: code for name, code in codes.items() if not runner.stopped_cleanly(code)}
        for name, code in bad.items():
            self.console.print(f"[red]{name} ended with exit code {code}[/red]")
        return not bad

    def _sum_up(self) -> None:
        stats = StoredStats(self.database_url)
        try:
            stored = stats.by_machine([p.machine_id for p in self.plans])
            self.summaries = [
                summarize(plan, stored[plan.machine_id], stats.events(plan.machine_id))
                for plan in self.plans
            ]
        finally:
            stats.close()
        self.console.print(summary_table(self.summaries))
        path = self.folder / "summary.json"
        path.write_text(json.dumps([s.as_json() for s in self.summaries], indent=2) + "\n")
        self.console.print(f"summary in {path}; the API database: {self.database_url}")
