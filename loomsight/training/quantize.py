"""A statically quantized (INT8) copy of an exported detector, calibrated on training images.

Choices, measured on yolov8n (trained on synthetic fabric at 320, scored on 300 fresh images with
tiling off; speed with benchmarks/int8_throughput.py; see also ../shared/ENVIRONMENT.md):
- onnxruntime's `quant_pre_process` (ONNX shape inference: the symbolic one fails on our dynamic
  axes; graph optimisation), then `quantize_static`: QDQ (QOperator ran slower, ENVIRONMENT.md),
  int8 weights per output channel (per tensor was no faster), uint8 activations, batch 1, at the
  model's input size, on the images given (the CLI takes 32 of the training split).
- Calibration tensors come from the detector's own preprocessing (`letterbox`, `to_input_tensor`),
  so the int8 ranges are those of the frames the camera feeds.
- Weights in the 7-bit range (-64 to 64, `reduce_range`). ONNX Runtime multiplies uint8
  activations by int8 weights with one VNNI instruction where the CPU has it, and with AVX2's
  `vpmaddubsw` where it has not (inference/cpu_info.py); that one adds two products into 16 bits
  and saturates: 2 x 255 x 127 does not fit, 2 x 255 x 64 does. With full-range weights the same
  file gave other outputs on an AVX2-only CPU (AMD EPYC, Zen 3) than where it was made: a
  random-weight model's int8 scores correlated 0.36 with fp32 there against 0.72, the pixel-input
  rewrite (BGR weight order: other pairs saturate) no longer matched the float input, and the
  default model scored real test mAP50 0.946 there against 0.955. With 7-bit weights no sum
  saturates: the same outputs on every x86 CPU, so the card's int8 figures hold on the camera's.
- MinMax calibration: mAP50 0.4 to 0.7 points under fp32. Percentile came out 0.3 to 0.7 points
  above fp32, within the noise of 300 images, but took 8 GB and 26 s at 640 against 0.7 GB and
  4 s; Entropy gave the very same scales as MinMax. `method` chooses another.
- The detection head's decode stays in fp32: every node of the last module (`/model.N/`) outside
  its convolution branches (`cv2`, `cv3`): the DFL softmax, anchor and stride arithmetic, sigmoid
  and final concat. Quantized, that concat shares one uint8 scale between box coordinates (0 to
  640 px) and scores (0 to 1): every score became 0, mAP 0. Keeping the branches' last
  convolutions in fp32 as well changed nothing measurable; quantizing the DFL softmax too saved no
  time end to end and made boxes 10% less exact.
- Each SiLU activation, which quantize_static splits into a quantized Sigmoid and a quantized
  Mul, is written back as one QuickGelu in fp32 between dequantize and quantize (int8_silu.py):
  the int8 model ran 8% faster for it (1 thread, 416 px), as close to fp32 as before.
- The input is the letterboxed uint8 BGR image itself, BxHxWx3 (int8_pixels.py): the model
  quantized the float tensor back to those pixel values first thing. 0.4 ms less per 416 image.
- The dynamic axes of our export (batch, height, width) survive: the quantized model takes the
  same images and gives the same outputs as the fp32 one, which is checked before the file is
  written.
"""

from __future__ import annotations

import logging
import re
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from loomsight.datasets.layout import read_image
from loomsight.errors import DatasetError, ModelFileError, TrainingError
from loomsight.inference.letterbox import (
    Float32Array,
    UInt8Array,
    as_bgr,
    letterbox,
    to_input_tensor,
)
from loomsight.inference.model_card import ModelCard, OnnxFile, read_card, write_card
from loomsight.inference.model_input import InputForm, input_form
from loomsight.training.evaluate import Evaluation, evaluate_onnx
from loomsight.training.int8_pixels import pixels_input
from loomsight.training.int8_silu import silu_as_quickgelu
from loomsight.training.registry import INT8_FILE, ONNX_FILE

logger = logging.getLogger(__name__)

CalibrationMethodName = Literal["minmax", "entropy", "percentile"]
_BRANCH = re.compile(r"/(?:one2one_)?cv\d+\.\d+/")  # ultralytics' head convolution branches


class _CalibrationImages:
    """onnxruntime's CalibrationDataReader protocol: one letterboxed image per `get_next`."""

    def __init__(self, input_name: str, images: Sequence[UInt8Array]) -> None:
        self.input_name, self.images, self.position = input_name, images, 0

    def get_next(self) -> dict[str, Float32Array] | None:
        if self.position >= len(self.images):
            return None
        self.position += 1
        return {self.input_name: to_input_tensor([self.images[self.position - 1]])}

    def rewind(self) -> None:
        self.position = 0


