"""Real ONNX detectors for the inference tests, exported once per session by ultralytics.

An untrained yolov8n with the 8 fabric classes at imgsz 160 (fast), exported three ways from the
same weights: fixed batch 1, dynamic (batch, height, width), and with NMS inside. Untrained, its
activations fade layer by layer until every anchor scores the same class prior whatever the image;
its batch-norm statistics are therefore taken from 16 synthetic frames and the class bias raised,
so that boxes and scores depend on the image (about 150 boxes per frame above 0.1). ultralytics is
imported with the offline settings of ENVIRONMENT.md, set before its first import; tests that need
it are skipped where the train extra is not installed (an edge-only venv): see the
`ultralytics_offline` fixture in tests/conftest.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import cv2
import numpy as np
import pytest

from loomsight.datasets.synth.dataset import SynthOptions, make_image
from loomsight.datasets.synth.defects import FABRIC_CLASSES
from loomsight.inference.letterbox import as_bgr

IMGSZ = 160
CLASS_BIAS = -2.0
EXPORT_CONF = 0.05  # the NMS-inside export keeps boxes above this (an untrained model scores low)


@dataclass(frozen=True)
class ExportedModels:
    static: Path  # [1, 3, 160, 160] -> [1, 12, 525]
    dynamic: Path  # [batch, 3, height, width] -> [batch, 12, anchors]
    nms: Path  # [1, 3, 160, 160] -> [1, 300, 6]


@pytest.fixture(scope="session")
def exported(
    ultralytics_offline: ModuleType, tmp_path_factory: pytest.TempPathFactory
) -> ExportedModels:
    """The three ONNX files, each alone in its folder (no model card: metadata only)."""
    import yaml

    folder = tmp_path_factory.mktemp("exported")
    source = Path(ultralytics_offline.__file__).parent / "cfg" / "models" / "v8" / "yolov8.yaml"
    config = yaml.safe_load(source.read_text(encoding="utf-8"))
    config.update(nc=len(FABRIC_CLASSES), scale="n")
    (folder / "yolov8n.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        import torch

        torch.manual_seed(0)  # the same weights, boxes and scores in every session
        model = ultralytics_offline.YOLO(str(folder / "yolov8n.yaml"), task="detect")
        model.model.names = dict(enumerate(FABRIC_CLASSES))
        _calibrate(model.model)
        paths = {}
        for name, args in {
            "static": {},
            "dynamic": {"dynamic": True},
            "nms": {"nms": True, "conf": EXPORT_CONF},
        }.items():
            exported_file = Path(model.export(format="onnx", imgsz=IMGSZ, verbose=False, **args))
            (folder / name).mkdir()
            paths[name] = exported_file.rename(folder / name / "model.onnx")
    return ExportedModels(**paths)


def _calibrate(net: Any) -> None:
    """Batch-norm statistics from synthetic frames; class bias CLASS_BIAS (see the module)."""
    import torch

    frames = [cv2.resize(as_bgr(image), (IMGSZ, IMGSZ)) for image in fabric_images(16, seed=3)]
    batch = torch.from_numpy(np.stack(frames)[..., ::-1].transpose(0, 3, 1, 2).copy()) / 255
    for module in net.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.reset_running_stats()
            module.momentum = None  # a plain average over the batch
    net.train()
    with torch.no_grad():
        net(batch.float())
        for branch in net.model[-1].cv3:
            branch[-1].bias.fill_(CLASS_BIAS)
    net.eval()


def fabric_images(count: int, seed: int = 7) -> list[np.ndarray[Any, np.dtype[np.uint8]]]:
    """COUNT synthetic fabric frames of assorted sizes and aspect ratios, grey and colour."""
    sizes_wh = [(640, 640), (320, 240), (200, 600), (1024, 256), (131, 97), (480, 640), (256, 256)]
    return [
        make_image(
            SynthOptions(count=count, seed=seed, size_wh=sizes_wh[k % len(sizes_wh)]), k
        ).image
        for k in range(count)
    ]


def write_tiny_onnx(
    path: Path,
    input_shape: list[int | str],
    graph: str = "identity",
    constant: np.ndarray[Any, np.dtype[np.float32]] | None = None,
    metadata: dict[str, str] | None = None,
    input_type: str = "float",
) -> Path:
    """A small ONNX graph built with onnx.helper (no ultralytics):

    - "identity": the input comes out unchanged (not a detector);
    - "reduce": the mean over the last axis (rank 3 out of rank 4: not a detector either);
    - "constant": CONSTANT [1, K, M] repeated for each image of the batch (a fake detector
      whose boxes are known in input pixels).
    """
    onnx = pytest.importorskip("onnx")
    helper, tensor_proto = onnx.helper, onnx.TensorProto
    elem = {"float": tensor_proto.FLOAT, "uint8": tensor_proto.UINT8}[input_type]
    inputs = [helper.make_tensor_value_info("images", elem, input_shape)]
    initializers = []
    if graph == "identity":
        nodes = [helper.make_node("Identity", ["images"], ["output0"])]
    elif graph == "reduce":
        nodes = [helper.make_node("ReduceMean", ["images"], ["output0"], axes=[-1], keepdims=0)]
    else:
        assert constant is not None
        initializers = [
            onnx.numpy_helper.from_array(constant.astype(np.float32), "constant"),
            onnx.numpy_helper.from_array(np.array([-1, 1, 1], np.int64), "shape"),
            onnx.numpy_helper.from_array(np.zeros((), np.float32), "zero"),
        ]
        cast = helper.make_node("Cast", ["images"], ["floats"], to=tensor_proto.FLOAT)
        nodes = [
            cast,
            helper.make_node("ReduceMean", ["floats"], ["mean"], axes=[1, 2, 3], keepdims=1),
            helper.make_node("Reshape", ["mean", "shape"], ["per_image"]),
            helper.make_node("Mul", ["per_image", "zero"], ["zeros"]),
            helper.make_node("Add", ["zeros", "constant"], ["output0"]),
        ]
    out_elem = elem if graph == "identity" else tensor_proto.FLOAT
    outputs = [helper.make_tensor_value_info("output0", out_elem, None)]
    model = helper.make_model(
        helper.make_graph(nodes, "tiny", inputs, outputs, initializers),
        opset_imports=[helper.make_opsetid("", 17)],
        ir_version=8,
    )
    for key, value in (metadata or {}).items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def raw_output(
    rows: list[tuple[float, ...]], class_count: int = 2
) -> np.ndarray[Any, np.dtype[np.float32]]:
    """A raw YOLO output [1, 4 + class_count, N] from rows (cx, cy, w, h, score, class_id)."""
    output = np.zeros((1, 4 + class_count, max(len(rows), 1)), np.float32)
    for k, (cx, cy, w, h, score, class_id) in enumerate(rows):
        output[0, :4, k] = cx, cy, w, h
        output[0, 4 + int(class_id), k] = score
    return output
