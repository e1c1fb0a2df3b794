"""Build an Agent from its settings: load the model, open the outbox, wire the threads.

Everything that holds a resource (outbox, HTTP clients, metrics server) is registered on the
ExitStack the caller passes, so one `with` closes it all, on errors too.
"""

from __future__ import annotations

import logging
import time
from contextlib import ExitStack
from pathlib import Path

import httpx

from loomsight.camera.agent import Agent
from loomsight.camera.alarms import AlarmEngine, WebhookOutput
from loomsight.camera.calibration import WebOdometer
from loomsight.camera.capture import Capture
from loomsight.camera.coverage import CoverageMeter
from loomsight.camera.dedup import Deduplicator
from loomsight.camera.frames import SYSTEM_CLOCK, Clock
from loomsight.camera.metrics import AgentMetrics
from loomsight.camera.model_updater import ModelUpdater
from loomsight.camera.outbox import Outbox
from loomsight.camera.pipeline import Identity, InspectionPipeline
from loomsight.camera.settings import AgentSettings, ModelSettings
from loomsight.camera.uploader import Uploader
from loomsight.errors import ModelFileError
from loomsight.inference.detector import DetectorOptions, OnnxDetector
from loomsight.inference.image_scale import scale_for_mm_per_px
from loomsight.inference.texture_anomaly import TEXTURE_FILE, TextureAnomalyModel
from loomsight.training.registry import article_models, get_model

logger = logging.getLogger(__name__)

INT8_FILE = "model.int8.onnx"


def model_path(settings: ModelSettings, machine_id: str) -> Path:
    """The ONNX file the settings name: a path to an .onnx file, or a registry name (the model
    calibrated for MACHINE_ID and the settings' article if one is recorded)."""
    if settings.model.endswith(".onnx"):
        path = Path(settings.model)
        if not path.is_file():
            raise ModelFileError(f"{path}: no such model file")
        return path
    name = settings.model
    if settings.article is not None:
        calibrated = article_models(settings.weights_dir).get(machine_id, {})
        name = calibrated.get(settings.article, name)
        logger.info("article %r on %s: model %s", settings.article, machine_id, name)
    registered = get_model(settings.weights_dir, name)
    if settings.int8:
        int8 = registered.folder / INT8_FILE
        if not int8.is_file():
            raise ModelFileError(f"{registered.folder}: no int8 copy ({INT8_FILE}); drop int8")
        return int8
    return registered.folder / registered.card.onnx.file


def texture_beside(onnx_path: Path, settings: ModelSettings) -> TextureAnomalyModel | None:
    """The texture-anomaly model in ONNX_PATH's folder if there is one and the settings want it."""
    path = onnx_path.parent / TEXTURE_FILE
    if not settings.texture_anomaly or not path.is_file():
        return None
    model = TextureAnomalyModel.load(path)
    logger.info("texture anomaly model %s: %d px cells", path, model.cell_px)
    return model


def detector_options(settings: AgentSettings) -> DetectorOptions:
    """The detector options of SETTINGS, with frames resampled from the calibration's mm per pixel
    to `detector.model_mm_per_px` when that is set."""
    options, model_mm_per_px = settings.detector.options, settings.detector.model_mm_per_px
    if model_mm_per_px is None:
        return options
    calibration = settings.calibration
    camera_xy = (calibration.mm_per_px, calibration.along_mm_per_px)
    scale = scale_for_mm_per_px(camera_xy, model_mm_per_px)
    logger.info("frames resampled by %.3g across, %.3g along before detection", *scale)
    return options.model_copy(update={"image_scale": scale})


def build_agent(settings: AgentSettings, stack: ExitStack, clock: Clock = SYSTEM_CLOCK) -> Agent:
    """An agent ready to `run(stop)`; its resources close with STACK."""
    threads = settings.detector.threads
    onnx_path = model_path(settings.detector, settings.machine_id)
    options = detector_options(settings)
    detector = OnnxDetector(onnx_path, options, threads)
    outbox = Outbox(settings.outbox.path, int(settings.outbox.max_disk_mb * 1024 * 1024))
    stack.callback(outbox.close)
    calibration = settings.calibration
    odometer = WebOdometer(calibration, clock.monotonic_ns())

    def make_coverage(frame_height_px: int) -> CoverageMeter:
        length_m = calibration.frame_length_m(frame_height_px)
        return CoverageMeter(calibration.web_width_mm, length_m, odometer)

    http = httpx.Client(timeout=10.0)
    stack.callback(http.close)
    needs_http = any(isinstance(o, WebhookOutput) for o in settings.alarms.outputs)
    alarms = AlarmEngine(
        settings.alarms.rules, settings.alarms.outputs, http=http if needs_http else None
    )
    metrics = AgentMetrics()
    if settings.metrics_port is not None:
        server = metrics.serve(settings.metrics_port, settings.metrics_host)
        stack.callback(server.server_close)
        stack.callback(server.shutdown)
        logger.info("metrics on http://%s:%d/metrics", *server.server_address[:2])
    uploader, updater = None, None
    api = settings.api
    if api.url is not None and api.token is not None:
        token = api.token.get_secret_value()
        uploader = Uploader(outbox, api.url, token, settings=api.uploader)
        stack.callback(uploader.close)
        api_client = httpx.Client(base_url=api.url, timeout=api.uploader.timeout_s)
        stack.callback(api_client.close)

        def load(path: Path) -> OnnxDetector:
            return OnnxDetector(path, options, threads)

        updater = ModelUpdater(
            api_client,
            token,
            api.models_dir,
            load,
            detector.model_version,
            use_texture=settings.detector.texture_anomaly,
        )
    pipeline = InspectionPipeline(
        detector,
        Identity(settings.machine_id, settings.camera_id),
        calibration,
        settings.size_filter,
        Deduplicator(settings.dedup),
        settings.snapshots,
        texture_beside(onnx_path, settings.detector),
    )
    capture = Capture.from_config(settings.source, settings.capture, clock=clock)
    return Agent(
        pipeline,
        capture,
        outbox,
        odometer,
        make_coverage,
        alarms,
        metrics,
        settings.heartbeat_s,
        uploader=uploader,
        updater=updater,
        model_poll_s=api.model_poll_s,
        flush_timeout_s=settings.flush_timeout_s,
        monotonic_s=time.monotonic,
        now=clock.utc_now,
    )
