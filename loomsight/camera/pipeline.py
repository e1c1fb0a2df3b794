"""One frame through inspection: detect, place in fabric coordinates, deduplicate, make events.

The pipeline holds the detector (swapped between frames on a model update), the article's
texture-anomaly model if it has one (its boxes that overlap no detection are reported as
`anomaly`), the calibration and the dedup memory; it does not write anywhere: the agent puts the
events into the outbox.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

from loomsight.camera.calibration import Calibration, DefectSizeFilter, FabricDefect, to_fabric
from loomsight.camera.dedup import Deduplicator
from loomsight.camera.frames import Frame
from loomsight.camera.snapshots import Snapshot, SnapshotOptions, defect_crop, frame_preview
from loomsight.inference.detector import OnnxDetector
from loomsight.inference.texture_anomaly import ANOMALY_CLASS, TextureAnomalyModel
from loomsight.schema import DefectEvent


@dataclass(frozen=True)
class NewDefect:
    """A defect reported for the first time: its event and the images the event names."""

    defect: FabricDefect
    event: DefectEvent
    images: dict[str, bytes]  # sha256 -> JPEG bytes


@dataclass(frozen=True)
class FrameResult:
    frame_top_m: float
    detections: int  # boxes kept (detector and texture; before fabric placement and dedup)
    new: list[NewDefect]
    inference_ms: float


@dataclass(frozen=True)
class Identity:
    machine_id: str
    camera_id: str


class InspectionPipeline:
    def __init__(
        self,
        detector: OnnxDetector,
        identity: Identity,
        calibration: Calibration,
        size_filter: DefectSizeFilter,
        dedup: Deduplicator,
        snapshots: SnapshotOptions,
        texture: TextureAnomalyModel | None = None,
    ) -> None:
        self.detector, self.texture = detector, texture
        self.model_version = detector.model_version  # as the API names it after a swap
        self.identity, self.calibration = identity, calibration
        self.size_filter, self.dedup, self.snapshots = size_filter, dedup, snapshots
        self.roll_id = calibration.roll_id

    def use(
        self,
        detector: OnnxDetector,
        model_version: str,
        texture: TextureAnomalyModel | None = None,
    ) -> None:
        """Run DETECTOR (and TEXTURE, if given) from the next frame on; events name
        MODEL_VERSION."""
        self.detector, self.model_version, self.texture = detector, model_version, texture

    def process(self, frame: Frame, frame_top_m: float) -> FrameResult:
        started = time.perf_counter()
        detections = self.detector.detect(frame.image)
        names = self.detector.names
        if self.texture is not None:
            detections = self.texture.beside(detections, frame.image, len(names))
            names = (*names, ANOMALY_CLASS)
        inference_ms = (time.perf_counter() - started) * 1000
        defects = to_fabric(
            detections,
            names,
            frame_top_m,
            frame.size_wh_px,
            self.calibration,
            self.size_filter,
        )
        admitted = self.dedup.admit(defects, frame_top_m)
        preview = frame_preview(frame.image, self.snapshots) if admitted else None
        new = [self._event(frame, defect, preview) for defect in admitted if preview]
        return FrameResult(frame_top_m, len(detections), new, inference_ms)

    def _event(self, frame: Frame, defect: FabricDefect, preview: Snapshot) -> NewDefect:
        crop = defect_crop(frame.image, defect.box_xyxy_px, self.snapshots)
        event = DefectEvent(
            event_id=uuid.uuid4(),
            detected_at=frame.captured_at,
            machine_id=self.identity.machine_id,
            camera_id=self.identity.camera_id,
            roll_id=self.roll_id,
            position_m=max(defect.position_m, 0.0),
            across_mm=defect.across_mm,
            length_mm=defect.length_mm,
            width_mm=defect.width_mm,
            class_name=defect.class_name,
            confidence=min(max(defect.confidence, 0.0), 1.0),
            box_xyxy_px=defect.box_xyxy_px,
            frame_wh_px=defect.frame_wh_px,
            model_version=self.model_version,
            crop_sha256=crop.sha256,
            frame_sha256=preview.sha256,
        )
        images = {crop.sha256: crop.jpeg, preview.sha256: preview.jpeg}
        return NewDefect(defect=defect, event=event, images=images)
