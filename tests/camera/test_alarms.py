"""Alarm rules and outputs: a real webhook server, real commands, an injected clock."""

from __future__ import annotations

import json
import socket
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from pydantic import TypeAdapter, ValidationError

from loomsight.camera.alarms import (
    AlarmConfig,
    AlarmEngine,
    AlarmOutput,
    CommandOutput,
    CriticalClassRule,
    DensityRule,
    WebhookOutput,
)
from loomsight.camera.calibration import FabricDefect
from loomsight.errors import ConfigError
from loomsight.schema import AlarmAction, AlarmFiring

NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
IDS = {"machine_id": "loom-7", "camera_id": "cam-1", "roll_id": "R-100"}


class FakeClock:
    def __init__(self) -> None:
        self.t_s = 0.0

    def __call__(self) -> float:
        return self.t_s


class RecordingServer(ThreadingHTTPServer):
    received: list[tuple[str, dict[str, str], bytes]]


class _Recorder(BaseHTTPRequestHandler):
    server: RecordingServer

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.received.append((self.path, dict(self.headers), body))
        self.send_response(500 if self.path == "/broken" else 204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def webhook_server() -> Iterator[RecordingServer]:
    server = RecordingServer(("127.0.0.1", 0), _Recorder)
    server.received = []
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client() as client:
        yield client


def _url(server: RecordingServer, path: str) -> str:
    return f"http://127.0.0.1:{server.server_port}{path}"


def _defect(position_m: float, class_name: str = "hole", confidence: float = 0.9) -> FabricDefect:
    return FabricDefect(
        position_m=position_m,
        across_mm=100.0,
        length_mm=5.0,
        width_mm=5.0,
        class_name=class_name,
        confidence=confidence,
        box_xyxy_px=(10.0, 10.0, 20.0, 20.0),
        frame_wh_px=(640, 480),
    )


def _observe(engine: AlarmEngine, *defects: FabricDefect) -> tuple[list[AlarmFiring], list[UUID]]:
    event_ids = [uuid4() for _ in defects]
    return engine.observe(list(defects), event_ids, **IDS), event_ids


def test_webhook_receives_the_firing_as_json(
    webhook_server: RecordingServer, http: httpx.Client, no_network: list[str]
) -> None:
    output = WebhookOutput(
        name="plc", url=_url(webhook_server, "/stop"), headers={"Authorization": "Bearer s3"}
    )
    rule = CriticalClassRule(classes=["hole"], min_confidence=0.5)
    engine = AlarmEngine([rule], [output], http, now=lambda: NOW)
    (firing,), (event_id,) = _observe(engine, _defect(12.5))
    assert (firing.rule, firing.action, firing.outputs) == ("critical_class:hole", "stop", ["plc"])
    assert (firing.machine_id, firing.camera_id, firing.roll_id) == ("loom-7", "cam-1", "R-100")
    assert firing.event_ids == [event_id]
    assert firing.fired_at == NOW
    ((path, headers, body),) = webhook_server.received
    assert path == "/stop"
    assert headers["Authorization"] == "Bearer s3"
    assert AlarmFiring.model_validate_json(body) == firing
    assert engine.signalled[("critical_class:hole", "plc")] == 1
    assert engine.failed.total() == 0
    assert no_network == []


def test_a_webhook_answering_an_error_is_counted(
    webhook_server: RecordingServer, http: httpx.Client
) -> None:
    output = WebhookOutput(name="plc", url=_url(webhook_server, "/broken"))
    engine = AlarmEngine([CriticalClassRule(name="holes", classes=["hole"])], [output], http)
    (firing,), _ = _observe(engine, _defect(1.0))
    assert firing.outputs == ["plc"]
    assert engine.failed[("holes", "plc")] == 1
    assert len(webhook_server.received) == 1


def test_a_dead_webhook_is_counted_and_does_not_raise(
    http: httpx.Client, no_network: list[str]
) -> None:
    with socket.socket() as probe:  # a port that was free a moment ago and is closed now
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    output = WebhookOutput(name="dead", url=f"http://127.0.0.1:{port}/stop", timeout_s=1.0)
    engine = AlarmEngine([CriticalClassRule(name="holes", classes=["hole"])], [output], http)
    firings, _ = _observe(engine, _defect(1.0))
    assert len(firings) == 1
    assert engine.failed[("holes", "dead")] == 1
    assert no_network == []


WRITE_STDIN = (
    "import json, os, pathlib, sys;"
    "folder = pathlib.Path(sys.argv[1]);"
    "(folder / 'stdin.json').write_bytes(sys.stdin.buffer.read());"
    "env = {k: v for k, v in os.environ.items() if k.startswith('LOOMSIGHT_')};"
    "(folder / 'env.json').write_text(json.dumps(env))"
)


def test_a_command_gets_the_firing_on_stdin_and_in_its_environment(tmp_path: Path) -> None:
    output = CommandOutput(name="siren", argv=[sys.executable, "-c", WRITE_STDIN, str(tmp_path)])
    rule = DensityRule(name="cluster", count=2, within_m=1.0)
    engine = AlarmEngine([rule], [output], now=lambda: NOW)
    assert _observe(engine, _defect(3.0))[0] == []
    (firing,), (event_id,) = _observe(engine, _defect(3.5, "stain"))
    assert firing.action == AlarmAction.WARNING
    assert len(firing.event_ids) == 2 and firing.event_ids[1] == event_id
    assert AlarmFiring.model_validate_json((tmp_path / "stdin.json").read_bytes()) == firing
    env = json.loads((tmp_path / "env.json").read_text())
    assert env["LOOMSIGHT_ALARM_ID"] == str(firing.alarm_id)
    assert env["LOOMSIGHT_ALARM_RULE"] == "cluster"
    assert env["LOOMSIGHT_ALARM_ACTION"] == "warning"
    assert env["LOOMSIGHT_ROLL_ID"] == "R-100"
    assert env["LOOMSIGHT_ALARM_EVENTS"] == "2"
    assert engine.failed.total() == 0


@pytest.mark.parametrize(
    ("argv", "timeout_s"),
    [
        ([sys.executable, "-c", "import sys; sys.exit(3)"], 5.0),
        ([sys.executable, "-c", "import time; time.sleep(30)"], 0.3),
        (["/nonexistent/loomsight-siren"], 5.0),
    ],
    ids=["exit-3", "timeout", "missing"],
)
def test_a_failing_command_is_counted_and_does_not_raise(argv: list[str], timeout_s: float) -> None:
    output = CommandOutput(name="siren", argv=argv, timeout_s=timeout_s)
    engine = AlarmEngine([CriticalClassRule(name="holes", classes=["hole"])], [output])
    firings, _ = _observe(engine, _defect(1.0))
    assert [f.outputs for f in firings] == [["siren"]]
    assert engine.failed[("holes", "siren")] == 1


def test_each_output_has_its_own_debounce(
    webhook_server: RecordingServer, http: httpx.Client
) -> None:
    slow = WebhookOutput(name="slow", url=_url(webhook_server, "/slow"), debounce_s=10.0)
    eager = WebhookOutput(name="eager", url=_url(webhook_server, "/eager"), debounce_s=0.0)
    clock = FakeClock()
    engine = AlarmEngine(
        [CriticalClassRule(name="holes", classes=["hole"])], [slow, eager], http, clock
    )
    signalled = []
    for t_s in (0.0, 5.0, 9.9, 10.0, 12.0):
        clock.t_s = t_s
        (firing,), _ = _observe(engine, _defect(t_s))
        signalled.append(firing.outputs)
    assert signalled == [["slow", "eager"], ["eager"], ["eager"], ["slow", "eager"], ["eager"]]
    assert [path for path, _, _ in webhook_server.received].count("/slow") == 2
    assert engine.signalled[("holes", "slow")] == 2
    assert engine.debounced[("holes", "slow")] == 3
    assert engine.fired["holes"] == 5


def test_no_firing_while_every_output_is_debounced(
    webhook_server: RecordingServer, http: httpx.Client
) -> None:
    output = WebhookOutput(name="plc", url=_url(webhook_server, "/stop"), debounce_s=30.0)
    clock = FakeClock()
    rules: list[CriticalClassRule | DensityRule] = [
        CriticalClassRule(name="holes", classes=["hole"]),
        DensityRule(count=9, within_m=1),
    ]
    engine = AlarmEngine(rules, [output], http, clock)
    assert len(_observe(engine, _defect(1.0))[0]) == 1
    clock.t_s = 29.0
    assert _observe(engine, _defect(2.0))[0] == []
    clock.t_s = 30.0
    assert len(_observe(engine, _defect(3.0))[0]) == 1
    assert engine.fired["holes"] == 2
    assert engine.debounced[("holes", "plc")] == 1


def test_a_rule_signals_only_the_outputs_it_names(
    webhook_server: RecordingServer, http: httpx.Client
) -> None:
    outputs = [WebhookOutput(name=n, url=_url(webhook_server, f"/{n}")) for n in ("a", "b")]
    rule = CriticalClassRule(classes=["knot"], outputs=["b"])
    engine = AlarmEngine([rule], outputs, http)
    (firing,), _ = _observe(engine, _defect(1.0, "knot"))
    assert firing.outputs == ["b"]
    assert [path for path, _, _ in webhook_server.received] == ["/b"]


@pytest.mark.parametrize(
    ("rule", "defects", "fires"),
    [
        (CriticalClassRule(classes=["hole"], min_confidence=0.5), [("hole", 0.5)], True),
        (CriticalClassRule(classes=["hole"], min_confidence=0.5), [("hole", 0.49)], False),
        (CriticalClassRule(classes=["hole", "knot"]), [("stain", 1.0), ("knot", 0.1)], True),
        (CriticalClassRule(classes=["hole"]), [("stain", 1.0)], False),
    ],
)
def test_critical_class_rule(
    rule: CriticalClassRule, defects: list[tuple[str, float]], fires: bool
) -> None:
    engine = AlarmEngine([rule], [])
    firings, _ = _observe(engine, *(_defect(1.0, c, p) for c, p in defects))
    assert len(firings) == fires


def test_critical_defects_of_one_frame_make_one_firing() -> None:
    engine = AlarmEngine([CriticalClassRule(classes=["hole"])], [])
    (firing,), event_ids = _observe(engine, _defect(2.0), _defect(1.0, "stain"), _defect(1.5))
    assert firing.event_ids == [event_ids[2], event_ids[0]]  # along the roll


@pytest.mark.parametrize(
    ("positions_m", "fired_at"),
    [
        # count=3 within_m=1.0; each defect comes in its own frame; fired_at: which ones fire
        ([0.0, 0.5, 1.0], [2]),  # the span is exactly 1 m
        ([0.0, 0.5, 1.01], []),
        ([0.0, 0.6, 1.2, 1.5], [3]),  # 0.6, 1.2, 1.5
        ([0.0, 0.1, 0.2, 0.3, 0.4, 0.5], [2, 5]),  # counting starts afresh after a firing
        ([5.0, 4.6, 4.2], [2]),  # in any order along the roll
        ([10.0, 10.5, 0.0, 0.2, 0.4], [4]),  # a jump back (a new roll): the old ones drop out
    ],
)
def test_density_window(positions_m: list[float], fired_at: list[int]) -> None:
    engine = AlarmEngine([DensityRule(count=3, within_m=1.0)], [])
    fired = [k for k, p in enumerate(positions_m) if _observe(engine, _defect(p))[0]]
    assert fired == fired_at


def test_density_counts_only_its_classes_and_confidence() -> None:
    rule = DensityRule(count=2, within_m=1.0, classes=["slub"], min_confidence=0.5)
    engine = AlarmEngine([rule], [])
    assert _observe(engine, _defect(0.0, "slub"), _defect(0.1, "hole"))[0] == []
    assert _observe(engine, _defect(0.2, "slub", 0.3))[0] == []
    (firing,), (event_id,) = _observe(engine, _defect(0.3, "slub"))
    assert len(firing.event_ids) == 2 and firing.event_ids[1] == event_id
    assert firing.rule == "density:2 in 1 m of slub"


def test_a_new_roll_empties_the_density_window() -> None:
    engine = AlarmEngine([DensityRule(count=2, within_m=1.0)], [])
    engine.observe([_defect(0.5)], [uuid4()], "loom-7", "cam-1", "R-1")
    assert engine.observe([_defect(0.6)], [uuid4()], "loom-7", "cam-1", "R-2") == []
    assert len(engine.observe([_defect(0.7)], [uuid4()], "loom-7", "cam-1", "R-2")) == 1


def test_config_chooses_kinds_by_type() -> None:
    config = AlarmConfig.model_validate(
        {
            "rules": [
                {"type": "critical_class", "classes": ["hole"], "action": "stop"},
                {"type": "density", "count": 5, "within_m": 10, "outputs": ["plc"]},
            ],
            "outputs": [
                {"type": "webhook", "name": "plc", "url": "http://10.0.0.5/stop"},
                {"type": "command", "argv": ["/usr/bin/logger", "alarm"], "debounce_s": 0},
            ],
        }
    )
    assert [type(rule) for rule in config.rules] == [CriticalClassRule, DensityRule]
    assert [output.label for output in config.outputs] == ["plc", "command:/usr/bin/logger"]
    with pytest.raises(ValidationError, match="does not match any of the expected tags"):
        TypeAdapter(AlarmOutput).validate_python({"type": "email", "to": "qa@example.com"})


@pytest.mark.parametrize(
    ("rules", "outputs", "message"),
    [
        (
            [CriticalClassRule(classes=["hole"]), CriticalClassRule(classes=["hole"])],
            [],
            "rule names must be unique",
        ),
        (
            [],
            [CommandOutput(argv=["/bin/true"]), CommandOutput(argv=["/bin/true", "x"])],
            "output names must be unique",
        ),
        ([DensityRule(count=2, within_m=1, outputs=["plc"])], [], "names outputs \\['plc'\\]"),
    ],
)
def test_engine_refuses_configs_whose_names_do_not_resolve(
    rules: list[CriticalClassRule | DensityRule],
    outputs: list[WebhookOutput | CommandOutput],
    message: str,
) -> None:
    with pytest.raises(ConfigError, match=message):
        AlarmEngine(rules, outputs)


def test_engine_needs_a_client_for_webhooks_and_an_id_per_defect() -> None:
    with pytest.raises(ValueError, match="need an HTTP client"):
        AlarmEngine([], [WebhookOutput(url="http://127.0.0.1:9/stop")])
    engine = AlarmEngine([CriticalClassRule(classes=["hole"])], [])
    with pytest.raises(ValueError, match="one event id per defect, got 0 ids for 1 defects"):
        engine.observe([_defect(1.0)], [], **IDS)
