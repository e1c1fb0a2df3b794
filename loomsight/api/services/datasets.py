"""Reviewed detections as a YOLO dataset, streamed as a zip.

One image per stored full frame (by sha256; several detections may share a frame); its labels are
the confirmed and relabelled detections on it (the corrected class and box where relabelled),
scaled from the frame's pixels (`frame_wh_px`) to the stored, downscaled frame image. False alarms
give no box. A frame is exported only when every detection on it has a verdict: an unreviewed
defect would otherwise teach the model that it is background.

Zip layout: `data.yaml` (train/val: images, names), `images/SHA.jpg`, `labels/SHA.txt`, and last
`export.json` (the query, counts, what was left out and why, and each image's detections).
"""

from __future__ import annotations

import json
import logging
import uuid
import zipfile
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeAlias

import cv2
import numpy as np
import yaml
from sqlalchemy import ColumnElement, Row, func, select
from sqlalchemy.orm import Session

from loomsight.api.clock import Clock
from loomsight.api.errors import NotFoundError
from loomsight.api.review_models import ExportQuery
from loomsight.api.services.models import ModelService
from loomsight.api.storage import BlobKind, BlobStore
from loomsight.api.tables import Event, Image
from loomsight.datasets.labels import ImageLabels
from loomsight.inference.model_card import ModelCard

logger = logging.getLogger(__name__)

LABELLED = ("confirmed", "relabelled")
SUFFIXES = {"image/jpeg": ".jpg", "image/png": ".png"}
ASPECT_TOLERANCE_PX = 1.0  # the camera rounds the downscaled frame's height to whole pixels
MANIFEST = "export.json"


@dataclass(frozen=True)
class LabelBox:
    event_id: uuid.UUID
    class_name: str
    box_xyxy_px: tuple[float, float, float, float]  # in the frame's pixels
    frame_wh_px: tuple[int, int]


@dataclass(frozen=True)
class FramePlan:
    sha256: str
    content_type: str
    machine_id: str
    roll_id: str | None
    detected_at: datetime
    boxes: tuple[LabelBox, ...]  # none: a background frame

    @property
    def image_name(self) -> str:
        return f"images/{self.sha256}{SUFFIXES.get(self.content_type, '.jpg')}"


@dataclass
class ExportPlan:
    query: ExportQuery
    names: list[str]
    frames: list[FramePlan]
    left_out: Counter[str] = field(default_factory=Counter)  # frames, by reason
    classes_not_in_names: set[str] = field(default_factory=set)
    events_without_frame: int = 0


def _conditions(query: ExportQuery) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if query.machine:
        conditions.append(Event.machine_id.in_(query.machine))
    if query.since is not None:
        conditions.append(Event.detected_at >= query.since)
    if query.until is not None:
        conditions.append(Event.detected_at < query.until)
    return conditions


# What planning reads of each event (rows, not ORM objects: an export may span many events).
PLAN_COLUMNS = (
    Event.event_id,
    Event.frame_sha256,
    Event.verdict,
    Event.class_name,
    Event.corrected_class,
    Event.box_x1_px,
    Event.box_y1_px,
    Event.box_x2_px,
    Event.box_y2_px,
    Event.corrected_x1_px,
    Event.corrected_y1_px,
    Event.corrected_x2_px,
    Event.corrected_y2_px,
    Event.frame_w_px,
    Event.frame_h_px,
    Event.machine_id,
    Event.roll_id,
    Event.detected_at,
)


EventRow: TypeAlias = Row[*tuple[Any, ...]]


def _label_box(event: EventRow) -> LabelBox:
    corrected = (event.corrected_x1_px, event.corrected_y1_px, event.corrected_x2_px,
                 event.corrected_y2_px)  # fmt: skip
    original = (event.box_x1_px, event.box_y1_px, event.box_x2_px, event.box_y2_px)
    x1, y1, x2, y2 = original if None in corrected else corrected
    return LabelBox(
        event_id=event.event_id,
        class_name=event.corrected_class or event.class_name,
        box_xyxy_px=(x1, y1, x2, y2),
        frame_wh_px=(event.frame_w_px, event.frame_h_px),
    )


