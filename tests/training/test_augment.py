"""The quarter turn: warp becomes weft, the image, its boxes and the yarn-fault classes with it."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from loomsight.datasets.data_yaml import class_names_of
from loomsight.datasets.synth.dataset import SynthOptions, generate_dataset
from loomsight.training.augment import QuarterTurn, add_quarter_turns, quarter_turn_classes

NAMES = ["hole", "stain", "broken_end", "broken_pick", "slub", "knot", "defect"]


def test_only_the_warp_and_weft_faults_trade_classes() -> None:
    assert quarter_turn_classes(NAMES).tolist() == [0, 1, 3, 2, 4, 5, 6]
    # A taxonomy without both of the pair keeps every class.
    assert quarter_turn_classes(["defect", "broken_end"]).tolist() == [0, 1]


def _missing_weft_yarn() -> dict[str, Any]:
    """A 64x96 grey cloth with a dark weft line across it at rows 20-23: a broken_pick."""
    from ultralytics.utils.instance import Instances

    image = np.full((64, 96, 3), 180, np.uint8)
    image[20:24, :] = 30
    boxes = np.array([[0.0, 20.0, 96.0, 24.0]], np.float32)
    instances = Instances(boxes, bbox_format="xyxy", normalized=False)
    cls = np.array([[NAMES.index("broken_pick")]], np.float32)
    return {"img": image, "instances": instances, "cls": cls, "resized_shape": (64, 96)}


def test_a_turned_missing_weft_yarn_becomes_a_missing_warp_yarn_under_its_box(
    ultralytics_offline: ModuleType,
) -> None:
    labels = QuarterTurn(NAMES, p=1.0)(_missing_weft_yarn())
    image, instances = labels["img"], labels["instances"]
    assert image.shape == (96, 64, 3) and image.flags.c_contiguous
    instances.convert_bbox(format="xyxy")
    x1, y1, x2, y2 = instances.bboxes[0].round().astype(int).tolist()
    assert (x1, y1, x2, y2) == (20, 0, 24, 96)
    assert image[y1:y2, x1:x2].max() == 30  # the box still holds the dark yarn gap
    outside = np.ones(image.shape[:2], bool)
    outside[y1:y2, x1:x2] = False
    assert image[outside].min() == 180  # and nothing dark lies outside it
    assert labels["cls"].tolist() == [[NAMES.index("broken_end")]]
    assert labels["cls"].dtype == np.float32
    assert labels["resized_shape"] == (96, 64)


def test_without_the_turn_nothing_changes(ultralytics_offline: ModuleType) -> None:
    labels = QuarterTurn(NAMES, p=0.0)(_missing_weft_yarn())
    assert labels["img"].shape == (64, 96, 3)
    assert labels["cls"].tolist() == [[NAMES.index("broken_pick")]]
    with pytest.raises(ValueError, match="between 0 and 1"):
        QuarterTurn(NAMES, p=1.5)


def _is_turn(transform: Any) -> bool:
    return isinstance(transform, QuarterTurn)


def test_a_real_training_dataset_turns_before_format_also_after_mosaic_closes(
    tmp_path: Path, ultralytics_offline: ModuleType
) -> None:
    generate_dataset(SynthOptions(count=6, seed=3, size_wh=(96, 96)), tmp_path)
    from ultralytics.cfg import get_cfg
    from ultralytics.data import build_yolo_dataset
    from ultralytics.data.utils import check_det_dataset

    cfg = get_cfg(overrides={"imgsz": 96, "mosaic": 1.0})
    data = check_det_dataset(str(tmp_path / "data.yaml"))
    dataset = build_yolo_dataset(cfg, data["train"], 2, data, mode="train")
    add_quarter_turns(dataset, class_names_of(tmp_path / "data.yaml"), p=1.0)
    for _ in range(2):  # as built, then as rebuilt for the last epochs without mosaic
        transforms = dataset.transforms.transforms
        assert [_is_turn(t) for t in transforms].count(True) == 1
        assert _is_turn(transforms[-2]) and type(transforms[-1]).__name__ == "Format"
        sample = dataset[0]
        assert sample["img"].shape[1:] == (96, 96)
        assert len(sample["cls"]) == len(sample["bboxes"])
        dataset.close_mosaic(cfg)
