"""QA review of detections: the queue of unreviewed ones, a verdict per detection, counts.

A verdict is `confirmed`, `false_alarm` or `relabelled` (another class and/or a corrected box in
frame pixels); it names who gave it and when. A later verdict replaces the earlier one (last one
wins; each change is logged with the verdict it replaced). The queue is paged by a cursor (keyset),
so reviewing items between pages neither skips nor repeats any.
"""

from __future__ import annotations

import base64
import binascii
import logging
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from loomsight.api.clock import Clock
from loomsight.api.errors import InvalidInputError, NotFoundError
from loomsight.api.review_models import (
    QueueOrder,
    QueueQuery,
    Relabel,
    ReviewCounts,
    ReviewFilters,
    ReviewItem,
    ReviewPage,
    ReviewSummary,
    VerdictIn,
    fits_utc,
)
from loomsight.api.tables import Event, Image
from loomsight.schema import IMAGE_PATH

logger = logging.getLogger(__name__)


def _order_column(order: QueueOrder) -> InstrumentedAttribute[Any]:
    return Event.detected_at if order is QueueOrder.OLDEST else Event.confidence


def encode_cursor(order: QueueOrder, event: Event) -> str:
    key = event.detected_at.isoformat() if order is QueueOrder.OLDEST else repr(event.confidence)
    text = f"{order.value}~{key}~{event.event_id}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(order: QueueOrder, cursor: str) -> tuple[datetime | float, uuid.UUID]:
    """The (key, event_id) after which the next page starts; InvalidInputError if CURSOR is not
    one this API gave for ORDER."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        cursor_order, key, event_id = text.split("~")
        if cursor_order != order.value:
            raise ValueError(cursor_order)
        value: datetime | float = (
            datetime.fromisoformat(key) if order is QueueOrder.OLDEST else float(key)
        )
        if isinstance(value, datetime) and (value.tzinfo is None or not fits_utc(value)):
            raise ValueError(key)
        return value, uuid.UUID(event_id)
    except (ValueError, UnicodeDecodeError, binascii.Error):
        raise InvalidInputError(
            f"after: expected a cursor that this API gave as next_after for order={order.value}, "
            f"got {cursor[:80]!r}; start again without it"
        ) from None


def filter_conditions(filters: ReviewFilters) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if filters.machine:
        conditions.append(Event.machine_id.in_(filters.machine))
    if filters.class_name:
        conditions.append(Event.class_name.in_(filters.class_name))
    if filters.min_confidence > 0:
        conditions.append(Event.confidence >= filters.min_confidence)
    if filters.max_confidence < 1:
        conditions.append(Event.confidence <= filters.max_confidence)
    if filters.since is not None:
        conditions.append(Event.detected_at >= filters.since)
    if filters.until is not None:
        conditions.append(Event.detected_at < filters.until)
    return conditions


def _image_url(sha256: str | None, held: set[str]) -> str | None:
    return IMAGE_PATH.format(sha256=sha256) if sha256 is not None and sha256 in held else None


def _corrected_box(event: Event) -> tuple[float, float, float, float] | None:
    box = (
        event.corrected_x1_px,
        event.corrected_y1_px,
        event.corrected_x2_px,
        event.corrected_y2_px,
    )
    if box[0] is None or box[1] is None or box[2] is None or box[3] is None:
        return None
    return box[0], box[1], box[2], box[3]


def _item(event: Event, held: set[str]) -> ReviewItem:
    return ReviewItem(
        event_id=event.event_id,
        detected_at=event.detected_at,
        received_at=event.received_at,
        machine_id=event.machine_id,
        camera_id=event.camera_id,
        roll_id=event.roll_id,
        position_m=event.position_m,
        across_mm=event.across_mm,
        length_mm=event.length_mm,
        width_mm=event.width_mm,
        class_name=event.class_name,
        confidence=event.confidence,
        box_xyxy_px=(event.box_x1_px, event.box_y1_px, event.box_x2_px, event.box_y2_px),
        frame_wh_px=(event.frame_w_px, event.frame_h_px),
        model_version=event.model_version,
        crop_sha256=event.crop_sha256,
        frame_sha256=event.frame_sha256,
        crop_url=_image_url(event.crop_sha256, held),
        frame_url=_image_url(event.frame_sha256, held),
        verdict=event.verdict,
        corrected_class=event.corrected_class,
        corrected_box_xyxy_px=_corrected_box(event),
        reviewed_by=event.reviewed_by,
        reviewed_at=event.reviewed_at,
    )


def check_box_in_frame(
    box: tuple[float, float, float, float], frame_wh_px: tuple[int, int]
) -> None:
    x1, y1, x2, y2 = box
    width, height = frame_wh_px
    if not (0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height):
        raise InvalidInputError(
            f"box_xyxy_px {list(box)} must lie inside the {width}x{height} px frame "
            f"(0 <= x1 < x2 <= {width}, 0 <= y1 < y2 <= {height})"
        )


class ReviewService:
    def __init__(self, session: Session, clock: Clock) -> None:
        self.session = session
        self.clock = clock

    def _items(self, events: Sequence[Event]) -> list[ReviewItem]:
        named = {sha for e in events for sha in (e.crop_sha256, e.frame_sha256) if sha}
        held = (
            set(self.session.scalars(select(Image.sha256).where(Image.sha256.in_(named))))
            if named
            else set()
        )
        return [_item(event, held) for event in events]

    def queue(self, page: QueueQuery) -> ReviewPage:
        """Up to LIMIT unreviewed detections matching the filters in ORDER, after AFTER."""
        order, limit = page.order, page.limit
        column = _order_column(order)
        query = select(Event).where(Event.verdict.is_(None), *filter_conditions(page))
        if page.after is not None:
            key, event_id = decode_cursor(order, page.after)
            query = query.where(or_(column > key, and_(column == key, Event.event_id > event_id)))
        events = list(self.session.scalars(query.order_by(column, Event.event_id).limit(limit + 1)))
        more = len(events) > limit
        events = events[:limit]
        return ReviewPage(
            items=self._items(events),
            next_after=encode_cursor(order, events[-1]) if more else None,
        )

    def summary(self, filters: ReviewFilters) -> ReviewSummary:
        """Detections matching FILTERS counted by verdict, overall and per class."""
        rows = self.session.execute(
            select(Event.class_name, Event.verdict, func.count())
            .where(*filter_conditions(filters))
            .group_by(Event.class_name, Event.verdict)
        )
        overall = ReviewCounts()
        by_class: dict[str, ReviewCounts] = {}
        for class_name, verdict, count in rows:
            for counts in (overall, by_class.setdefault(class_name, ReviewCounts())):
                counts.add(verdict, count)
        return ReviewSummary(overall=overall, by_class=dict(sorted(by_class.items())))

    def _event(self, event_id: uuid.UUID, for_update: bool = False) -> Event:
        event = self.session.get(Event, event_id, with_for_update=for_update)
        if event is None:
            raise NotFoundError(f"no detection {event_id}")
        return event

    def get(self, event_id: uuid.UUID) -> ReviewItem:
        return self._items([self._event(event_id)])[0]

    def set_verdict(self, event_id: uuid.UUID, verdict: VerdictIn, username: str) -> ReviewItem:
        """Record USERNAME's VERDICT on the detection now, replacing any earlier one."""
        event = self._event(event_id, for_update=True)
        corrected_class, corrected_box = None, None
        if isinstance(verdict, Relabel):
            frame_wh_px = (event.frame_w_px, event.frame_h_px)
            original = (event.box_x1_px, event.box_y1_px, event.box_x2_px, event.box_y2_px)
            if verdict.box_xyxy_px is not None:
                check_box_in_frame(verdict.box_xyxy_px, frame_wh_px)
            if verdict.class_name != event.class_name:
                corrected_class = verdict.class_name
            if verdict.box_xyxy_px != original:
                corrected_box = verdict.box_xyxy_px
            if corrected_class is None and corrected_box is None:
                raise InvalidInputError(
                    f"a relabelling must change the class ({event.class_name!r}) or the box "
                    f"({list(original)}); to accept the detection as it is, send confirmed"
                )
        previous = event.verdict
        event.verdict = verdict.verdict
        event.corrected_class = corrected_class
        x1, y1, x2, y2 = corrected_box or (None, None, None, None)
        event.corrected_x1_px, event.corrected_y1_px = x1, y1
        event.corrected_x2_px, event.corrected_y2_px = x2, y2
        event.reviewed_by = username
        event.reviewed_at = self.clock()
        self.session.commit()
        logger.info(
            "detection %s: %s -> %s by %s",
            event_id,
            previous or "unreviewed",
            verdict.verdict,
            username,
            extra={"event_id": str(event_id), "verdict": verdict.verdict, "reviewer": username},
        )
        return self.get(event_id)

    def clear_verdict(self, event_id: uuid.UUID, username: str) -> ReviewItem:
        """Take the verdict back: the detection is unreviewed again (back in the queue)."""
        event = self._event(event_id, for_update=True)
        previous = event.verdict
        event.verdict = event.corrected_class = None
        event.corrected_x1_px = event.corrected_y1_px = None
        event.corrected_x2_px = event.corrected_y2_px = None
        event.reviewed_by = event.reviewed_at = None
        self.session.commit()
        logger.info("detection %s: %s taken back by %s", event_id, previous, username)
        return self.get(event_id)