class DatasetService:
    def __init__(self, session: Session, store: BlobStore, clock: Clock) -> None:
        self.session = session
        self.store = store
        self.clock = clock

    def class_names(self, query: ExportQuery) -> list[str] | None:
        """The names the query asks for (given, or from a model's card); None: those seen."""
        if query.model is not None:
            model = ModelService(self.session, self.store, self.clock).get(query.model)
            return list(ModelCard.model_validate(model.card).classes)
        return query.name_list()

    def plan(self, query: ExportQuery) -> ExportPlan:
        """Which frames go into the dataset with which boxes, and what is left out and why."""
        names = self.class_names(query)
        verdicts = (*LABELLED, "false_alarm") if query.background else LABELLED
        wanted = _conditions(query)
        candidates = (
            select(Event.frame_sha256)
            .where(Event.frame_sha256.is_not(None), Event.verdict.in_(verdicts), *wanted)
            .distinct()
        )
        events = self.session.execute(
            select(*PLAN_COLUMNS)
            .where(Event.frame_sha256.in_(candidates))
            .order_by(Event.frame_sha256, Event.event_id)
        )
        by_frame: dict[str, list[EventRow]] = {}
        for event in events:
            by_frame.setdefault(event.frame_sha256, []).append(event)
        content_types = dict(
            self.session.execute(
                select(Image.sha256, Image.content_type).where(Image.sha256.in_(candidates))
            ).all()
        )
        plan = ExportPlan(query=query, names=names or [], frames=[])
        plan.events_without_frame = int(
            self.session.scalar(
                select(func.count())
                .select_from(Event)
                .where(Event.frame_sha256.is_(None), Event.verdict.in_(LABELLED), *wanted)
            )
            or 0
        )
        for sha256, frame_events in by_frame.items():
            frame = self._frame(sha256, frame_events, content_types.get(sha256), names, plan)
            if frame is not None:
                plan.frames.append(frame)
        if names is None:
            plan.names = sorted({box.class_name for f in plan.frames for box in f.boxes})
        self.session.close()  # the stream reads only the blob store: no transaction held open
        return plan

    @staticmethod
    def _frame(
        sha256: str,
        events: Sequence[EventRow],
        content_type: str | None,
        names: list[str] | None,
        plan: ExportPlan,
    ) -> FramePlan | None:
        if any(event.verdict is None for event in events):
            plan.left_out["awaiting_review"] += 1
            return None
        if content_type is None:
            plan.left_out["frame_not_uploaded"] += 1
            return None
        boxes = tuple(_label_box(e) for e in events if e.verdict in LABELLED)
        unknown = {box.class_name for box in boxes} - set(names) if names is not None else set()
        if unknown:
            plan.left_out["class_not_in_names"] += 1
            plan.classes_not_in_names |= unknown
            return None
        first = events[0]
        return FramePlan(
            sha256=sha256,
            content_type=content_type,
            machine_id=first.machine_id,
            roll_id=first.roll_id,
            detected_at=min(event.detected_at for event in events),
            boxes=boxes,
        )

    def stream_zip(self, plan: ExportPlan) -> Iterator[bytes]:
        """The dataset of PLAN as zip bytes, an entry at a time (reads only the blob store)."""
        return _ZipWriter(plan, self.store, self.clock()).chunks()


def image_size_wh(data: bytes) -> tuple[int, int] | None:
    image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_GRAYSCALE)
    return None if image is None else (int(image.shape[1]), int(image.shape[0]))