def load_calibration_images(paths: Sequence[Path], input_hw: tuple[int, int]) -> list[UInt8Array]:
    """PATHS letterboxed into input_hw as the detector does; TrainingError if none or unreadable."""
    if not paths:
        raise TrainingError(
            "int8 calibration: no calibration images given (expected images like the training "
            "ones, e.g. 32 of the training split)"
        )
    images = []
    for path in paths:
        try:
            image = as_bgr(read_image(path))
        except (DatasetError, ValueError) as error:
            raise TrainingError(f"int8 calibration image {error}") from None
        images.append(letterbox(image, input_hw)[0])
    return images


def decode_nodes(model: Any) -> list[str]:
    """Names of the detection head's decode nodes (kept in fp32; see the module docstring)."""
    producers = {output: node for node in model.graph.node for output in node.output}
    last = producers.get(model.graph.output[0].name)
    head = re.match(r"^/model\.\d+/", last.name) if last is not None else None
    if head is None:
        logger.warning("no ultralytics detection head found by name: quantizing every node")
        return []
    return [
        node.name
        for node in model.graph.node
        if node.name.startswith(head.group(0)) and not _BRANCH.search(node.name)
    ]


def quantize_model(
    fp32_path: Path,
    out_path: Path,
    calibration_images: Sequence[Path],
    input_hw: tuple[int, int] | None = None,
    method: CalibrationMethodName = "minmax",
    keep_fp32: Callable[[Any], list[str]] = decode_nodes,
    silu_as_one_op: bool = True,
    pixels: bool = True,
) -> Path:
    """Write an int8 (QDQ) copy of the fp32 ONNX detector to out_path, calibrated on the images.

    input_hw: the calibration input size; default the `imgsz` in the file's metadata.
    keep_fp32: the names of the nodes to leave unquantized, given the pre-processed model.
    silu_as_one_op: each SiLU as one QuickGelu (False: as quantize_static leaves it, for
    benchmarks/int8_silu.py).
    pixels: the input as uint8 BxHxWx3 BGR pixels (int8_pixels.py); False: the fp32 file's float
    tensor.
    """
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if not fp32_path.is_file():
        raise ModelFileError(f"{fp32_path}: no such ONNX file to quantize")
    fp32 = onnx.load(str(fp32_path))
    input_hw = input_hw or _metadata_hw(fp32, fp32_path)
    images = load_calibration_images(calibration_images, input_hw)
    calibrate_method = {
        "minmax": CalibrationMethod.MinMax,
        "entropy": CalibrationMethod.Entropy,
        "percentile": CalibrationMethod.Percentile,
    }[method]
    with tempfile.TemporaryDirectory(prefix=".int8-", dir=out_path.parent) as folder:
        prepared, quantized = Path(folder) / "prepared.onnx", Path(folder) / "int8.onnx"
        # symbolic shape inference fails on the dynamic axes; ONNX shape inference is enough here
        quant_pre_process(str(fp32_path), str(prepared), skip_symbolic_shape=True)
        excluded = keep_fp32(onnx.load(str(prepared)))
        logger.info(
            "quantizing %s: %d calibration images at %s, %s, %d nodes kept in fp32",
            *(fp32_path, len(images), input_hw, method, len(excluded)),
        )
        quantize_static(
            str(prepared),
            str(quantized),
            _CalibrationImages(fp32.graph.input[0].name, images),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            reduce_range=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            nodes_to_exclude=excluded,
            calibrate_method=calibrate_method,
        )
        model = onnx.load(str(quantized))
        if silu_as_one_op:
            logger.info("%d SiLU activations written as QuickGelu", silu_as_quickgelu(model))
        if pixels and not pixels_input(model):
            logger.warning(
                "%s: the input stays a float tensor (not the graph start expected)", fp32_path
            )
        _copy_metadata(fp32, model)
        _check_same_io(fp32, model, fp32_path)
        onnx.save(model, str(quantized))
        quantized.replace(out_path)
    return out_path


def _metadata_hw(model: Any, path: Path) -> tuple[int, int]:
    import ast

    metadata = {prop.key: prop.value for prop in model.metadata_props}
    try:
        height, width = ast.literal_eval(metadata["imgsz"])
        return int(height), int(width)
    except (KeyError, ValueError, SyntaxError, TypeError):
        raise ModelFileError(
            f"{path}: no 'imgsz' [h, w] in the ONNX metadata; pass the input size"
        ) from None


def _copy_metadata(source: Any, target: Any) -> None:
    """ultralytics' metadata (names, imgsz, stride) and ours (model_version) onto the int8 file."""
    existing = {prop.key for prop in target.metadata_props}
    for prop in source.metadata_props:
        if prop.key not in existing:
            target.metadata_props.add(key=prop.key, value=prop.value)


def _signature(values: Any) -> list[tuple[str, int, list[str | int]]]:
    return [
        (
            value.name,
            value.type.tensor_type.elem_type,
            [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim],
        )
        for value in values
    ]


