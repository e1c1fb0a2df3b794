"""The int8 detector's input as the letterboxed pixels themselves: uint8 BxHxWx3, BGR.

The exported detector takes a float32 Bx3xHxW tensor, RGB in [0, 1]. `quantize_static` turns it
straight back into 8 bits: its first node is a QuantizeLinear, scale 1/255 and zero point 0 when
the calibration images held black and white, which gives back exactly the pixel values. So each
image was converted twice for nothing: by the detector into floats (`to_input_tensor`, 0.18 ms
for a 416 image) and by the model back into uint8 (0.10 ms), then transposed to the channels-last
layout ONNX Runtime runs int8 convolutions in (0.10 ms): 0.4 of the int8 model's 9 ms (1 thread).

`pixels_input` rewrites that start of the graph: the input is the uint8 BxHxWx3 BGR image as
letterboxed; a Transpose to Bx3xHxW takes the QuantizeLinear's place (ONNX Runtime cancels it
against its own transpose to channels-last); the input's scale is set to exactly 1/255 and its
zero point to 0; the first convolution's int8 weights take their input channels in BGR order.
The outputs are those of the float input (the same to the last bit on the shipped model). The
detector reads the form from the file (inference/model_input.py). What it gains:
benchmarks/int8_throughput.py and benchmarks/detector_latency.py.
"""

from __future__ import annotations

from typing import Any

import numpy as np

PIXEL_SCALE = np.float32(1 / 255)


def pixels_input(model: Any) -> bool:
    """Rewrite, in place, MODEL (an onnx ModelProto in QDQ format, as quantize_model makes it) to
    take uint8 BxHxWx3 BGR pixels; False, and MODEL unchanged, if its start is not the float
    input -> QuantizeLinear -> DequantizeLinear -> 3-channel convolutions this expects."""
    from onnx import TensorProto, helper, numpy_helper

    graph = model.graph
    if len(graph.input) != 1:
        return False
    source = graph.input[0]
    tensor_type = source.type.tensor_type
    dims = list(tensor_type.shape.dim)
    if tensor_type.elem_type != TensorProto.FLOAT or len(dims) != 4 or dims[1].dim_value != 3:
        return False
    consumers: dict[str, list[Any]] = {}
    producers: dict[str, Any] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
        for name in node.output:
            producers[name] = node
    initializers = {tensor.name: tensor for tensor in graph.initializer}

    quantize = consumers.get(source.name, [])
    if len(quantize) != 1 or quantize[0].op_type != "QuantizeLinear":
        return False
    [quantize_node] = quantize
    scale_zero = list(quantize_node.input[1:3])
    if len(scale_zero) != 2 or not all(name in initializers for name in scale_zero):
        return False
    dequantizes = consumers.get(quantize_node.output[0], [])
    first_weights: list[Any] = []
    for dequantize in dequantizes:
        if dequantize.op_type != "DequantizeLinear" or list(dequantize.input[1:3]) != scale_zero:
            return False
        for conv in consumers.get(dequantize.output[0], []):
            weights = _first_conv_weights(
                conv, dequantize.output[0], producers, consumers, initializers
            )
            if weights is None:
                return False
            first_weights.append(weights)
    users = {name: len(consumers.get(name, [])) for name in scale_zero}
    if not first_weights or any(count != 1 + len(dequantizes) for count in users.values()):
        return False  # the input's scale is shared with other tensors: leave it alone

    scale, zero = (initializers[name] for name in scale_zero)
    zero_point = numpy_helper.to_array(zero)
    if zero_point.dtype != np.uint8:
        return False  # signed 8 bits cannot hold the pixel values 128 to 255
    scale.CopyFrom(numpy_helper.from_array(np.array(PIXEL_SCALE), scale.name))
    zero.CopyFrom(numpy_helper.from_array(np.zeros_like(zero_point), zero.name))
    for weights in {id(tensor): tensor for tensor in first_weights}.values():
        bgr = np.ascontiguousarray(numpy_helper.to_array(weights)[:, ::-1])
        weights.CopyFrom(numpy_helper.from_array(bgr, weights.name))

    batch, height, width = (dims[0], dims[2], dims[3])
    pixels = helper.make_tensor_value_info(
        source.name,
        TensorProto.UINT8,
        [d.dim_param or d.dim_value for d in (batch, height, width)] + [3],
    )
    transpose = helper.make_node(
        "Transpose",
        [source.name],
        [quantize_node.output[0]],
        perm=[0, 3, 1, 2],
        name=f"{source.name}_pixels_to_bx3xhxw",
    )
    kept = [transpose, *(node for node in graph.node if node is not quantize_node)]
    del graph.node[:]
    graph.node.extend(kept)
    graph.input.remove(source)
    graph.input.insert(0, pixels)
    return True


def _first_conv_weights(
    conv: Any,
    input_name: str,
    producers: dict[str, Any],
    consumers: dict[str, list[Any]],
    initializers: dict[str, Any],
) -> Any | None:
    """The int8 weight initializer of CONV if it takes INPUT_NAME (3 channels) as its data, its
    weights through a DequantizeLinear per output channel that nothing else uses; else None."""
    from onnx import TensorProto

    if conv.op_type != "Conv" or list(conv.input[:1]) != [input_name] or len(conv.input) < 2:
        return None
    group = next((a.i for a in conv.attribute if a.name == "group"), 1)
    dequantize = producers.get(conv.input[1])
    if group != 1 or dequantize is None or dequantize.op_type != "DequantizeLinear":
        return None
    axis = next((a.i for a in dequantize.attribute if a.name == "axis"), 1)
    weights = initializers.get(dequantize.input[0])
    scale = initializers.get(dequantize.input[1])
    if weights is None or scale is None or weights.data_type != TensorProto.INT8:
        return None
    if consumers.get(weights.name) != [dequantize] or consumers.get(conv.input[1]) != [conv]:
        return None  # weights shared with another node
    per_output_channel = axis == 0 or len(scale.dims) == 0
    if len(weights.dims) != 4 or weights.dims[1] != 3 or not per_output_channel:
        return None
    return weights
