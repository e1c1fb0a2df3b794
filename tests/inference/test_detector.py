"""OnnxDetector on real exported models: loading, model card, options, frames, bad files."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from loomsight.datasets.synth.defects import FABRIC_CLASSES
from loomsight.errors import ModelFileError
from loomsight.inference.decode import OutputFormat
from loomsight.inference.detections import Detections
from loomsight.inference.detector import DetectorOptions, OnnxDetector
from loomsight.inference.model_card import ModelCard, OnnxFile, write_card
from loomsight.inference.model_input import FORMS, InputForm
from tests.inference.conftest import ExportedModels, fabric_images, raw_output, write_tiny_onnx

LOW_CONF = DetectorOptions(conf_threshold=0.1, tiling="off")


@pytest.fixture(scope="module")
def frames() -> list[np.ndarray]:
    return fabric_images(6)


def card_for(folder: Path, onnx_file: str = "model.onnx", **fields: object) -> ModelCard:
    values: dict[str, object] = {
        "name": "fabric",
        "version": "fabric@2026-11-26T08:00:00Z",
        "classes": list(FABRIC_CLASSES),
        "input_size_hw": (160, 160),
        "stride": 32,
        "opset": 18,
        "created_at": datetime(2026, 11, 26, tzinfo=UTC),
        "onnx": OnnxFile(file=onnx_file, sha256="0" * 64, size_bytes=1),
        **fields,
    }
    card = ModelCard.model_validate(values)
    write_card(folder, card)
    return card


def test_loads_what_the_metadata_says(exported: ExportedModels) -> None:
    static = OnnxDetector(exported.static, threads=1)
    assert static.names == FABRIC_CLASSES
    assert static.input_size_hw == (160, 160) and static.batch_size == 1
    assert static.output_format is OutputFormat.RAW
    assert static.model_version.startswith("sha256:") and len(static.model_version) == 19
    assert static.class_thresholds.tolist() == pytest.approx([0.25] * 8)
    assert static.iou_threshold == 0.7
    dynamic = OnnxDetector(exported.dynamic)
    assert dynamic.batch_size is None and dynamic.input_size_hw == (160, 160)
    assert dynamic.model_version != static.model_version
    assert OnnxDetector(exported.nms).output_format is OutputFormat.NMS


def test_the_model_card_names_version_and_thresholds(
    exported: ExportedModels, tmp_path: Path
) -> None:
    shutil.copyfile(exported.static, tmp_path / "model.onnx")
    shutil.copyfile(exported.static, tmp_path / "model.int8.onnx")
    int8 = OnnxFile(file="model.int8.onnx", sha256="0" * 64, size_bytes=1, precision="int8")
    card = card_for(tmp_path, conf_threshold=0.3, iou_threshold=0.5, int8=int8)
    detector = OnnxDetector(tmp_path / "model.onnx")
    assert detector.model_version == card.version
    assert detector.class_thresholds.tolist() == pytest.approx([0.3] * 8)
    assert detector.iou_threshold == 0.5
    by_name = OnnxDetector(
        tmp_path / "model.int8.onnx", DetectorOptions(conf_threshold={"knot": 0.9})
    )
    assert by_name.model_version == card.version + "+int8"
    assert by_name.class_thresholds.tolist() == pytest.approx([0.3] * 5 + [0.9, 0.3, 0.3])
    assert by_name.class_iou_thresholds.tolist() == pytest.approx([0.5] * 8)


def test_operating_thresholds_by_class_from_the_card_and_the_options(
    exported: ExportedModels, tmp_path: Path
) -> None:
    shutil.copyfile(exported.static, tmp_path / "model.onnx")
    card_for(tmp_path, conf_threshold_by_class={"knot": 0.15})
    knot, hole = FABRIC_CLASSES.index("knot"), FABRIC_CLASSES.index("hole")
    expected = [0.25] * 8
    expected[knot] = 0.15
    assert OnnxDetector(tmp_path / "model.onnx").class_thresholds.tolist() == pytest.approx(
        expected
    )
    expected[hole] = 0.4  # by name: the card's knot stays
    options = DetectorOptions(conf_threshold={"hole": 0.4})
    by_name = OnnxDetector(tmp_path / "model.onnx", options)
    assert by_name.class_thresholds.tolist() == pytest.approx(expected)
    one_for_all = OnnxDetector(tmp_path / "model.onnx", DetectorOptions(conf_threshold=0.3))
    assert one_for_all.class_thresholds.tolist() == pytest.approx([0.3] * 8)


def test_nms_iou_by_class_from_the_card_and_the_options(
    exported: ExportedModels, tmp_path: Path
) -> None:
    shutil.copyfile(exported.static, tmp_path / "model.onnx")
    card_for(tmp_path, iou_threshold_by_class={"knot": 0.4, "slub": 0.6})
    from_card = OnnxDetector(tmp_path / "model.onnx")
    knot, slub = FABRIC_CLASSES.index("knot"), FABRIC_CLASSES.index("slub")
    expected = [0.7] * 8
    expected[knot], expected[slub] = 0.4, 0.6
    assert from_card.class_iou_thresholds.tolist() == pytest.approx(expected)
    assert from_card.iou_threshold == 0.7
    by_name = OnnxDetector(tmp_path / "model.onnx", DetectorOptions(iou_threshold={"knot": 0.3}))
    expected[knot] = 0.3  # the options' value for knot; slub keeps the card's
    assert by_name.class_iou_thresholds.tolist() == pytest.approx(expected)
    one_for_all = OnnxDetector(tmp_path / "model.onnx", DetectorOptions(iou_threshold=0.5))
    assert one_for_all.class_iou_thresholds.tolist() == pytest.approx([0.5] * 8)
    with pytest.raises(ValueError, match=r"iou_threshold names unknown classes \['slab'\]"):
        OnnxDetector(tmp_path / "model.onnx", DetectorOptions(iou_threshold={"slab": 0.5}))
    content = json.loads((tmp_path / "model.json").read_text(encoding="utf-8"))
    content["iou_threshold_by_class"] = {"slab": 0.5}
    (tmp_path / "model.json").write_text(json.dumps(content), encoding="utf-8")
    with pytest.raises(ModelFileError, match=r"names classes the model lacks: \['slab'\]"):
        OnnxDetector(tmp_path / "model.onnx")


def test_batch_grey_and_options(exported: ExportedModels, frames: list[np.ndarray]) -> None:
    static = OnnxDetector(exported.static, LOW_CONF)
    square = LOW_CONF.model_copy(update={"rect": False, "max_batch": 8})  # the static input
    dynamic = OnnxDetector(exported.dynamic, square, threads=1)
    one_by_one = [static.detect(frame) for frame in frames]
    assert sum(len(found) for found in one_by_one) > 0
    runs = dynamic.session_runs
    for ours, batched in zip(one_by_one, dynamic.detect_batch(frames), strict=True):
        np.testing.assert_allclose(batched.xyxy_px, ours.xyxy_px, atol=1e-2)
        np.testing.assert_allclose(batched.confidence, ours.confidence, atol=1e-4)
    assert dynamic.session_runs == runs + 1  # six frames, one run
    colour = np.ascontiguousarray(frames[0][..., :3] if frames[0].ndim == 3 else frames[0])
    grey = colour if colour.ndim == 2 else colour[..., 1]
    grey_found = static.detect(grey)
    np.testing.assert_array_equal(grey_found.xyxy_px, static.detect(np.dstack([grey] * 3)).xyxy_px)

    big = 40.0
    sized = OnnxDetector(exported.static, LOW_CONF.model_copy(update={"min_size_px": big}))
    for frame, everything in zip(frames, one_by_one, strict=True):
        kept = sized.detect(frame)
        assert (kept.size_wh_px.max(axis=1) >= big).all()
        assert len(kept) == int((everything.size_wh_px.max(axis=1) >= big).sum())
    capped = OnnxDetector(exported.static, LOW_CONF.model_copy(update={"max_det": 3}))
    assert max(len(capped.detect(frame)) for frame in frames) == 3
    stains = OnnxDetector(exported.static, DetectorOptions(conf_threshold={"stain": 0.1}))
    found = Detections.merge(stains.detect_batch(frames))
    assert ((found.class_id == 1) | (found.confidence > 0.25)).all()
    assert ((found.class_id == 1) & (found.confidence <= 0.25)).any()  # stains from 0.1 up


@pytest.mark.parametrize(("count", "lane_runs", "session_runs"), [(6, 6, 0), (5, 5, 0), (3, 0, 1)])
def test_a_batch_is_split_among_lanes(
    exported: ExportedModels,
    frames: list[np.ndarray],
    count: int,
    lane_runs: int,
    session_runs: int,
) -> None:
    """With two threads, a batch of four images or more is shared between two single-thread
    sessions side by side, one image per run; a smaller one runs on the two-thread session in
    one run. The detections are those of one session running the whole batch."""
    square = LOW_CONF.model_copy(update={"rect": False, "max_batch": 8})
    whole = OnnxDetector(exported.dynamic, square, threads=1)
    split = OnnxDetector(exported.dynamic, square, threads=2)
    expected = whole.detect_batch(frames[:count])
    before = split.session_runs
    got = split.detect_batch(frames[:count])
    assert split.session_runs - before == lane_runs + session_runs
    assert (split.lanes is not None) == (lane_runs > 0)
    assert sum(len(found) for found in got) > 0
    for ours, theirs in zip(got, expected, strict=True):
        np.testing.assert_allclose(ours.xyxy_px, theirs.xyxy_px, atol=1e-2)
        np.testing.assert_allclose(ours.confidence, theirs.confidence, atol=1e-4)
        np.testing.assert_array_equal(ours.class_id, theirs.class_id)
    one_session = OnnxDetector(exported.dynamic, square.model_copy(update={"lanes": False}))
    before = one_session.session_runs
    one_session.detect_batch(frames[:count])
    assert one_session.session_runs - before == 1 and one_session.lanes is None


def test_lanes_take_a_fixed_batch_model_one_image_per_run(
    exported: ExportedModels, frames: list[np.ndarray]
) -> None:
    split = OnnxDetector(exported.static, LOW_CONF, threads=2)
    before = split.session_runs
    got = split.detect_batch(frames)
    assert split.session_runs - before == len(frames) and split.lanes is not None
    assert [len(found) for found in got] == [len(split.detect(frame)) for frame in frames]


def test_a_file_that_takes_pixels_is_fed_the_letterboxed_image(tmp_path: Path) -> None:
    """A uint8 BxHxWx3 input (our int8 files) gets the letterboxed BGR images as they are, padded
    to a fixed batch like float tensors; the boxes come back in frame pixels."""
    box = raw_output([(80.0, 60.0, 40.0, 20.0, 0.9, 1)])  # cx, cy, w, h in input pixels, stain
    path = write_tiny_onnx(tmp_path / "m.onnx", [2, 160, 160, 3], "constant", box, NAMES, "uint8")
    detector = OnnxDetector(path, DetectorOptions(tiling="off"))
    assert detector.input_form is InputForm.PIXELS
    assert detector.input_size_hw == (160, 160) and detector.batch_size == 2
    [found] = detector.detect_batch([np.full((320, 320), 200, np.uint8)])  # half size in
    assert detector.names[int(found.class_id[0])] == "stain" and len(found) == 1
    np.testing.assert_allclose(found.xyxy_px, [[120.0, 100.0, 200.0, 140.0]])
    float_input = write_tiny_onnx(tmp_path / "f.onnx", [2, 3, 160, 160], "constant", box, NAMES)
    assert OnnxDetector(float_input).input_form is InputForm.TENSOR


def write_text(path: Path) -> Path:
    path.write_text("not a model\n", encoding="utf-8")
    return path


BadFile = Callable[[Path], Path]
NAMES = {"names": "{0: 'hole', 1: 'stain'}", "imgsz": "[160, 160]"}


@pytest.mark.parametrize(
    ("make", "fragments"),
    [
        (lambda d: d / "missing.onnx", ["missing.onnx: no such model file"]),
        (lambda d: write_text(d / "model.onnx"), ["not a loadable ONNX model", "Protobuf"]),
        (
            lambda d: write_tiny_onnx(d / "m.onnx", [1, 10]),
            [f"model input must be {FORMS}", "got 1x10 float"],
        ),
        (
            lambda d: write_tiny_onnx(d / "m.onnx", [1, 1, 160, 160]),
            [f"model input must be {FORMS}", "got 1x1x160x160 float"],
        ),
        (
            lambda d: write_tiny_onnx(d / "m.onnx", [1, 3, 160, 160], input_type="uint8"),
            [f"model input must be {FORMS}", "got 1x3x160x160 uint8"],
        ),
        (
            lambda d: write_tiny_onnx(d / "m.onnx", [1, 160, 160, 3]),
            ["or BxHxWx3 uint8 (BGR pixels), got 1x160x160x3 float"],
        ),
        (
            lambda d: write_tiny_onnx(d / "m.onnx", [1, 3, 160, 160]),
            ["model output must be Bx(4+classes)xN", "got 1x3x160x160"],
        ),
        (
            lambda d: write_tiny_onnx(d / "m.onnx", [1, 3, 160, 160], "reduce"),
            ["model output must be Bx(4+classes)xN (raw YOLO) or BxKx6", "got 1x3x160"],
        ),
        (
            lambda d: write_tiny_onnx(d / "m.onnx", ["batch", 3, "h", "w"], "reduce"),
            ["size must come from the model card or the 'imgsz' metadata, got None"],
        ),
        (
            lambda d: write_tiny_onnx(
                d / "m.onnx", [1, 3, 160, 160], "constant", np.zeros((1, 9, 30), np.float32), NAMES
            ),
            ["output 1x9x30 has 5 classes, but its metadata names 2"],
        ),
        (
            lambda d: write_tiny_onnx(
                d / "m.onnx", [1, 3, 160, 160], "constant", np.zeros((1, 300, 6), np.float32)
            ),
            ["output 1x300x6 (with NMS) and no class names"],
        ),
    ],
)
def test_refuses_a_file_that_is_not_a_detector(
    tmp_path: Path, make: BadFile, fragments: list[str]
) -> None:
    path = make(tmp_path)
    with pytest.raises(ModelFileError) as caught:
        OnnxDetector(path)
    for fragment in [str(path), *fragments]:
        assert fragment in str(caught.value)


def test_refuses_a_card_that_does_not_fit(exported: ExportedModels, tmp_path: Path) -> None:
    shutil.copyfile(exported.static, tmp_path / "model.onnx")
    card_for(tmp_path, classes=["hole", "stain", "knot"])
    with pytest.raises(ModelFileError, match="has 8 classes, but its card names 3"):
        OnnxDetector(tmp_path / "model.onnx")
    card_for(tmp_path, input_size_hw=(320, 320))
    with pytest.raises(ModelFileError, match=r"card says input_size_hw \(320, 320\)"):
        OnnxDetector(tmp_path / "model.onnx")
    card_for(tmp_path, nms_in_model=True)
    with pytest.raises(ModelFileError, match="nms_in_model=True, but the output is 1x12x525"):
        OnnxDetector(tmp_path / "model.onnx")
    (tmp_path / "model.json").write_text("{", encoding="utf-8")
    with pytest.raises(ModelFileError, match="not a readable JSON model card"):
        OnnxDetector(tmp_path / "model.onnx")


@pytest.mark.parametrize(
    ("frame", "fragment"),
    [
        (None, "got NoneType"),
        (np.zeros((100, 100, 3), np.float32), "got dtype float32"),
        (np.zeros((0, 100, 3), np.uint8), "got shape (0, 100, 3)"),
        (np.zeros((100, 100, 4), np.uint8), "got shape (100, 100, 4)"),
    ],
)
def test_refuses_a_corrupt_frame(exported: ExportedModels, frame: object, fragment: str) -> None:
    detector = OnnxDetector(exported.static)
    with pytest.raises(ValueError, match="HxW \\(grey\\) or HxWx3 \\(BGR\\) uint8") as caught:
        detector.detect(frame)  # type: ignore[arg-type]
    assert fragment in str(caught.value)
    assert len(detector.detect(np.zeros((50, 70), np.uint8))) >= 0  # and it keeps working


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        ({"conf_threshold": 1.5}, "less than or equal to 1"),
        ({"conf_threshold": {"hole": -0.1}}, "greater than or equal to 0"),
        ({"iou_threshold": 2}, "less than or equal to 1"),
        ({"max_det": 0}, "greater than or equal to 1"),
        ({"tiling": "sometimes"}, "'off', 'on' or 'auto'"),
        ({"tile_size": 640}, "Extra inputs are not permitted"),
        ({"flip_views": ["h", "h"]}, "flip_views names a view twice"),
        ({"flip_views": ["x"]}, "Input should be 'h', 'v' or 'hv'"),
    ],
)
def test_refuses_bad_options(options: dict[str, object], fragment: str) -> None:
    with pytest.raises(ValidationError) as caught:
        DetectorOptions.model_validate(options)
    assert fragment in str(caught.value)


def test_refuses_unknown_class_names_and_bad_threads(exported: ExportedModels) -> None:
    with pytest.raises(ValueError, match=r"unknown classes \['slab'\]; the model's classes"):
        OnnxDetector(exported.static, DetectorOptions(conf_threshold={"slab": 0.5}))
    with pytest.raises(ValueError, match="threads must be at least 1, got 0"):
        OnnxDetector(exported.static, threads=0)


def test_importing_inference_pulls_neither_torch_nor_ultralytics() -> None:
    modules = ["detector", "decode", "detections", "letterbox", "tiling", "model_card"]
    code = (
        "import sys\n"
        + "".join(f"import loomsight.inference.{name}\n" for name in modules)
        + "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'ultralytics'))\n"
        + "assert not heavy, heavy\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
