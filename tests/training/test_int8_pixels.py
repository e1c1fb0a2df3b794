"""int8_pixels: a small conv net with a float RGB input, quantized by onnxruntime as the export
does, then rewritten to take uint8 BGR pixels, and run in ONNX Runtime beside the graph before."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from loomsight.inference.letterbox import to_input_tensor
from loomsight.training.int8_pixels import PIXEL_SCALE, pixels_input

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

DIMS = ["batch", 3, "height", "width"]


def _fp32_model(second_use_of_input: bool = False) -> Any:
    """input (RGB in [0, 1]) -> Conv 3->4 -> Relu -> Conv 4->4 -> output; with
    SECOND_USE_OF_INPUT the input also goes to an output of its own (its mean)."""
    rng = np.random.default_rng(0)
    weights = [
        numpy_helper.from_array(rng.normal(0, 0.5, shape).astype(np.float32), name)
        for name, shape in (("w1", (4, 3, 3, 3)), ("w2", (4, 4, 3, 3)))
    ]
    nodes = [
        helper.make_node("Conv", ["images", "w1"], ["c1"], name="/m.0/Conv", pads=[1] * 4),
        helper.make_node("Relu", ["c1"], ["r1"], name="/m.0/Relu"),
        helper.make_node("Conv", ["r1", "w2"], ["output"], name="/m.1/Conv", pads=[1] * 4),
    ]
    outputs = [helper.make_tensor_value_info("output", TensorProto.FLOAT, None)]
    if second_use_of_input:
        nodes.append(helper.make_node("ReduceMean", ["images"], ["mean"], keepdims=0))
        outputs.append(helper.make_tensor_value_info("mean", TensorProto.FLOAT, None))
    graph = helper.make_graph(
        nodes,
        "rgb-net",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, DIMS)],
        outputs,
        initializer=weights,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])


def _pixels(seed: int, count: int, low: int = 0, high: int = 256) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(low, high, (12, 16, 3), dtype=np.uint8) for _ in range(count)]


class _Reader:
    def __init__(self, images: list[np.ndarray]) -> None:
        self.batches = iter([to_input_tensor([image]) for image in images])

    def get_next(self) -> dict[str, np.ndarray] | None:
        batch = next(self.batches, None)
        return None if batch is None else {"images": batch}


def _quantized(
    tmp_path: Path, calibration: list[np.ndarray], signed: bool = False, **kwargs: bool
) -> Any:
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

    fp32_path, int8_path = tmp_path / "fp32.onnx", tmp_path / "int8.onnx"
    onnx.save(_fp32_model(**kwargs), str(fp32_path))
    quantize_static(
        str(fp32_path),
        str(int8_path),
        _Reader(calibration),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        reduce_range=True,  # 7-bit weights: the same outputs with or without VNNI (quantize.py)
        activation_type=QuantType.QInt8 if signed else QuantType.QUInt8,
        weight_type=QuantType.QInt8,
    )
    return onnx.load(str(int8_path))


def _run(model: Any, batch: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return np.asarray(session.run(None, {"images": batch})[0])


def _input_scale(model: Any) -> tuple[float, int]:
    initializers = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    [start] = [node for node in model.graph.node if "images" in node.input]
    consumer = next(node for node in model.graph.node if start.output[0] in node.input)
    scale, zero = consumer.input[1:3]
    return float(initializers[scale]), int(initializers[zero])


def test_the_rewritten_model_takes_bgr_pixels_and_gives_the_same_outputs(tmp_path: Path) -> None:
    model = _quantized(tmp_path, _pixels(1, 8))  # black and white pixels among them: 1/255
    images = np.stack(_pixels(2, 3))  # BGR, as letterboxed
    before = _run(model, to_input_tensor(list(images)))
    assert pixels_input(model) is True
    onnx.checker.check_model(model)
    [source] = model.graph.input
    assert source.type.tensor_type.elem_type == TensorProto.UINT8
    assert [d.dim_param or d.dim_value for d in source.type.tensor_type.shape.dim] == [
        "batch",
        "height",
        "width",
        3,
    ]
    ops = [node.op_type for node in model.graph.node]
    assert ops[0] == "Transpose" and ops.count("QuantizeLinear") == 2  # the input's is gone
    assert _input_scale(model) == (pytest.approx(float(PIXEL_SCALE), rel=1e-7), 0)
    np.testing.assert_allclose(_run(model, images), before, rtol=0, atol=1e-5)


def test_an_input_calibrated_on_a_narrow_range_gets_the_pixel_step(tmp_path: Path) -> None:
    model = _quantized(tmp_path, _pixels(1, 8, low=60, high=200))
    scale, _ = _input_scale(model)
    assert scale < 0.9 * float(PIXEL_SCALE)  # calibration kept to 0..200: a finer step
    fp32 = _run(_fp32_model(), to_input_tensor(_pixels(2, 2, low=60, high=200)))
    assert pixels_input(model) is True
    assert _input_scale(model) == (pytest.approx(float(PIXEL_SCALE), rel=1e-7), 0)
    got = _run(model, np.stack(_pixels(2, 2, low=60, high=200)))
    assert np.corrcoef(got.ravel(), fp32.ravel())[0, 1] > 0.99  # pixels exactly, no clipping


@pytest.mark.parametrize("make", ["fp32", "shared input", "signed activations"])
def test_a_graph_that_starts_otherwise_is_left_alone(tmp_path: Path, make: str) -> None:
    if make == "fp32":
        model = _fp32_model()  # the input goes straight to a Conv
    elif make == "shared input":
        model = _quantized(tmp_path, _pixels(1, 4), second_use_of_input=True)
    else:  # int8 activations: the input's zero point is signed
        model = _quantized(tmp_path, _pixels(1, 4), signed=True)
    before = model.SerializeToString()
    assert pixels_input(model) is False
    assert model.SerializeToString() == before
