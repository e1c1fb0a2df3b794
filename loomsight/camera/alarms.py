"""Alarm rules over the reported defects, signalled through pluggable outputs (machine stops).

Rules (`type`): `critical_class` fires on any defect of the listed classes at or above a
confidence; `density` fires when `count` defects lie within `within_m` metres along the roll (the
defects that fired it are then used up). Outputs (`type`): `webhook` POSTs the firing as JSON;
`command` runs a program (no shell) with the firing as JSON on stdin and in LOOMSIGHT_* variables.
Each output has a debounce: a rule signals it at most once per `debounce_s`. A firing is made when
a rule signals at least one output (or has none: then it is only recorded); it lists the outputs
signalled and is for the agent to put into the outbox. Output failures are logged and counted,
never raised: the inspection goes on.
"""

from __future__ import annotations

import logging
import os
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Annotated, Literal
from uuid import UUID, uuid4

import httpx
from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, ValidationError, model_validator

from loomsight.camera.calibration import FabricDefect
from loomsight.errors import ConfigError
from loomsight.schema import MAX_EVENTS_PER_BATCH, AlarmAction, AlarmFiring, Positive

logger = logging.getLogger(__name__)

Name = Annotated[str, Field(min_length=1, max_length=200)]
MAX_OUTPUTS = 20  # AlarmFiring.outputs holds at most this many


class CriticalClassRule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["critical_class"] = "critical_class"
    name: Name | None = None
    classes: list[str] = Field(min_length=1)
    min_confidence: float = Field(0.0, ge=0.0, le=1.0)
    action: AlarmAction = AlarmAction.STOP
    outputs: list[str] | None = Field(None, description="Output names; None: all outputs.")

    @property
    def label(self) -> str:
        return self.name or f"critical_class:{','.join(self.classes)}"[:200]


class DensityRule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["density"] = "density"
    name: Name | None = None
    count: int = Field(ge=1, description="N defects ...")
    within_m: Positive = Field(description="... within M metres along the roll.")
    classes: list[str] | None = Field(None, description="Only these classes count; None: all.")
    min_confidence: float = Field(0.0, ge=0.0, le=1.0)
    action: AlarmAction = AlarmAction.WARNING
    outputs: list[str] | None = Field(None, description="Output names; None: all outputs.")

    @property
    def label(self) -> str:
        of = f" of {','.join(self.classes)}" if self.classes else ""
        return self.name or f"density:{self.count} in {self.within_m:g} m{of}"[:200]


class WebhookOutput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["webhook"] = "webhook"
    name: Name | None = None
    url: AnyHttpUrl
    headers: dict[str, str] = Field(default_factory=dict)
    timeout_s: Positive = 2.0
    debounce_s: float = Field(10.0, ge=0.0)

    @property
    def label(self) -> str:
        return self.name or f"webhook:{self.url}"[:200]


class CommandOutput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["command"] = "command"
    name: Name | None = None
    argv: list[Annotated[str, Field(min_length=1)]] = Field(min_length=1)
    timeout_s: Positive = 5.0
    debounce_s: float = Field(10.0, ge=0.0)

    @property
    def label(self) -> str:
        return self.name or f"command:{self.argv[0]}"[:200]


AlarmRule = Annotated[CriticalClassRule | DensityRule, Field(discriminator="type")]
AlarmOutput = Annotated[WebhookOutput | CommandOutput, Field(discriminator="type")]


class AlarmConfig(BaseModel):
    """Rules and outputs; names unique, and every output a rule names exists."""

    model_config = ConfigDict(extra="forbid")

    rules: list[AlarmRule] = Field(default_factory=list)
    outputs: list[AlarmOutput] = Field(default_factory=list, max_length=MAX_OUTPUTS)

    @model_validator(mode="after")
    def _names_resolve(self) -> AlarmConfig:
        for kind, labels in (
            ("rule", [rule.label for rule in self.rules]),
            ("output", [output.label for output in self.outputs]),
        ):
            twice = sorted(label for label, n in Counter(labels).items() if n > 1)
            if twice:
                raise ValueError(f"{kind} names must be unique; given more than once: {twice}")
        known = {output.label for output in self.outputs}
        for rule in self.rules:
            unknown = sorted(set(rule.outputs or ()) - known)
            if unknown:
                raise ValueError(
                    f"rule {rule.label!r} names outputs {unknown}; expected one of {sorted(known)}"
                )
        return self


def _firing_env(firing: AlarmFiring) -> dict[str, str]:
    return {
        "LOOMSIGHT_ALARM_ID": str(firing.alarm_id),
        "LOOMSIGHT_ALARM_RULE": firing.rule,
        "LOOMSIGHT_ALARM_ACTION": firing.action.value,
        "LOOMSIGHT_ALARM_FIRED_AT": firing.fired_at.isoformat(),
        "LOOMSIGHT_MACHINE_ID": firing.machine_id,
        "LOOMSIGHT_CAMERA_ID": firing.camera_id,
        "LOOMSIGHT_ROLL_ID": firing.roll_id or "",
        "LOOMSIGHT_ALARM_EVENTS": str(len(firing.event_ids)),
    }


