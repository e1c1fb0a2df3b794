"""The SiLU activations of an int8 (QDQ) detector as one ONNX Runtime QuickGelu each.

YOLO models use SiLU, x * sigmoid(x), after every convolution. onnxruntime's `quantize_static`
quantizes its two halves apart: DequantizeLinear -> Sigmoid -> QuantizeLinear -> DequantizeLinear
-> Mul -> QuantizeLinear, which ONNX Runtime runs as QLinearSigmoid and QLinearMul. On this CPU
those two took 28% of the int8 model's time (yolov8n at 416, 1 thread: 3.3 ms of 11.9 with
profiling on), more than three times what the fp32 model spends on the same activations, fused
into QuickGelu (x * sigmoid(alpha * x), alpha 1: exactly SiLU). Left unquantized instead, the two
ops are not fused there and ran slower still.

`silu_as_quickgelu` writes each such chain as DequantizeLinear -> QuickGelu -> QuantizeLinear:
the activation computed once in fp32 from the dequantized input and quantized with the scale the
Mul's output had, one rounding fewer than before. QuickGelu is an ONNX Runtime operator (domain
com.microsoft), which is what runs our detectors; the fp32 file keeps standard operators only.
What it gains: benchmarks/int8_silu.py.
"""

from __future__ import annotations

from typing import Any

MICROSOFT_DOMAIN = "com.microsoft"


def silu_as_quickgelu(model: Any) -> int:
    """Rewrite, in place, each quantized SiLU of MODEL (an onnx ModelProto in QDQ format) as one
    QuickGelu; how many. The quantization parameters only those chains used are dropped."""
    from onnx import helper

    graph = model.graph
    consumers: dict[str, list[Any]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)

    def only_consumer(value: str, op_type: str) -> Any | None:
        found = consumers.get(value, [])
        return found[0] if len(found) == 1 and found[0].op_type == op_type else None

    replacements: dict[int, Any] = {}  # id of the Mul -> its QuickGelu
    removed: list[Any] = []
    for sigmoid in (node for node in graph.node if node.op_type == "Sigmoid"):
        quantize = only_consumer(sigmoid.output[0], "QuantizeLinear")
        if quantize is None:
            continue
        dequantize = only_consumer(quantize.output[0], "DequantizeLinear")
        if dequantize is None:
            continue
        multiply = only_consumer(dequantize.output[0], "Mul")
        if multiply is None:
            continue
        x = sigmoid.input[0]
        if sorted(multiply.input) != sorted([x, dequantize.output[0]]):
            continue  # not x * sigmoid(x)
        name = sigmoid.name.rsplit("/", 1)[0] + "/QuickGelu" if sigmoid.name else ""
        replacements[id(multiply)] = helper.make_node(
            "QuickGelu", [x], [multiply.output[0]], name=name, domain=MICROSOFT_DOMAIN, alpha=1.0
        )
        removed += [sigmoid, quantize, dequantize]
    if not replacements:
        return 0
    removed_ids = {id(node) for node in removed}
    dropped_inputs = {name for node in removed for name in node.input}
    kept = [replacements.get(id(node), node) for node in graph.node if id(node) not in removed_ids]
    del graph.node[:]
    graph.node.extend(kept)
    still_used = {name for node in graph.node for name in node.input}
    unused = [
        tensor
        for tensor in graph.initializer
        if tensor.name in dropped_inputs and tensor.name not in still_used
    ]
    for tensor in unused:
        graph.initializer.remove(tensor)
    if not any(opset.domain == MICROSOFT_DOMAIN for opset in model.opset_import):
        model.opset_import.append(helper.make_opsetid(MICROSOFT_DOMAIN, 1))
    return len(replacements)
