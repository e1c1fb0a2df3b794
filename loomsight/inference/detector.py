"""`OnnxDetector`: a YOLO detector exported to ONNX, run with ONNX Runtime on the camera side.

Loads the ONNX file and its model card (`model.json` in the same folder) or, without a card, the
metadata ultralytics writes into the file (`names`, `imgsz`); checks that the file is a detector
we can run and says what is wrong when it is not; warms the session up with a zero tensor; then
finds defects in BGR or grey frames, tiling frames much larger than the model input.
"""

from __future__ import annotations

import ast
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import numpy.typing as npt
import onnxruntime as ort
from pydantic import BaseModel, ConfigDict, Field

from loomsight.datasets.tiling import TileWindow
from loomsight.errors import ModelFileError
from loomsight.inference.box_scale import BoxScale, scale_boxes, scales_by_class_id
from loomsight.inference.decode import OutputFormat, decode, thresholds_by_name
from loomsight.inference.detections import Detections
from loomsight.inference.flip_views import (
    FlipView,
    FlipViews,
    flip_image,
    fuse_views,
    unflip_detections,
)
from loomsight.inference.image_scale import NO_SCALE, as_scale_xy, resample, to_frame_pixels
from loomsight.inference.letterbox import Letterbox, as_bgr
from loomsight.inference.line_join import (
    LINE_CLASSES,
    LINE_JOIN_CONF,
    MAX_GAP_PX,
    join_line_pieces,
)
from loomsight.inference.line_trace import trace_lines
from loomsight.inference.model_card import CARD_FILE, ModelCard, file_sha256, read_card
from loomsight.inference.model_input import (
    FORMS,
    InputForm,
    batch_and_hw,
    input_form,
    to_model_input,
    zero_input,
)
from loomsight.inference.onnx_session import SessionLanes, open_session
from loomsight.inference.overview import MIN_SCALE as OVERVIEW_MIN_SCALE
from loomsight.inference.overview import takes_overview
from loomsight.inference.tiling import JOIN_CONF as TILE_JOIN_CONF
from loomsight.inference.tiling import (
    TOUCH_PX,
    TilingMode,
    frame_tiles,
    merge_tiles,
    needs_tiling,
)

logger = logging.getLogger(__name__)

UInt8Array = npt.NDArray[np.uint8]
Unit = Annotated[float, Field(ge=0, le=1)]
ScaleFactor = Annotated[float, Field(gt=0, allow_inf_nan=False)]
DEFAULT_CONF, DEFAULT_IOU = 0.25, 0.7
# With flip views, each view is decoded down to this share of a class's threshold: a box left out
# would add under a thirtieth of the threshold to a fused score of three views. On merged val the
# camera then reports what `evaluate` (which keeps every score) does: same precision, recall,
# images found and false alarms (decoded at the threshold itself, 1 point fewer images found).
FLIP_DECODE_SHARE = 0.1