class AlarmEngine:
    """Checks the rules against each frame's new defects and signals the outputs."""

    def __init__(
        self,
        rules: Sequence[CriticalClassRule | DensityRule],
        outputs: Sequence[WebhookOutput | CommandOutput],
        http: httpx.Client | None = None,
        monotonic_s: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        try:
            config = AlarmConfig(rules=list(rules), outputs=list(outputs))
        except ValidationError as error:
            raise ConfigError(f"alarm configuration: {error}") from None
        if http is None and any(isinstance(o, WebhookOutput) for o in config.outputs):
            raise ValueError("webhook outputs need an HTTP client (http=httpx.Client())")
        self.rules: list[CriticalClassRule | DensityRule] = list(config.rules)
        self.outputs: list[WebhookOutput | CommandOutput] = list(config.outputs)
        self._http = http
        self._monotonic_s = monotonic_s
        self._now = now
        self._windows: dict[str, list[tuple[float, UUID]]] = {r.label: [] for r in self.rules}
        self._roll_id: str | None = None
        self._last_signal_s: dict[tuple[str, str], float] = {}
        self.fired: Counter[str] = Counter()  # firings made, per rule
        self.signalled: Counter[tuple[str, str]] = Counter()  # per (rule, output)
        self.failed: Counter[tuple[str, str]] = Counter()
        self.debounced: Counter[tuple[str, str]] = Counter()

    def observe(
        self,
        defects: Sequence[FabricDefect],
        event_ids: Sequence[UUID],
        machine_id: str,
        camera_id: str,
        roll_id: str | None,
    ) -> list[AlarmFiring]:
        """The firings that these new defects (with the ids of their events) cause."""
        if len(defects) != len(event_ids):
            raise ValueError(
                f"expected one event id per defect, got {len(event_ids)} ids for "
                f"{len(defects)} defects"
            )
        if roll_id != self._roll_id:
            self._roll_id = roll_id
            for window in self._windows.values():
                window.clear()
        ordered = sorted(zip(defects, event_ids, strict=True), key=lambda pair: pair[0].position_m)
        firings = []
        for rule in self.rules:
            triggering = self._check(rule, ordered)
            if triggering:
                firing = self._fire(rule, triggering, machine_id, camera_id, roll_id)
                if firing is not None:
                    firings.append(firing)
        return firings

    def _check(
        self, rule: CriticalClassRule | DensityRule, ordered: list[tuple[FabricDefect, UUID]]
    ) -> list[UUID]:
        """The event ids that make `rule` fire now (none: it does not)."""
        qualifying = [
            (defect, event_id)
            for defect, event_id in ordered
            if defect.confidence >= rule.min_confidence
            and (rule.classes is None or defect.class_name in rule.classes)
        ]
        if isinstance(rule, CriticalClassRule):
            return [event_id for _, event_id in qualifying]
        window = self._windows[rule.label]
        triggering: list[UUID] = []
        for defect, event_id in qualifying:
            here_m = defect.position_m
            window = [(p, e) for p, e in window if abs(p - here_m) <= rule.within_m]
            window = sorted([*window, (here_m, event_id)], key=lambda pair: pair[0])
            for first in range(len(window) - rule.count + 1):
                last = first + rule.count - 1
                if window[last][0] - window[first][0] <= rule.within_m:
                    triggering += [e for _, e in window[first : last + 1]]
                    window = []  # counting starts afresh
                    break
        self._windows[rule.label] = window
        return triggering

    def _fire(
        self,
        rule: CriticalClassRule | DensityRule,
        event_ids: list[UUID],
        machine_id: str,
        camera_id: str,
        roll_id: str | None,
    ) -> AlarmFiring | None:
        outputs = [o for o in self.outputs if rule.outputs is None or o.label in rule.outputs]
        now_s = self._monotonic_s()
        due = []
        for output in outputs:
            key = (rule.label, output.label)
            last_s = self._last_signal_s.get(key)
            if last_s is not None and now_s - last_s < output.debounce_s:
                self.debounced[key] += 1
            else:
                due.append(output)
        if outputs and not due:
            return None
        firing = AlarmFiring(
            alarm_id=uuid4(),
            fired_at=self._now(),
            machine_id=machine_id,
            camera_id=camera_id,
            roll_id=roll_id,
            rule=rule.label,
            action=rule.action,
            outputs=[output.label for output in due],
            event_ids=event_ids[:MAX_EVENTS_PER_BATCH],
        )
        self.fired[rule.label] += 1
        logger.info("alarm %s (%s) fired by %d defects", rule.label, rule.action, len(event_ids))
        for output in due:
            key = (rule.label, output.label)
            self._last_signal_s[key] = now_s
            self.signalled[key] += 1
            problem = self._signal(output, firing)
            if problem is not None:
                self.failed[key] += 1
                logger.warning(
                    "alarm output %s failed for %s: %s", output.label, rule.label, problem
                )
        return firing

    def _signal(self, output: WebhookOutput | CommandOutput, firing: AlarmFiring) -> str | None:
        """Signal one output; what went wrong, or None."""
        body = firing.model_dump_json()
        if isinstance(output, WebhookOutput):
            assert self._http is not None  # checked at construction
            try:
                response = self._http.post(
                    str(output.url),
                    content=body,
                    headers={"content-type": "application/json", **output.headers},
                    timeout=output.timeout_s,
                )
            except httpx.HTTPError as error:
                return f"{type(error).__name__}: {error}"
            if not response.is_success:
                return f"HTTP {response.status_code} (expected 2xx)"
            return None
        try:
            done = subprocess.run(
                output.argv,
                input=body.encode(),
                env={**os.environ, **_firing_env(firing)},
                capture_output=True,
                timeout=output.timeout_s,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return f"still running after {output.timeout_s:g} s (killed)"
        except OSError as error:
            return f"cannot run {output.argv[0]!r}: {error}"
        if done.returncode != 0:
            tail = done.stderr.decode(errors="replace").strip()[-300:]
            return f"exit status {done.returncode} (expected 0): {tail}"
        return None
