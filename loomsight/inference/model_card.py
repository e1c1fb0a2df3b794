"""The model card: what a registered model is, how it was made and how well it scored.

Written by `loomsight export` beside the ONNX file (`weights/NAME/model.json`), read by the
detector, the registry and the API. Pydantic only: the camera side reads it without torch.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from loomsight.errors import ModelFileError
from loomsight.inference.box_scale import BoxScale
from loomsight.inference.flip_views import FlipViews

CARD_FILE = "model.json"
CARD_SCHEMA_VERSION = 1


class ParityCheck(BaseModel):
    """Export-time comparison of the ONNX model with the checkpoint on the same images."""

    model_config = ConfigDict(extra="forbid")

    images: int
    boxes_compared: int
    max_box_diff_px: float
    max_score_diff: float
    tolerance_px: float
    tolerance_score: float


def file_sha256(path: Path) -> str:
    with path.open("rb") as stream:
        return hashlib.file_digest(stream, "sha256").hexdigest()


class OnnxFile(BaseModel):
    """One ONNX file of the model (fp32 or int8) and what it scored."""

    model_config = ConfigDict(extra="forbid")

    file: str  # name relative to the card's folder
    sha256: str
    size_bytes: int
    precision: str = "fp32"  # fp32 | int8
    metrics: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def describe(cls, path: Path, precision: str = "fp32") -> OnnxFile:
        """The card entry of the ONNX file at PATH (named relative to its folder)."""
        return cls(
            file=path.name,
            sha256=file_sha256(path),
            size_bytes=path.stat().st_size,
            precision=precision,
        )


class ModelFile(BaseModel):
    """Another file of the model, beside its ONNX file (the article's texture-anomaly model)."""

    model_config = ConfigDict(extra="forbid")

    file: str  # name relative to the card's folder
    sha256: str
    size_bytes: int


Unit = Annotated[float, Field(ge=0, le=1)]


class ModelCard(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_version: int = CARD_SCHEMA_VERSION
    name: str
    version: str  # unique per export, e.g. "NAME@2026-11-26T08:00:00Z"; events carry it
    task: str = "detect"
    classes: list[str]
    input_size_hw: tuple[int, int]
    stride: int
    opset: int
    nms_in_model: bool = False
    conf_threshold: float = 0.25  # operating threshold (evaluate reports at it)
    # these classes at their own operating threshold (`loomsight export --class-conf knot=0.15`)
    conf_threshold_by_class: dict[str, Unit] = Field(default_factory=dict)
    iou_threshold: Unit = 0.7  # NMS
    # NMS of these classes at their own IoU (`loomsight export --class-iou knot=0.5`)
    iou_threshold_by_class: dict[str, Unit] = Field(default_factory=dict)
    # mirrored views the detector also runs and fuses (`loomsight export --flip-views h,v`)
    flip_views: FlipViews = ()
    # boxes of these classes scaled about their centre, (shorter side, longer side)
    # (`loomsight export --class-box-scale knot=0.85`; see inference/box_scale.py)
    box_scale_by_class: dict[str, BoxScale] = Field(default_factory=dict)
    created_at: datetime
    onnx: OnnxFile
    int8: OnnxFile | None = None
    texture: ModelFile | None = None  # the article's texture-anomaly model (loomsight calibrate)
    parity: ParityCheck | None = None
    base_model: str | None = None
    training: dict[str, Any] = Field(default_factory=dict)  # data fingerprint, args, hardware, time
    augmentations: list[str] = Field(default_factory=list)
    metrics: dict[str, Any] = Field(default_factory=dict)
    versions: dict[str, str] = Field(default_factory=dict)  # ultralytics, onnx, torch, loomsight
    notes: str = ""

    @model_validator(mode="after")
    def _known_classes(self) -> ModelCard:
        by_class: dict[str, Any]
        for field, by_class in (
            ("conf_threshold_by_class", self.conf_threshold_by_class),
            ("iou_threshold_by_class", self.iou_threshold_by_class),
            ("box_scale_by_class", self.box_scale_by_class),
        ):
            unknown = sorted(set(by_class) - set(self.classes))
            if unknown:
                raise ValueError(f"{field} names classes the model lacks: {unknown}")
        return self


def read_card(folder: Path) -> ModelCard:
    """The card in FOLDER/model.json; ModelFileError naming the file if missing or malformed."""
    return read_card_file(folder / CARD_FILE)


def read_card_file(path: Path) -> ModelCard:
    """The card in the JSON file PATH; ModelFileError naming the file if missing or malformed."""
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        beside = f" (expected {CARD_FILE} beside the ONNX file)" if path.name == CARD_FILE else ""
        raise ModelFileError(f"{path}: no model card{beside}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelFileError(f"{path}: not a readable JSON model card ({error})") from None
    try:
        return ModelCard.model_validate(content)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ModelFileError(f"{path}: model card field {where}: {first['msg']}") from None


def write_card(folder: Path, card: ModelCard) -> Path:
    path = folder / CARD_FILE
    folder.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(card.model_dump_json(indent=2) + "\n", encoding="utf-8")
    temporary.replace(path)  # a reader never sees half a card
    return path
