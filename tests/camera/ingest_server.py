"""A small real HTTP server that keeps the ingest contract of loomsight.schema (a test double
for the API): PUT images by sha256, POST IngestBatch -> IngestAck, Bearer token, items stored
once by UUID. Switches make it go down and come back, fail the next requests, drop the
connection after storing a batch (a lost answer), refuse chosen events, and answer slowly.
It also announces a model (`serve_model`) on ACTIVE_MODEL_PATH and hands out its file.

Also `sample_event`: events and JPEG-like images as a camera would write them.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from pydantic import BaseModel, ValidationError

from loomsight.schema import (
    ACTIVE_MODEL_PATH,
    IMAGE_PATH,
    INGEST_PATH,
    MAX_IMAGE_BYTES,
    MODEL_FILE_PATH,
    ActiveModel,
    DefectEvent,
    IngestAck,
    IngestBatch,
)

_IMAGE_PATH = re.compile(re.escape(IMAGE_PATH).replace(r"\{sha256\}", "([0-9a-f]{64})"))
EVENT_NAMESPACE = uuid.UUID("6f0c1a52-5b7e-4c38-9d0e-3b1f2a9c8d47")


def sample_event(
    number: int, frame_of: int = 3, crop_bytes: int = 0
) -> tuple[DefectEvent, dict[str, bytes]]:
    """Event `number` (a UUID made from it) with its own crop (`crop_bytes` of noise in it) and a
    frame shared by `frame_of` consecutive events; returns the event and its images by sha256."""
    noise = random.Random(number).randbytes(crop_bytes)
    crop = b"\xff\xd8\xff\xe0crop %d" % number + noise + b"\xff\xd9"
    frame = b"\xff\xd8\xff\xe0frame %d" % (number // frame_of) + bytes(2000) + b"\xff\xd9"
    images = {hashlib.sha256(jpeg).hexdigest(): jpeg for jpeg in (crop, frame)}
    crop_sha256, frame_sha256 = images
    event = DefectEvent(
        event_id=uuid.uuid5(EVENT_NAMESPACE, str(number)),
        detected_at=datetime(2026, 1, 1, tzinfo=UTC),
        machine_id="loom-1",
        camera_id="cam-1",
        roll_id="roll-1",
        position_m=number * 0.5,
        across_mm=100.0,
        length_mm=5.0,
        width_mm=3.0,
        class_name="hole",
        confidence=0.9,
        box_xyxy_px=(10.0, 10.0, 20.0, 20.0),
        frame_wh_px=(640, 480),
        model_version="v1",
        crop_sha256=crop_sha256,
        frame_sha256=frame_sha256,
    )
    return event, images


class IngestServer:
    """The ingest API on 127.0.0.1 (a free port, kept across `go_down`/`come_up`)."""

    def __init__(self, token: str = "camera-token") -> None:
        self.token = token
        self.images: dict[str, bytes] = {}
        self.items: dict[str, dict[uuid.UUID, BaseModel]] = {
            "events": {}, "heartbeats": {}, "alarms": {}, "rolls": {}
        }  # fmt: skip
        self.event_posts: Counter[uuid.UUID] = Counter()  # how often each event came
        self.requests: list[tuple[str, str, int]] = []  # method, path, status (0: dropped)
        self.refuse_event_ids: set[uuid.UUID] = set()  # answered 422 (a server-side rule)
        self.delay_s = 0.0
        self.model: tuple[ActiveModel, bytes] | None = None  # announced on ACTIVE_MODEL_PATH
        self._failures: list[tuple[int, dict[str, str]]] = []
        self._drops = 0
        self.lock = threading.Lock()
        self.port = 0
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def events(self) -> dict[uuid.UUID, BaseModel]:
        return self.items["events"]

    def start(self) -> IngestServer:
        return self.come_up()

    def come_up(self) -> IngestServer:
        handler = type("Handler", (_Handler,), {"api": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", self.port), handler)
        self.port = self._httpd.server_address[1]
        serve = self._httpd.serve_forever
        self._thread = threading.Thread(target=serve, args=(0.02,), daemon=True)
        self._thread.start()
        return self

    def go_down(self) -> None:
        """Stop listening: new connections are refused until `come_up()`."""
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    stop = go_down

    def serve_model(self, version: str, onnx: bytes) -> ActiveModel:
        """Announce ONNX bytes as the active model `version` for every camera."""
        announced = ActiveModel(
            name=version.split("@")[0],
            version=version,
            sha256=hashlib.sha256(onnx).hexdigest(),
            size_bytes=len(onnx),
            download_path=MODEL_FILE_PATH.format(version=version),
        )
        with self.lock:
            self.model = (announced, onnx)
        return announced

    def fail_next(
        self, count: int, status: int = 503, headers: dict[str, str] | None = None
    ) -> None:
        with self.lock:
            self._failures += [(status, headers or {})] * count

    def drop_after_store_next(self, count: int) -> None:
        """Store the next `count` batches, then close the connection without an answer."""
        with self.lock:
            self._drops += count

    def __enter__(self) -> IngestServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.go_down()

    def _ingest(self, batch: IngestBatch) -> tuple[IngestAck, bool]:
        counts: Counter[str] = Counter()
        with self.lock:
            for field, id_field in _ID_FIELDS.items():
                for item in getattr(batch, field):
                    item_id = getattr(item, id_field)
                    new = item_id not in self.items[field]
                    self.items[field].setdefault(item_id, item)
                    counts[f"{field}_{'stored' if new else 'duplicate'}"] += 1
            self.event_posts.update(event.event_id for event in batch.events)
            named = {s for e in batch.events for s in (e.crop_sha256, e.frame_sha256) if s}
            missing = sorted(named - set(self.images))
            drop, self._drops = self._drops > 0, max(0, self._drops - 1)
        ack = IngestAck(
            events_stored=counts["events_stored"],
            events_duplicate=counts["events_duplicate"],
            heartbeats_stored=counts["heartbeats_stored"],
            heartbeats_duplicate=counts["heartbeats_duplicate"],
            alarms_stored=counts["alarms_stored"],
            rolls_stored=counts["rolls_stored"],
            missing_images=missing,
        )
        return ack, drop


_ID_FIELDS = {"events": "event_id", "heartbeats": "heartbeat_id", "alarms": "alarm_id",
              "rolls": "mark_id"}  # fmt: skip


class _Handler(BaseHTTPRequestHandler):
    api: IngestServer  # set on the subclass made per server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_PUT(self) -> None:
        body = self._begin()
        if body is None:
            return
        match = _IMAGE_PATH.fullmatch(self.path)
        if match is None:
            return self._answer(404, {"detail": f"no such path {self.path}"})
        sha256 = match.group(1)
        if len(body) > MAX_IMAGE_BYTES:
            return self._answer(413, {"detail": f"image over {MAX_IMAGE_BYTES} bytes"})
        if self.headers.get("Content-Type") != "image/jpeg":
            return self._answer(415, {"detail": "expected Content-Type image/jpeg"})
        if (actual := hashlib.sha256(body).hexdigest()) != sha256:
            return self._answer(422, {"detail": f"body hashes to {actual}, not {sha256}"})
        with self.api.lock:
            new = self.api.images.setdefault(sha256, body) is body
        self._answer(201 if new else 200, {"sha256": sha256})

    def do_GET(self) -> None:
        if self._begin() is None:
            return
        with self.api.lock:
            model = self.api.model
        if model is None:
            return self._answer(404, {"detail": "no active model"})
        announced, onnx = model
        if self.path == ACTIVE_MODEL_PATH:
            return self._answer(200, json.loads(announced.model_dump_json()))
        if self.path != announced.download_path:
            return self._answer(404, {"detail": f"no such path {self.path}"})
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(onnx)))
        self.end_headers()
        self.wfile.write(onnx)
        with self.api.lock:
            self.api.requests.append(("GET", self.path, 200))

    def do_POST(self) -> None:
        body = self._begin()
        if body is None:
            return
        if self.path != INGEST_PATH:
            return self._answer(404, {"detail": f"no such path {self.path}"})
        try:
            batch = IngestBatch.model_validate_json(body)
        except ValidationError as error:
            return self._answer(422, {"detail": json.loads(error.json(include_url=False))})
        refused = [str(e.event_id) for e in batch.events if e.event_id in self.api.refuse_event_ids]
        if refused:
            return self._answer(422, {"detail": f"events refused: {', '.join(refused)}"})
        ack, drop = self.api._ingest(batch)
        if drop:
            self.close_connection = True
            with self.api.lock:
                self.api.requests.append(("POST", self.path, 0))
            return
        self._answer(200, json.loads(ack.model_dump_json()))

    def _begin(self) -> bytes | None:
        """The request body, or None when the request was answered already (failure, auth)."""
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        time.sleep(self.api.delay_s)
        with self.api.lock:
            failure = self.api._failures.pop(0) if self.api._failures else None
        if failure is not None:
            self._answer(failure[0], {"detail": "injected failure"}, failure[1])
            return None
        if self.headers.get("Authorization") != f"Bearer {self.api.token}":
            self._answer(401, {"detail": "expected Authorization: Bearer <camera token>"})
            return None
        return body

    def _answer(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        for name, value in {**(headers or {}), "Content-Type": "application/json"}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        with self.api.lock:
            self.api.requests.append((self.command, self.path, status))