def _check_same_io(fp32: Any, int8: Any, path: Path) -> None:
    """The int8 model's outputs are the fp32 model's, and its input the same images: the same
    float tensor, or their pixels (the same batch, height and width, uint8, channels last)."""
    from onnx import TensorProto

    fp32_inputs = _signature(fp32.graph.input)
    accepted = [fp32_inputs]
    if len(fp32_inputs) == 1 and len(fp32_inputs[0][2]) == 4:
        name, _, (batch, _, height, width) = fp32_inputs[0]
        accepted.append([(name, TensorProto.UINT8, [batch, height, width, 3])])
    int8_io = (_signature(int8.graph.input), _signature(int8.graph.output))
    if int8_io[0] not in accepted or int8_io[1] != _signature(fp32.graph.output):
        raise TrainingError(
            f"{path}: the int8 model's inputs and outputs {int8_io} do not match the fp32 "
            f"model's {(fp32_inputs, _signature(fp32.graph.output))}"
        )


INPUT_DESCRIPTIONS = {
    InputForm.PIXELS: "uint8 BxHxWx3 BGR pixels, the letterboxed image itself",
    InputForm.TENSOR: "float32 Bx3xHxW RGB in [0, 1], as the fp32 file",
    None: "neither pixels nor a float tensor",
}


def _input_form(path: Path) -> InputForm | None:
    """The input form of the ONNX file at PATH (inference/model_input.py)."""
    import onnx

    value = onnx.load(str(path)).graph.input[0].type.tensor_type
    onnx_type = {onnx.TensorProto.FLOAT: "tensor(float)", onnx.TensorProto.UINT8: "tensor(uint8)"}
    dims = [d.dim_param or d.dim_value for d in value.shape.dim]
    return input_form(dims, onnx_type.get(value.elem_type, ""))


def add_int8(folder: Path, card: ModelCard, calibration_images: Sequence[Path]) -> ModelCard:
    """Quantize FOLDER/model.onnx into FOLDER/model.int8.onnx; the card, with its int8 file and the
    quantization recipe, rewritten."""
    path = quantize_model(
        folder / ONNX_FILE, folder / INT8_FILE, calibration_images, card.input_size_hw
    )
    int8 = OnnxFile.describe(path, precision="int8")
    recipe = {
        "tool": "onnxruntime.quantization.quantize_static",
        "format": "QDQ",
        "weights": "int8 in the 7-bit range (-64 to 64: no AVX2 saturation), per channel",
        "activations": "uint8",
        "calibration": "minmax",
        "calibration_images": len(calibration_images),
        "silu": "one QuickGelu in fp32 between dequantize and quantize",
        "input": INPUT_DESCRIPTIONS[_input_form(path)],
    }
    card = card.model_copy(
        update={"int8": int8, "training": {**card.training, "quantization": recipe}}
    )
    write_card(folder, card)
    return card


def add_evaluations(
    folder: Path,
    data_yaml: Path,
    split: str = "val",
    on_progress: Callable[[str, int, int], None] | None = None,
) -> tuple[ModelCard, Evaluation, Evaluation | None]:
    """Evaluate the fp32 file of the model in FOLDER (and its int8 file, if any) on SPLIT, as
    `loomsight evaluate` runs it; the figures go into the card (`metrics["onnx"]` and
    `int8.metrics["onnx"]`), which is rewritten. The card, the fp32 and the int8 figures.
    on_progress("fp32" or "int8", images done, images) after each image."""

    def progress(label: str) -> Callable[[int, int], None] | None:
        return None if on_progress is None else lambda done, total: on_progress(label, done, total)

    card = read_card(folder)
    fp32 = evaluate_onnx(folder / card.onnx.file, data_yaml, split, on_progress=progress("fp32"))
    card = card.model_copy(update={"metrics": {**card.metrics, "onnx": fp32.as_json()}})
    int8 = None
    if card.int8 is not None:
        int8 = evaluate_onnx(
            folder / card.int8.file, data_yaml, split, on_progress=progress("int8")
        )
        int8_file = card.int8.model_copy(update={"metrics": {"onnx": int8.as_json()}})
        card = card.model_copy(update={"int8": int8_file})
    write_card(folder, card)
    return card, fp32, int8


def output_agreement(fp32: Float32Array, int8: Float32Array) -> dict[str, float]:
    """How close two raw outputs are: Pearson correlation and largest difference of the scores
    (rows 4 and on) and of the boxes (rows 0 to 3, in input pixels)."""
    scores_a, scores_b = fp32[:, 4:].ravel(), int8[:, 4:].ravel()
    boxes_a, boxes_b = fp32[:, :4].ravel(), int8[:, :4].ravel()
    return {
        "score_correlation": float(np.corrcoef(scores_a, scores_b)[0, 1]),
        "score_max_diff": float(np.abs(scores_a - scores_b).max()),
        "box_max_diff_px": float(np.abs(boxes_a - boxes_b).max()),
    }