class DetectorOptions(BaseModel):
    """What the detector keeps and how it tiles. None: the model card's value (else the default)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # One value for all classes, or values by class name (the rest keep the card's)
    conf_threshold: Unit | dict[str, Unit] | None = None
    iou_threshold: Unit | dict[str, Unit] | None = None  # NMS
    max_det: int = Field(default=300, ge=1)
    min_size_px: float = Field(default=0.0, ge=0)  # kept when the longer box side is at least this
    tiling: TilingMode = "auto"
    tile_overlap_px: int | None = Field(default=None, ge=0)  # None: a fifth of a tile
    auto_tile_factor: float = Field(default=1.5, ge=1)  # "auto": tile when a side > input * this
    # Boxes cut by tile borders are joined when both parts score at least this (default 0.1,
    # with 8 px to touch: see inference/tiling.py; 0 joins every part); None: only NMS across tiles
    tile_join_conf: Unit | None = TILE_JOIN_CONF
    tile_touch_px: float = Field(default=TOUCH_PX, ge=0)  # an edge this close to a border is cut
    # Most images or tiles per run on the session with all threads (dynamic batch only). 4: on
    # 3200x416 frames (30 images with flip views) int8 took 191 ms with 2 threads, against 220
    # with 16 and 277 with 1, and 287 ms with 1 thread (311, 301); fp32 2 threads 327 (364,
    # 403), 1 thread 538 (594, 528). RSS added by int8: +72 MiB, against +215 with 16
    max_batch: int = Field(default=4, ge=1)
    rect: bool = True  # models of dynamic height and width: pad only to the stride (ultralytics)
    # Yarn-line classes whose pieces are joined into one box (see inference/line_join.py); names
    # the model lacks are ignored, () turns joining off.
    line_classes: tuple[str, ...] = LINE_CLASSES
    line_gap_px: float = Field(default=MAX_GAP_PX, ge=0)  # largest gap between pieces of a line
    line_join_conf: Unit = LINE_JOIN_CONF  # pieces scored below it are not joined
    line_trace: bool = True  # reported lines are traced in the frame (see inference/line_trace.py)
    # Mirrored views also run and fused (see inference/flip_views.py); () runs the frame only,
    # which is fastest: one model run instead of one per view
    flip_views: FlipViews | None = None
    # With two threads or more, a batch of two images or more per thread (tiles, flip views) runs
    # in single-thread sessions side by side instead (see inference/onnx_session.py); False: only
    # the session with all the threads (one copy of the model in memory, not one more per thread)
    lanes: bool = True
    # Boxes of these classes scaled about their centre, (shorter side, longer side), instead of
    # the card's (see inference/box_scale.py); {} leaves every box as the model draws it
    box_scale: dict[str, BoxScale] | None = None
    # A tiled frame that shrinks to at least this share of its size to fit the model input is also
    # run whole, and its large boxes replace the tile boxes inside them (see
    # inference/overview.py); 1: tiles only
    overview_min_scale: float = Field(default=OVERVIEW_MIN_SCALE, gt=0)
    # Each frame is resampled by this factor (one for both sides, or across and along) before
    # detection, so its cloth has the scale the model learnt (see inference/image_scale.py):
    # 2 for cloth seen at half that size. Boxes come back in the frame's own pixels, and
    # min_size_px is measured there; the other pixel options are of the resampled frame.
    image_scale: ScaleFactor | tuple[ScaleFactor, ScaleFactor] = 1.0


def _dims(shape: Sequence[Any]) -> str:
    return "x".join(str(d) if isinstance(d, int) else str(d or "?") for d in shape)


def _chunks(indexes: Sequence[int], size: int) -> list[list[int]]:
    return [list(indexes[start : start + size]) for start in range(0, len(indexes), size)]


def _literal(metadata: dict[str, str], key: str) -> Any:
    try:
        return ast.literal_eval(metadata[key])
    except (KeyError, ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None


def _metadata_names(metadata: dict[str, str]) -> list[str] | None:
    """Class names from ultralytics' metadata (`{0: 'hole', ...}`), in class id order."""
    names = _literal(metadata, "names")
    if isinstance(names, dict) and sorted(names) == list(range(len(names))):
        return [str(names[k]) for k in range(len(names))]
    return [str(name) for name in names] if isinstance(names, list | tuple) and names else None


def _by_class(
    names: Sequence[str],
    card: tuple[float, dict[str, float]],
    option: float | dict[str, float] | None,
    what: str,
) -> tuple[float, npt.NDArray[np.float32]]:
    """(the value for classes not named apart, one value per class of NAMES): the CARD's (one
    value, some classes apart) as the OPTION changes it: one value for all, or values by name."""
    base, by_name = card[0], dict(card[1])
    if isinstance(option, dict):
        by_name.update(option)
    elif option is not None:
        base, by_name = option, {}
    return base, thresholds_by_name(names, by_name, base, what)


