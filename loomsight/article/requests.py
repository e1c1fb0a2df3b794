"""Calibrations a QA engineer asked for through the API or the machine page: the worker on the
machine's edge PC (`loomsight calibrate --pending`) claims the oldest pending one of its machine,
runs it, and reports how it went (the scores, the model, or why it failed)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import httpx

from loomsight.article.publish import refusal
from loomsight.errors import ConfigError

CLAIM_PATH = "/api/v1/calibrations/claim"


@dataclass(frozen=True)
class CalibrationRequest:
    request_id: str
    machine_id: str
    article: str
    length_m: float


def finite(value: Any) -> Any:
    """VALUE (JSON-like) with NaN and infinite numbers as None: JSON has no such numbers."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [finite(item) for item in value]
    return value


def claim_request(client: httpx.Client, machine_id: str) -> CalibrationRequest | None:
    """The oldest pending calibration of MACHINE_ID, now marked running; None if none waits."""
    try:
        response = client.post(CLAIM_PATH, json={"machine_id": machine_id})
    except httpx.HTTPError as error:
        raise ConfigError(f"could not reach the API at {client.base_url}: {error}") from None
    if response.status_code == 204:
        return None
    if response.status_code != 200:
        raise refusal(response, f"claim a calibration of {machine_id}")
    body = response.json()
    return CalibrationRequest(
        str(body["id"]), str(body["machine_id"]), str(body["article"]), float(body["length_m"])
    )


def report_result(
    client: httpx.Client,
    request: CalibrationRequest,
    *,
    failed: bool,
    message: str,
    model_version: str | None = None,
    result: dict[str, Any] | None = None,
) -> None:
    """Tell the API how REQUEST ended."""
    body = {
        "status": "failed" if failed else "done",
        "model_version": model_version,
        "result": finite(result),
        "message": message[:2000],
    }
    try:
        response = client.put(f"/api/v1/calibrations/{request.request_id}/result", json=body)
    except httpx.HTTPError as error:
        raise ConfigError(f"could not reach the API at {client.base_url}: {error}") from None
    if response.status_code != 200:
        raise refusal(response, f"report calibration {request.request_id}")
