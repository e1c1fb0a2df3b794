"""Softmax over an axis other than the last, written out as the operations it stands for.

The detection head of a YOLOv8-style model decodes its box distances with a softmax over 16 bins
along axis 1 of a [batch, 16, 4, anchors] tensor (ultralytics' DFL). ONNX Runtime's CPU kernel
computes a softmax over an inner axis by transposing it to the last axis and back, which costs
more than the softmax itself: 1.40 ms per 416-px image on this CPU (1 thread), 4.69 ms for a batch
of 3 (an image and its two flip views), against 0.22 ms and 0.31 ms for the same softmax written
as ReduceMax, Sub, Exp, ReduceSum and Div (largest difference 4e-7). The exported detector has it
written out (`loomsight export`); the parity check compares the result with the checkpoint.

The new nodes are named after the softmax they replace, so that they stay in the detection head
(`/model.N/...`), which int8 quantization keeps in fp32.
"""

from __future__ import annotations

from typing import Any


def write_out_inner_softmax(model: Any) -> int:
    """Replace, in place, every Softmax of MODEL (an onnx ModelProto, opset 18 or later) over an
    axis that is not the last by max-subtracted exponentials over their sum; how many."""
    from onnx import TensorProto, helper, shape_inference

    ranks = _ranks(shape_inference.infer_shapes(model))
    graph, replaced = model.graph, 0
    for index, node in reversed(list(enumerate(graph.node))):
        if node.op_type != "Softmax":
            continue
        axis = next((a.i for a in node.attribute if a.name == "axis"), -1)
        rank = ranks.get(node.input[0])
        if rank is None or axis in (-1, rank - 1):
            continue
        name, source, result = node.name, node.input[0], node.output[0]
        axes = f"{name}/axes"
        graph.initializer.append(helper.make_tensor(axes, TensorProto.INT64, [1], [axis]))
        steps = [  # op type, inputs, output
            ("ReduceMax", [source, axes], f"{name}/max"),
            ("Sub", [source, f"{name}/max"], f"{name}/shifted"),
            ("Exp", [f"{name}/shifted"], f"{name}/exp"),
            ("ReduceSum", [f"{name}/exp", axes], f"{name}/sum"),
            ("Div", [f"{name}/exp", f"{name}/sum"], result),
        ]
        written_out = [
            helper.make_node(op, inputs, [output], name=f"{name}/{op}")
            for op, inputs, output in steps
        ]
        del graph.node[index]
        for offset, new in enumerate(written_out):
            graph.node.insert(index + offset, new)
        replaced += 1
    return replaced


def _ranks(model: Any) -> dict[str, int]:
    """The rank of each value whose shape ONNX shape inference knows."""
    values = [*model.graph.input, *model.graph.value_info, *model.graph.output]
    return {
        value.name: len(value.type.tensor_type.shape.dim)
        for value in values
        if value.type.tensor_type.HasField("shape")
    }