def frame_labels(
    frame: FramePlan, image_wh_px: tuple[int, int], class_ids: dict[str, int]
) -> ImageLabels | None:
    """FRAME's boxes scaled to the stored image of IMAGE_WH_PX; None when that image is not the
    frame downscaled (another aspect ratio), so its boxes would not fit."""
    width, height = image_wh_px
    rows, ids = [], []
    for box in frame.boxes:
        frame_w, frame_h = box.frame_wh_px
        if abs(height - frame_h * width / frame_w) > ASPECT_TOLERANCE_PX:
            return None
        sx, sy = width / frame_w, height / frame_h
        x1, y1, x2, y2 = box.box_xyxy_px
        rows.append([x1 * sx, y1 * sy, x2 * sx, y2 * sy])
        ids.append(class_ids[box.class_name])
    labels = ImageLabels(
        np.array(rows, dtype=np.float64).reshape(-1, 4), np.array(ids), image_wh_px
    )
    return labels.clipped()


class _Sink:
    """A write-only file for zipfile (no tell/seek: it writes data descriptors); drained often."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def write(self, data: bytes, /) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass

    def take(self) -> bytes:
        data, self._parts = b"".join(self._parts), []
        return data


class _ZipWriter:
    def __init__(self, plan: ExportPlan, store: BlobStore, now: datetime) -> None:
        self.plan = plan
        self.store = store
        self.now = now
        self.left_out = Counter(plan.left_out)
        self.files: list[dict[str, Any]] = []
        self.boxes_per_class: Counter[str] = Counter()

    def chunks(self) -> Iterator[bytes]:
        sink = _Sink()
        class_ids = {name: index for index, name in enumerate(self.plan.names)}
        with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("data.yaml", data_yaml_text(self.plan.names))
            yield sink.take()
            for frame in self.plan.frames:
                if self._add(archive, frame, class_ids):
                    yield sink.take()
            archive.writestr(MANIFEST, json.dumps(self._manifest(), indent=1) + "\n")
        yield sink.take()

    def _add(self, archive: zipfile.ZipFile, frame: FramePlan, class_ids: dict[str, int]) -> bool:
        try:
            data = self.store.read_bytes(BlobKind.IMAGE, frame.sha256)
        except NotFoundError:
            self.left_out["frame_not_uploaded"] += 1
            return False
        size_wh = image_size_wh(data)
        if size_wh is None:
            self.left_out["frame_unreadable"] += 1
            return False
        labels = frame_labels(frame, size_wh, class_ids)
        if labels is None:
            self.left_out["frame_size_mismatch"] += 1
            logger.warning("frame %s is %s px, not its detections' frame downscaled",
                           frame.sha256, size_wh)  # fmt: skip
            return False
        label_name = f"labels/{frame.sha256}.txt"
        archive.writestr(frame.image_name, data, compress_type=zipfile.ZIP_STORED)
        archive.writestr(label_name, labels.to_yolo_text())
        self.boxes_per_class.update(box.class_name for box in frame.boxes)
        self.files.append(
            {
                "image": frame.image_name,
                "labels": label_name,
                "image_wh_px": list(size_wh),
                "machine_id": frame.machine_id,
                "roll_id": frame.roll_id,
                "detected_at": frame.detected_at.isoformat(),
                "event_ids": [str(box.event_id) for box in frame.boxes],
            }
        )
        return True

    def _manifest(self) -> dict[str, Any]:
        return {
            "exported_at": self.now.isoformat(),
            "query": self.plan.query.model_dump(mode="json"),
            "names": self.plan.names,
            "images": len(self.files),
            "boxes": sum(self.boxes_per_class.values()),
            "boxes_per_class": dict(sorted(self.boxes_per_class.items())),
            "frames_left_out": dict(sorted(self.left_out.items())),
            "classes_not_in_names": sorted(self.plan.classes_not_in_names),
            "labelled_events_without_frame": self.plan.events_without_frame,
            "files": self.files,
        }


def data_yaml_text(names: Sequence[str]) -> str:
    """data.yaml for the zip: no `path` (the folder it is unpacked in); train and val the same
    images until split (`loomsight dataset split`)."""
    content = {"train": "images", "val": "images", "names": dict(enumerate(names))}
    return yaml.safe_dump(content, sort_keys=False)
