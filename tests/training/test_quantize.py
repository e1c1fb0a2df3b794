"""INT8 export: a real yolov8n (random weights, batch-norm statistics from synthetic frames, as in
tests/inference/conftest.py) exported at 160 with `int8=True`, then run, inspected and compared."""

from __future__ import annotations

import hashlib
import importlib.util
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from loomsight.datasets.layout import write_image
from loomsight.datasets.synth.dataset import SynthOptions, generate_dataset
from loomsight.datasets.synth.defects import FABRIC_CLASSES
from loomsight.errors import ModelFileError, TrainingError
from loomsight.inference.detector import DetectorOptions, OnnxDetector
from loomsight.inference.letterbox import as_bgr, letterbox
from loomsight.inference.model_card import file_sha256, read_card
from loomsight.inference.model_input import InputForm, to_model_input
from loomsight.training.export import ExportOptions, export_model
from loomsight.training.offline import load_ultralytics
from loomsight.training.quantize import output_agreement, quantize_model
from loomsight.training.registry import INT8_FILE, ONNX_FILE
from tests.conftest import RunCli
from tests.inference.conftest import _calibrate, fabric_images

pytestmark = pytest.mark.slow

IMGSZ = 160
CALIBRATION = 8


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """yolov8n with the fabric classes, image-dependent outputs, saved as a .pt checkpoint."""
    if importlib.util.find_spec("ultralytics") is None:
        pytest.skip("ultralytics is not installed (train extra)")
    import torch
    import yaml

    folder = tmp_path_factory.mktemp("checkpoint")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LOOMSIGHT_HOME", str(folder / "home"))
        ultralytics = load_ultralytics()
    source = Path(str(ultralytics.__file__)).parent / "cfg" / "models" / "v8" / "yolov8.yaml"
    config = yaml.safe_load(source.read_text(encoding="utf-8"))
    config.update(nc=len(FABRIC_CLASSES), scale="n")
    (folder / "yolov8n.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    torch.manual_seed(0)
    model = ultralytics.YOLO(str(folder / "yolov8n.yaml"), task="detect")
    model.model.names = dict(enumerate(FABRIC_CLASSES))
    _calibrate(model.model)
    model.save(str(folder / "model.pt"))
    return folder / "model.pt"


@pytest.fixture(scope="module")
def calibration(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Synthetic fabric frames of assorted sizes, grey and colour (letterboxed when read)."""
    folder = tmp_path_factory.mktemp("calibration")
    paths = [folder / f"frame_{k}.png" for k in range(CALIBRATION)]
    for path, image in zip(paths, fabric_images(CALIBRATION, seed=21), strict=True):
        write_image(path, image)
    return paths


@pytest.fixture(scope="module")
def exported(
    checkpoint: Path, calibration: list[Path], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """weights/tiny with model.onnx and model.int8.onnx; its folder."""
    weights = tmp_path_factory.mktemp("weights")
    export_model(
        ExportOptions(
            checkpoint=checkpoint,
            name="tiny",
            weights_dir=weights,
            sample_images=calibration[:2],
            imgsz=IMGSZ,
            int8=True,
            calibration_images=calibration,
        )
    )
    return weights / "tiny"


def _raw_outputs(path: Path, images: list[Any]) -> Any:
    detector = OnnxDetector(path)
    letterboxed = [letterbox(as_bgr(image), (IMGSZ, IMGSZ))[0] for image in images]
    batch = to_model_input(letterboxed, detector.input_form)
    return detector.session.run(None, {detector.input_name: batch})[0]


def test_the_card_records_the_int8_file(exported: Path) -> None:
    card = read_card(exported)
    assert card.int8 is not None and card.int8.file == INT8_FILE == "model.int8.onnx"
    int8_path = exported / INT8_FILE
    assert card.int8.precision == "int8" and card.int8.size_bytes == int8_path.stat().st_size
    assert card.int8.sha256 == hashlib.sha256(int8_path.read_bytes()).hexdigest()
    assert card.int8.sha256 != card.onnx.sha256
    assert card.training["quantization"]["calibration_images"] == CALIBRATION
    assert "QuickGelu" in card.training["quantization"]["silu"]
    assert card.training["quantization"]["input"].startswith("uint8 BxHxWx3 BGR pixels")
    assert card.int8.size_bytes < 0.4 * card.onnx.size_bytes  # int8 weights: about a quarter


def test_the_int8_file_runs_in_the_detector(exported: Path) -> None:
    card = read_card(exported)
    detector = OnnxDetector(exported / INT8_FILE, DetectorOptions(conf_threshold=0.1))
    assert detector.model_version == f"{card.version}+int8"
    assert detector.input_form is InputForm.PIXELS  # and the fp32 file takes float tensors:
    assert OnnxDetector(exported / ONNX_FILE).input_form is InputForm.TENSOR
    assert detector.input_size_hw == (IMGSZ, IMGSZ) and detector.batch_size is None  # dynamic
    assert detector.names == tuple(FABRIC_CLASSES)
    frames = fabric_images(3, seed=40)
    found = detector.detect_batch(frames)  # tiled: several images per run
    assert len(found) == 3
    assert sum(len(d) for d in found) > 0
    for frame, detections in zip(frames, found, strict=True):
        assert detections.xyxy_px.shape == (len(detections), 4)
        assert detections.xyxy_px[:, 2].max(initial=0) <= frame.shape[1]
    fp32, int8 = (_raw_outputs(exported / name, frames[1:]) for name in (ONNX_FILE, INT8_FILE))
    assert int8.shape == fp32.shape == (2, 4 + len(FABRIC_CLASSES), 525)


def test_the_graph_is_quantized_except_the_decode(exported: Path) -> None:
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(exported / INT8_FILE))
    ops = [node.op_type for node in model.graph.node]
    assert ops.count("QuantizeLinear") > 50 and ops.count("DequantizeLinear") > 100
    int8_weights = [
        tensor.name
        for tensor in model.graph.initializer
        if tensor.data_type == onnx.TensorProto.INT8 and len(tensor.dims) == 4
    ]
    convs = [node for node in model.graph.node if node.op_type == "Conv"]
    assert len(int8_weights) == len(convs) - 1  # all but the DFL's fixed 0..15 convolution
    # 7-bit weights: no pair of products saturates AVX2's 16-bit sums (quantize.py)
    values = {tensor.name: numpy_helper.to_array(tensor) for tensor in model.graph.initializer}
    ranges = [(int(values[name].min()), int(values[name].max())) for name in int8_weights]
    assert min(low for low, _ in ranges) >= -64 and max(high for _, high in ranges) <= 64
    assert min(low for low, _ in ranges) == -64 or max(high for _, high in ranges) == 64
    producer = {output: node for node in model.graph.node for output in node.output}
    last = producer["output0"]
    assert last.op_type == "Concat"
    assert all(producer[name].op_type != "DequantizeLinear" for name in last.input)  # in fp32
    assert re.fullmatch(r"/model\.22/.*", last.name)
    # every SiLU of the fp32 file is one QuickGelu between dequantize and quantize; the decode's
    # class-score sigmoid alone stays a Sigmoid
    fp32 = onnx.load(str(exported / ONNX_FILE))
    silus = [node for node in fp32.graph.node if node.op_type == "Sigmoid" and "/act/" in node.name]
    gelus = [node for node in model.graph.node if node.op_type == "QuickGelu"]
    assert len(gelus) == len(silus) > 50
    fp32_ops = [node.op_type for node in fp32.graph.node]
    assert ops.count("Sigmoid") == 1 and ops.count("Mul") == fp32_ops.count("Mul") - len(silus)
    consumers = {name: node for node in model.graph.node for name in node.input}
    for gelu in gelus:
        assert producer[gelu.input[0]].op_type == "DequantizeLinear"
        assert consumers[gelu.output[0]].op_type == "QuantizeLinear"


def test_int8_outputs_stay_close_to_fp32(exported: Path) -> None:
    """On frames like the calibration ones. Measured on this random-weight model: score
    correlation 0.72, mean score difference 0.013, mean box difference 1 to 2.5 px at 160.
    Its scores vary little (std 0.04) so quantization noise weighs more than on a trained model;
    the bounds still fail if the head is quantized (all scores 0) or calibration is off."""
    images = fabric_images(6, seed=33)
    fp32, int8 = (_raw_outputs(exported / name, images) for name in (ONNX_FILE, INT8_FILE))
    agreement = output_agreement(fp32, int8)
    assert agreement["score_correlation"] > 0.6, agreement
    assert np.abs(fp32[:, 4:] - int8[:, 4:]).mean() < 0.03
    assert np.abs(fp32[:, :4] - int8[:, :4]).mean() < 4.0  # px, of 160


def test_pixels_in_give_what_the_float_input_gives(
    exported: Path, calibration: list[Path], tmp_path: Path
) -> None:
    """The int8 file quantized again with the fp32 file's float input: both give the same
    outputs on the same images (the pixel input's step may be finer than calibration chose)."""
    tensor_input = tmp_path / "model.int8.onnx"
    quantize_model(exported / ONNX_FILE, tensor_input, calibration, pixels=False)
    assert OnnxDetector(tensor_input).input_form is InputForm.TENSOR
    images = fabric_images(4, seed=33)
    pixels, tensor = (_raw_outputs(path, images) for path in (exported / INT8_FILE, tensor_input))
    agreement = output_agreement(tensor, pixels)
    assert agreement["score_correlation"] > 0.99, agreement
    assert np.abs(pixels[:, :4] - tensor[:, :4]).mean() < 0.5  # px, of 160


@pytest.mark.parametrize(
    ("images", "error", "message"),
    [
        ([], TrainingError, "no calibration images given"),
        (["missing.png"], TrainingError, r"missing\.png: image file does not exist"),
        (["corrupt.png"], TrainingError, r"corrupt\.png: not a readable image"),
    ],
)
def test_calibration_errors_name_the_problem(
    exported: Path, tmp_path: Path, images: list[str], error: type[Exception], message: str
) -> None:
    (tmp_path / "corrupt.png").write_bytes(b"not an image")
    with pytest.raises(error, match=message):
        quantize_model(
            exported / ONNX_FILE, tmp_path / INT8_FILE, [tmp_path / name for name in images]
        )
    assert not (tmp_path / INT8_FILE).exists()


def test_a_missing_model_file_is_named(tmp_path: Path, calibration: list[Path]) -> None:
    with pytest.raises(ModelFileError, match=r"nothing\.onnx: no such ONNX file"):
        quantize_model(tmp_path / "nothing.onnx", tmp_path / INT8_FILE, calibration)


def test_cli_exports_int8_and_evaluates_both(
    checkpoint: Path, calibration: list[Path], tmp_path: Path, run_cli: RunCli
) -> None:
    generate_dataset(SynthOptions(count=6, seed=2, size_wh=(160, 160)), tmp_path / "data")
    weights = tmp_path / "weights"
    result = run_cli(
        "export",
        str(checkpoint),
        "--name",
        "cli",
        "--weights",
        str(weights),
        "--imgsz",
        str(IMGSZ),
        "--samples",
        str(calibration[0].parent),
        "--int8",
        "--calibration",
        str(calibration[0].parent),
        "--data",
        str(tmp_path / "data" / "data.yaml"),
        check=True,
    )
    assert "model.int8.onnx" in result.stdout and "int8" in result.stdout
    card = read_card(weights / "cli")
    assert card.int8 is not None
    for figures in (card.metrics["onnx"], card.int8.metrics["onnx"]):
        assert figures["images"] == 6 and 0.0 <= figures["map50"] <= 1.0
    assert card.int8.metrics["onnx"]["model"] == f"{card.version}+int8"

    # `models requantize` writes the int8 copy again: a stale file (one quantized another way,
    # as with full-range weights before 2026-11-28; here another file) is replaced, the version
    # and the fp32 file stay
    int8_path, fp32_path = weights / "cli" / INT8_FILE, weights / "cli" / ONNX_FILE
    fp32_bytes = fp32_path.read_bytes()
    int8_path.write_bytes(fp32_bytes)
    no_data = run_cli(
        *("models", "requantize", "cli", "--weights", str(weights)),
        *("--calibration", str(calibration[0].parent)),
    )
    assert no_data.returncode == 0, no_data.stderr
    again = read_card(weights / "cli")
    assert again.version == card.version and fp32_path.read_bytes() == fp32_bytes
    assert again.int8 is not None and again.int8.sha256 == file_sha256(int8_path)
    assert again.int8.sha256 == card.int8.sha256  # the recipe is deterministic
    assert again.int8.metrics == {}  # the old figures were of another file
    assert "7-bit" in again.training["quantization"]["weights"]
    missing = run_cli("models", "requantize", "cli", "--weights", str(weights))
    assert missing.returncode != 0
    assert "cannot find its training data; pass --calibration DIR" in missing.stderr
