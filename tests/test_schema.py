from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from loomsight.schema import DefectEvent, Heartbeat, IngestBatch

NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


def _event(**changes: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "event_id": str(uuid.uuid4()),
        "detected_at": NOW.isoformat(),
        "machine_id": "loom-7",
        "camera_id": "loom-7-cam-1",
        "roll_id": "R2026-0042",
        "position_m": 12.5,
        "across_mm": 830.0,
        "length_mm": 14.0,
        "width_mm": 3.0,
        "class_name": "broken_pick",
        "confidence": 0.81,
        "box_xyxy_px": [100, 40, 128, 46],
        "frame_wh_px": [1024, 512],
        "model_version": "default@20261126T102045Z",
        "crop_sha256": "ab" * 32,
    }
    event.update(changes)
    return event


def test_an_event_round_trips_through_json() -> None:
    event = DefectEvent.model_validate(_event())
    assert DefectEvent.model_validate_json(event.model_dump_json()) == event


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"detected_at": "2026-11-26T10:00:00"}, "time zone"),
        ({"confidence": 1.5}, "less than or equal to 1"),
        ({"box_xyxy_px": [50, 40, 20, 46]}, "empty or outside"),
        ({"box_xyxy_px": [10, 10, 2000, 46]}, "empty or outside"),
        ({"position_m": float("nan")}, "finite"),
        ({"machine_id": "../etc"}, "pattern"),
        ({"crop_sha256": "XYZ"}, "pattern"),
        ({"colour": "red"}, "Extra inputs"),
        ({"length_mm": 0}, "greater than 0"),
    ],
)
def test_bad_events_are_refused_with_the_reason(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        DefectEvent.model_validate(_event(**changes))


def test_heartbeat_period_must_be_in_order() -> None:
    fields: dict[str, Any] = {
        "heartbeat_id": uuid.uuid4(),
        "machine_id": "loom-7",
        "camera_id": "cam",
        "period_start": NOW,
        "period_end": NOW - timedelta(seconds=1),
        "frames_processed": 10,
        "frames_skipped": 0,
        "inspected_m": 1.0,
        "inspected_m2": 1.6,
        "skipped_m": 0.0,
        "skipped_m2": 0.0,
        "fps": 5.0,
        "inference_ms": 30.0,
        "outbox_depth": 0,
    }
    with pytest.raises(ValidationError, match="before period_start"):
        Heartbeat.model_validate(fields)
    fields["period_end"] = NOW + timedelta(seconds=10)
    assert Heartbeat.model_validate(fields).inspected_m == 1.0


def test_batch_refuses_another_schema_version_and_too_many_events() -> None:
    with pytest.raises(ValidationError, match="schema_version"):
        IngestBatch.model_validate({"schema_version": 2})
    with pytest.raises(ValidationError, match="at most 1000"):
        IngestBatch.model_validate({"events": [_event() for _ in range(1001)]})
    assert IngestBatch.model_validate({"events": [_event()]}).schema_version == 1
