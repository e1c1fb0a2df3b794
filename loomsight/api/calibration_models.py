"""Request and response models of calibration requests: a QA engineer asks for a machine's model
to be calibrated for a new fabric article; the calibration worker on the machine's edge PC claims
the request and reports how it went."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from loomsight.api.schemas import Text
from loomsight.schema import Identifier

CalibrationStatus = Literal["pending", "running", "done", "failed"]
MAX_LISTED_CALIBRATIONS = 50
MAX_MESSAGE_CHARS = 4000
DEFAULT_LENGTH_M = 30.0


def _storable_json(value: Any, where: str = "result") -> None:
    """Raise ValueError for what the databases or a JSON answer cannot hold: NaN or infinite
    numbers (not JSON) and NUL characters (PostgreSQL refuses them)."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{where} must hold finite numbers only, got {value}")
    if isinstance(value, str) and "\x00" in value:
        raise ValueError(f"{where} must not contain NUL characters")
    if isinstance(value, dict):
        for key, item in value.items():
            _storable_json(key, f"{where} (a key)")
            _storable_json(item, f"{where}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _storable_json(item, f"{where}[{index}]")


def _json_document(value: dict[str, Any]) -> dict[str, Any]:
    _storable_json(value)
    return value


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("text must not contain NUL characters")
    return value


JsonDocument = Annotated[dict[str, Any], AfterValidator(_json_document)]
Message = Annotated[str, Field(max_length=MAX_MESSAGE_CHARS), AfterValidator(_no_nul)]


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CalibrationIn(_Input):
    """A calibration of the machine's model for a new article."""

    article: Text = Field(description="The fabric article, as the machine's `article` names it.")
    length_m: float = Field(
        DEFAULT_LENGTH_M,
        gt=0,
        le=1000,
        allow_inf_nan=False,
        description="Metres of defect-free cloth of the article to collect from the camera.",
    )


class ClaimIn(_Input):
    machine_id: Identifier = Field(description="The machine the worker calibrates for.")


class CalibrationResultIn(_Input):
    """How a claimed (running) calibration ended."""

    status: Literal["done", "failed"]
    model_version: Identifier | None = Field(None, description="The calibrated model's version.")
    result: JsonDocument | None = Field(
        None,
        description="What the calibration measured, as the worker reports it: e.g. `before` and "
        "`after` scores (`false_alarm_rate`, `detection_at_fixed_fa`, ...), `beats`, "
        "`registered`.",
    )
    message: Message | None = Field(None, description="A line for people, e.g. why it failed.")


class CalibrationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    machine_id: str
    article: str
    length_m: float
    status: CalibrationStatus
    requested_by: str
    requested_at: datetime
    started_at: datetime | None = Field(description="When a worker claimed it.")
    finished_at: datetime | None = Field(description="When the worker reported its result.")
    model_version: str | None
    result: dict[str, Any] | None
    message: str | None


def _number(document: Any, *keys: str) -> float | None:
    for key in keys:
        if not isinstance(document, dict):
            return None
        document = document.get(key)
    is_number = isinstance(document, int | float) and not isinstance(document, bool)
    return float(document) if is_number else None


def _flag(document: dict[str, Any], key: str) -> bool | None:
    value = document.get(key)
    return value if isinstance(value, bool) else None


@dataclass(frozen=True)
class CalibrationFigures:
    """The figures the machine page shows of a calibration's result; None where the worker
    reported none (rates are shares, 0 to 1)."""

    false_alarm_before: float | None
    false_alarm_after: float | None
    detection_before: float | None  # found at the fixed false-alarm rate
    detection_after: float | None
    beats: bool | None
    registered: bool | None

    @classmethod
    def of(cls, result: dict[str, Any] | None) -> CalibrationFigures | None:
        if not result:
            return None
        return cls(
            false_alarm_before=_number(result, "before", "false_alarm_rate"),
            false_alarm_after=_number(result, "after", "false_alarm_rate"),
            detection_before=_number(result, "before", "detection_at_fixed_fa"),
            detection_after=_number(result, "after", "detection_at_fixed_fa"),
            beats=_flag(result, "beats"),
            registered=_flag(result, "registered"),
        )
