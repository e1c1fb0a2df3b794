"""A softmax over an inner axis, written out: the same numbers, no Softmax node left."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper

from loomsight.training.softmax_axis import write_out_inner_softmax


def two_softmaxes() -> onnx.ModelProto:
    """x [2, 16, 4, 50] -> softmax over axis 1 (as ultralytics' box decoder) and over the last."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 16, 4, 50])
    inner = helper.make_tensor_value_info("inner", TensorProto.FLOAT, [2, 16, 4, 50])
    last = helper.make_tensor_value_info("last", TensorProto.FLOAT, [2, 16, 4, 50])
    nodes = [
        helper.make_node("Softmax", ["x"], ["inner"], axis=1, name="/model.22/dfl/Softmax"),
        helper.make_node("Softmax", ["x"], ["last"], axis=-1, name="/other/Softmax"),
    ]
    graph = helper.make_graph(nodes, "g", [x], [inner, last])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])


def run(model: onnx.ModelProto, x: np.ndarray) -> list[np.ndarray]:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return [np.asarray(out) for out in session.run(None, {"x": x})]


def test_the_inner_softmax_is_written_out_and_gives_the_same_numbers() -> None:
    model = two_softmaxes()
    x = (np.random.default_rng(3).normal(size=(2, 16, 4, 50)) * 8).astype(np.float32)
    x[0, :, 0, 0] = 200.0  # large logits: the max is taken off before exp, nothing overflows
    expected = run(model, x)
    assert write_out_inner_softmax(model) == 1
    onnx.checker.check_model(model)
    assert [node.op_type for node in model.graph.node] == [
        "ReduceMax", "Sub", "Exp", "ReduceSum", "Div", "Softmax"
    ]  # fmt: skip
    assert all(n.name.startswith("/model.22/dfl/Softmax/") for n in model.graph.node[:5])
    got = run(model, x)
    assert np.isfinite(got[0]).all()
    np.testing.assert_allclose(got[0], expected[0], atol=1e-6)
    np.testing.assert_allclose(got[0].sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(got[1], expected[1])  # the last-axis softmax left as it was
    assert write_out_inner_softmax(model) == 0