class OnnxDetector:
    """A loaded, checked and warmed-up ONNX detector. Not thread-safe: one per camera thread."""

    def __init__(
        self, onnx_path: Path | str, options: DetectorOptions | None = None, threads: int = 2
    ) -> None:
        path = Path(onnx_path)
        if not path.is_file():
            raise ModelFileError(f"{path}: no such model file (expected an ONNX detector)")
        if threads < 1:
            raise ValueError(f"threads must be at least 1, got {threads}")
        self.path, self.options = path, options or DetectorOptions()
        has_card = (path.parent / CARD_FILE).is_file()
        self.card: ModelCard | None = read_card(path.parent) if has_card else None
        self.session = open_session(path, threads)
        self.threads = threads
        # Single-thread sessions for the images of a batch side by side (inference/onnx_session.py),
        # opened by the first batch that has enough images for them
        self.lanes: SessionLanes | None = None
        self.session_runs = 0
        metadata: dict[str, str] = self.session.get_modelmeta().custom_metadata_map
        self.input_name = self.session.get_inputs()[0].name
        self.output_name = self.session.get_outputs()[0].name
        self.input_form = self._check_input_form()
        self.input_size_hw, self.batch_size = self._check_input(_literal(metadata, "imgsz"))
        self.rect_stride = self._rect_stride(_literal(metadata, "stride"))
        names = self.card.classes if self.card else _metadata_names(metadata)
        self.output_format, self.names = self._check_output(self._warm_up(), names or None)
        card = self.card
        _, self.class_thresholds = _by_class(
            self.names,
            (card.conf_threshold, card.conf_threshold_by_class) if card else (DEFAULT_CONF, {}),
            self.options.conf_threshold,
            "conf_threshold",
        )
        self.iou_threshold, self.class_iou_thresholds = _by_class(
            self.names,
            (card.iou_threshold, card.iou_threshold_by_class) if card else (DEFAULT_IOU, {}),
            self.options.iou_threshold,
            "iou_threshold",
        )
        views = self.options.flip_views
        self.flip_views = views if views is not None else (card.flip_views if card else ())
        box_scale = self.options.box_scale
        self.box_scale: dict[str, BoxScale] = (
            box_scale if box_scale is not None else (card.box_scale_by_class if card else {})
        )
        self.class_box_scales = scales_by_class_id(self.names, self.box_scale)
        self.line_class_ids = {
            k for k, name in enumerate(self.names) if name in self.options.line_classes
        }
        # Line classes are decoded down to the join threshold, so that a reported line spans its
        # weaker pieces too; what is reported is then filtered by `class_thresholds`.
        lines = np.isin(np.arange(len(self.names)), sorted(self.line_class_ids))
        # With flip views a fused box scores the sum over the views divided by their number, so
        # boxes under the threshold count: each view is decoded down to FLIP_DECODE_SHARE of it.
        share = FLIP_DECODE_SHARE if self.flip_views else 1.0
        self.decode_thresholds = (
            share
            * np.where(
                lines,
                np.minimum(self.class_thresholds, self.options.line_join_conf),
                self.class_thresholds,
            )
        ).astype(np.float32)
        self.model_version = self._version()
        logger.info(
            "loaded %s: version %s, input %s, %d classes, %s output, batch %s",
            *(path, self.model_version, self.input_size_hw, len(self.names)),
            *(self.output_format.value, self.batch_size or "dynamic"),
        )

    def _fail(self, message: str) -> ModelFileError:
        return ModelFileError(f"{self.path}: {message}")

    def _input_description(self) -> str:
        inputs = self.session.get_inputs()
        return ", ".join(f"{_dims(i.shape)} {i.type.removeprefix('tensor(')[:-1]}" for i in inputs)

    def _check_input_form(self) -> InputForm:
        inputs = self.session.get_inputs()
        form = input_form(inputs[0].shape, inputs[0].type) if len(inputs) == 1 else None
        if form is None:
            raise self._fail(f"model input must be {FORMS}, got {self._input_description()}")
        return form

    def _check_input(self, imgsz: Any) -> tuple[tuple[int, int], int | None]:
        got = self._input_description()
        batch, height, width = (
            d if isinstance(d, int) and d > 0 else None
            for d in batch_and_hw(self.session.get_inputs()[0].shape, self.input_form)
        )
        card_hw = tuple(self.card.input_size_hw) if self.card else None
        if height is not None and width is not None:
            if card_hw not in (None, (height, width)):
                raise self._fail(f"model input is {got}, but its card says input_size_hw {card_hw}")
            return (height, width), batch
        size_hw = card_hw or imgsz
        if not (
            isinstance(size_hw, list | tuple)
            and len(size_hw) == 2
            and all(isinstance(side, int) and side > 0 for side in size_hw)
        ):
            raise self._fail(
                f"model input is {got}; its size must come from the model card or the "
                f"'imgsz' metadata, got {size_hw!r}"
            )
        return (size_hw[0], size_hw[1]), batch

    def _rect_stride(self, metadata_stride: Any) -> int | None:
        """The stride to pad to when the model takes any height and width (as ultralytics'
        predict does for such models); None: pad to the full input size."""
        _, *hw = batch_and_hw(self.session.get_inputs()[0].shape, self.input_form)
        dynamic_hw = not all(isinstance(d, int) and d > 0 for d in hw)
        stride = self.card.stride if self.card else metadata_stride
        usable = isinstance(stride, int) and stride > 0
        return int(stride) if dynamic_hw and self.options.rect and usable else None

    def _warm_up(self) -> tuple[int, ...]:
        """Run a zero input of the model's shape (the first run is slow); the output's shape."""
        zeros = zero_input(self.batch_size or 1, self.input_size_hw, self.input_form)
        try:
            output = self.session.run([self.output_name], {self.input_name: zeros})[0]
        except Exception as error:  # onnxruntime's own exception types derive from Exception only
            raise self._fail(
                f"model does not run on a {_dims(zeros.shape)} zero input ({error})"
            ) from None
        return tuple(np.shape(output))

    def _check_output(
        self, shape: tuple[int, ...], names: list[str] | None
    ) -> tuple[OutputFormat, tuple[str, ...]]:
        got = _dims(shape)
        if len(shape) != 3 or (shape[1] < 5 and shape[2] != 6):
            raise self._fail(
                f"model output must be Bx(4+classes)xN (raw YOLO) or BxKx6 (with NMS), got {got}"
            )
        nms = shape[2] == 6 and not (names and shape[1] == 4 + len(names))
        if not nms and names and shape[1] != 4 + len(names):
            source = "card" if self.card else "metadata"
            raise self._fail(
                f"model output {got} has {shape[1] - 4} classes, but its {source} names "
                f"{len(names)}: {names}"
            )
        if nms and not names:
            raise self._fail(
                f"model output {got} (with NMS) and no class names in card or metadata"
            )
        if self.card and self.card.nms_in_model != nms:
            raise self._fail(
                f"model card says nms_in_model={self.card.nms_in_model}, but the output is {got}"
            )
        names = names or [f"class_{k}" for k in range(shape[1] - 4)]
        return (OutputFormat.NMS if nms else OutputFormat.RAW), tuple(names)

    def _version(self) -> str:
        """The card's version (`+int8` for its int8 file), else the file's sha256 prefix."""
        if self.card:
            int8 = self.card.int8 is not None and self.card.int8.file == self.path.name
            return f"{self.card.version}+int8" if int8 else self.card.version
        return "sha256:" + file_sha256(self.path)[:12]

    def _run(self, letterboxed: Sequence[UInt8Array]) -> list[Detections]:
        """Letterboxed images -> detections in input pixels, several images of one shape per run
        if the batch size is dynamic (zero-padded to a fixed batch size otherwise). With two or
        more threads, the images of one shape are shared among the lanes, which run side by side,
        one thread each, if each lane gets at least two images (two runs of a fixed batch size);
        otherwise they run on the session with all the threads: 3 images (a frame and its two
        flip views) split 1+1 with the third on the session took 33 ms with fp32 and 22 with
        int8, against 22 and 18 on the session alone (shipped model, 2 threads). Lanes run one
        image per run; figures in inference/onnx_session.py."""
        step = self.batch_size or self.options.max_batch
        lanes = self.threads if self.threads > 1 and self.options.lanes else 0
        by_shape: dict[tuple[int, ...], list[int]] = {}
        for index, image in enumerate(letterboxed):
            by_shape.setdefault(image.shape, []).append(index)
        on_lanes: list[list[list[int]]] = [[] for _ in range(lanes)]  # each lane's chunks
        on_session: list[list[int]] = []
        for indexes in by_shape.values():
            units = _chunks(indexes, self.batch_size or 1)  # what one run must take together
            if lanes and len(units) >= 2 * lanes:
                for k, chunks in enumerate(on_lanes):
                    chunks += units[k::lanes]  # one image (one fixed batch) per run
            else:
                on_session += _chunks(indexes, step)
        found: dict[int, Detections] = {}
        if any(on_lanes):
            if self.lanes is None:
                self.lanes = SessionLanes(self.path, lanes)
            for part in self.lanes.map(lambda s, c: self._run_chunks(s, c, letterboxed), on_lanes):
                found.update(part)
        found.update(self._run_chunks(self.session, on_session, letterboxed))
        self.session_runs += len(on_session) + sum(len(chunks) for chunks in on_lanes)
        return [found[index] for index in range(len(letterboxed))]

    def _run_chunks(
        self,
        session: ort.InferenceSession,
        chunks: Sequence[Sequence[int]],
        letterboxed: Sequence[UInt8Array],
    ) -> dict[int, Detections]:
        """One SESSION run per chunk of indexes into LETTERBOXED; detections by index."""
        thresholds = (self.decode_thresholds, self.class_iou_thresholds, self.options.max_det)
        found: dict[int, Detections] = {}
        for chunk in chunks:
            batch = to_model_input([letterboxed[i] for i in chunk], self.input_form)
            if self.batch_size and len(chunk) < self.batch_size:
                batch = np.pad(batch, [(0, self.batch_size - len(chunk)), *[(0, 0)] * 3])
            output = session.run([self.output_name], {self.input_name: batch})[0]
            output = np.asarray(output[: len(chunk)], dtype=np.float32)
            found.update(zip(chunk, decode(output, self.output_format, *thresholds), strict=True))
        return found

    def _run_views(self, letterboxed: Sequence[UInt8Array]) -> list[Detections]:
        """`_run`, each image also seen in the flip views, the views' boxes fused."""
        if not self.flip_views:
            return self._run(letterboxed)
        views: list[FlipView | None] = [None, *self.flip_views]
        found = iter(
            self._run(
                [
                    image if v is None else flip_image(image, v)
                    for image in letterboxed
                    for v in views
                ]
            )
        )
        results = []
        for image in letterboxed:
            size_hw = (image.shape[0], image.shape[1])
            seen = [
                unflip_detections(d, v, size_hw)
                for v, d in zip(views, [next(found) for _ in views], strict=True)
            ]
            fused = fuse_views(seen, self.class_iou_thresholds)
            results.append(fused.filter(np.arange(min(len(fused), self.options.max_det))))
        return results

    def detect(self, frame: UInt8Array) -> Detections:
        """Defects in one frame (HxW grey or HxWx3 BGR uint8), boxes in frame pixels."""
        return self.detect_batch([frame])[0]

    def detect_batch(self, frames: Sequence[UInt8Array]) -> list[Detections]:
        """Defects in each frame, boxes in its pixels; the tiles of all frames share the runs."""
        options, input_hw = self.options, self.input_size_hw
        image_scale = as_scale_xy(options.image_scale)
        # a resampled frame keeps its scale: smaller than the input, it is padded, not enlarged
        scale_up = image_scale == NO_SCALE
        images = [resample(as_bgr(frame), image_scale) for frame in frames]
        plans: list[list[TileWindow]] = []
        overviews: list[bool] = []  # the frame is also run whole, after its tiles
        letterboxed, placements = [], []
        for image in images:
            resolution_wh = (image.shape[1], image.shape[0])
            tiled = needs_tiling(resolution_wh, input_hw, options.tiling, options.auto_tile_factor)
            whole = [TileWindow(0, 0, *resolution_wh)]
            plans.append(
                frame_tiles(resolution_wh, input_hw, options.tile_overlap_px) if tiled else whole
            )
            overviews.append(
                len(plans[-1]) > 1
                and takes_overview(resolution_wh, input_hw, options.overview_min_scale)
            )
            if overviews[-1]:
                plans[-1] = plans[-1] + whole
            for k, w in enumerate(plans[-1]):
                crop = image[w.y_px : w.y_px + w.height_px, w.x_px : w.x_px + w.width_px]
                placements.append(
                    Letterbox.fit(crop.shape[:2], input_hw, self.rect_stride, scale_up)
                )
                # the overview is shrunk by area: bilinear turned a fine weave into moiré blotches
                is_overview = overviews[-1] and k == len(plans[-1]) - 1
                letterboxed.append(placements[-1].apply(crop, shrink_by_area=is_overview))
        scaled = (scale_boxes(d, self.class_box_scales) for d in self._run_views(letterboxed))
        found = iter(
            Detections(placement.to_source_xyxy(d.xyxy_px), d.confidence, d.class_id)
            for d, placement in zip(scaled, placements, strict=True)
        )
        results = []
        for frame, image, windows, with_overview in zip(
            frames, images, plans, overviews, strict=True
        ):
            per_tile = [next(found) for _ in windows]
            resolution_wh = (image.shape[1], image.shape[0])
            overview = None
            if with_overview:
                overview, per_tile, windows = per_tile[-1], per_tile[:-1], windows[:-1]
                # yarn lines are left to the tiles, which see them at native resolution (their
                # pieces joined and traced below); shrunk, a line is drawn short and weak
                overview = overview.filter(~np.isin(overview.class_id, sorted(self.line_class_ids)))
            detections = (
                merge_tiles(
                    per_tile,
                    windows,
                    resolution_wh,
                    self.class_iou_thresholds,
                    options.max_det,
                    options.tile_join_conf,
                    options.tile_touch_px,
                    overview,
                )
                if len(windows) > 1
                else per_tile[0]
            )
            detections = join_line_pieces(
                detections, self.line_class_ids, options.line_join_conf, options.line_gap_px
            )
            reported = detections.confidence >= self.class_thresholds[detections.class_id]
            detections = detections.filter(reported)
            if options.line_trace:
                detections = trace_lines(image, detections, self.line_class_ids)
            frame_wh = (frame.shape[1], frame.shape[0])
            detections = to_frame_pixels(detections, resolution_wh, frame_wh)
            longer_side_px = detections.size_wh_px.max(axis=1, initial=0.0)
            results.append(detections.filter(longer_side_px >= options.min_size_px))
        return results
