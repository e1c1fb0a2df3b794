"""int8_silu: a small conv net with SiLU activations, quantized by onnxruntime as the export does,
then its SiLUs rewritten as QuickGelu and run in ONNX Runtime beside the graph before."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from loomsight.training.int8_silu import MICROSOFT_DOMAIN, silu_as_quickgelu

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

SHAPE = [1, 4, 12, 12]


def _fp32_model(other_gate: bool = False) -> Any:
    """input -> Conv -> SiLU -> Conv -> SiLU -> output, plus a Sigmoid whose result is an output
    (no Mul after it). With OTHER_GATE the second activation is y * sigmoid(x), not a SiLU."""
    rng = np.random.default_rng(0)
    weights = [
        numpy_helper.from_array(rng.normal(0, 0.5, (4, 4, 3, 3)).astype(np.float32), f"w{k}")
        for k in (1, 2)
    ]
    nodes = [
        helper.make_node("Conv", ["input", "w1"], ["c1"], name="/m.0/conv/Conv", pads=[1] * 4),
        helper.make_node("Sigmoid", ["c1"], ["s1"], name="/m.0/act/Sigmoid"),
        helper.make_node("Mul", ["c1", "s1"], ["a1"], name="/m.0/act/Mul"),
        helper.make_node("Conv", ["a1", "w2"], ["c2"], name="/m.1/conv/Conv", pads=[1] * 4),
        helper.make_node("Sigmoid", ["c2"], ["s2"], name="/m.1/act/Sigmoid"),
        helper.make_node(
            "Mul", ["a1" if other_gate else "c2", "s2"], ["output"], name="/m.1/act/Mul"
        ),
        helper.make_node("Sigmoid", ["output"], ["scores"], name="/m.2/Sigmoid"),
    ]
    outputs = [
        helper.make_tensor_value_info(name, TensorProto.FLOAT, SHAPE)
        for name in ("output", "scores")
    ]
    graph = helper.make_graph(
        nodes,
        "silu-net",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, SHAPE)],
        outputs,
        initializer=weights,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])


class _Reader:
    def __init__(self, batches: list[np.ndarray]) -> None:
        self.batches = iter(batches)

    def get_next(self) -> dict[str, np.ndarray] | None:
        batch = next(self.batches, None)
        return None if batch is None else {"input": batch}


def _inputs(seed: int, count: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.uniform(0, 1, SHAPE).astype(np.float32) for _ in range(count)]


def _quantized(tmp_path: Path, other_gate: bool = False) -> Any:
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

    fp32_path, int8_path = tmp_path / "fp32.onnx", tmp_path / "int8.onnx"
    onnx.save(_fp32_model(other_gate), str(fp32_path))
    quantize_static(
        str(fp32_path),
        str(int8_path),
        _Reader(_inputs(1, 16)),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        nodes_to_exclude=["/m.2/Sigmoid"],  # the decode stays fp32, as the detector's does
    )
    return onnx.load(str(int8_path))


def _run(model: Any, batch: np.ndarray) -> list[np.ndarray]:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return [np.asarray(out) for out in session.run(None, {"input": batch})]


def test_each_quantized_silu_becomes_one_quickgelu(tmp_path: Path) -> None:
    model = _quantized(tmp_path)
    before_ops = [node.op_type for node in model.graph.node]
    assert before_ops.count("Sigmoid") == 3 and before_ops.count("Mul") == 2
    before_initializers = len(model.graph.initializer)
    assert silu_as_quickgelu(model) == 2
    ops = [node.op_type for node in model.graph.node]
    assert "Mul" not in ops and ops.count("Sigmoid") == 1  # the fp32 decode sigmoid stays
    gelus = [node for node in model.graph.node if node.op_type == "QuickGelu"]
    assert [node.name for node in gelus] == ["/m.0/act/QuickGelu", "/m.1/act/QuickGelu"]
    for node in gelus:
        assert node.domain == MICROSOFT_DOMAIN
        assert helper.get_attribute_value(node.attribute[0]) == pytest.approx(1.0)
    # one Q and one DQ fewer per activation; the sigmoids' scales and zero points dropped
    assert ops.count("QuantizeLinear") == before_ops.count("QuantizeLinear") - 2
    assert ops.count("DequantizeLinear") == before_ops.count("DequantizeLinear") - 2
    used = {name for node in model.graph.node for name in node.input}
    assert all(tensor.name in used for tensor in model.graph.initializer)
    assert len(model.graph.initializer) == before_initializers - 4
    assert any(opset.domain == MICROSOFT_DOMAIN for opset in model.opset_import)


def test_the_rewritten_model_computes_the_same_within_a_quantization_step(
    tmp_path: Path,
) -> None:
    before = _quantized(tmp_path)
    after = _quantized(tmp_path)
    silu_as_quickgelu(after)
    fp32 = _fp32_model()
    # the output keeps the quantization the Mul it replaced had: one uint8 step of it
    scale = next(t for t in after.graph.initializer if t.name == "output_scale")
    step = float(numpy_helper.to_array(scale))
    for batch in _inputs(7, 3):
        reference = _run(fp32, batch)[0]
        old, new = _run(before, batch)[0], _run(after, batch)[0]
        # a first activation one step apart moves the second convolution by a few steps at most
        assert np.abs(new - old).mean() <= 0.5 * step
        assert np.abs(new - old).max() <= 4 * step
        # and no further from fp32: the sigmoid is no longer rounded on its own
        assert np.abs(new - reference).mean() <= np.abs(old - reference).mean() * 1.05
        assert not np.array_equal(new, old)  # it did run the rewritten graph


def test_a_gate_of_another_tensor_is_not_a_silu(tmp_path: Path) -> None:
    model = _quantized(tmp_path, other_gate=True)
    assert silu_as_quickgelu(model) == 1  # the first activation only
    ops = [node.op_type for node in model.graph.node]
    assert ops.count("QuickGelu") == 1 and ops.count("Mul") == 1


def test_a_float_model_is_left_alone() -> None:
    model = _fp32_model()
    before = model.SerializeToString()
    assert silu_as_quickgelu(model) == 0  # no quantize/dequantize between Sigmoid and Mul
    assert model.SerializeToString() == before
