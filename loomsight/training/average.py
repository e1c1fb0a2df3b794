"""Average the weights of two checkpoints of one architecture (a "model soup").

A short fine-tune teaches a model new cloth but moves it away from what it knew; mixing its
weights with those of the model it started from keeps most of the old skill and some of the new
(see the README's training notes for what was measured). The result is an ordinary ultralytics
checkpoint: `loomsight export` takes it like any other.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loomsight.errors import ModelFileError, TrainingError
from loomsight.training.offline import load_ultralytics


@dataclass(frozen=True)
class AverageResult:
    checkpoint: Path
    tensors_mixed: int  # floating-point tensors (weights, biases, batch-norm statistics)
    tensors_kept: int  # integer tensors (batch-norm step counters), taken from the second


def _load(path: Path) -> dict[str, Any]:
    import torch

    if not path.is_file():
        raise ModelFileError(f"{path}: checkpoint does not exist")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as error:  # torch raises whatever unpickling raised
        raise ModelFileError(
            f"{path}: not a loadable checkpoint ({type(error).__name__}: {error})"
        ) from None
    if not isinstance(checkpoint, dict) or (
        checkpoint.get("ema") is None and checkpoint.get("model") is None
    ):
        raise ModelFileError(f"{path}: not an ultralytics checkpoint (no model inside)")
    return checkpoint


def _network(checkpoint: dict[str, Any]) -> Any:
    """The weights a checkpoint is used with: the EMA copy while training keeps one."""
    return checkpoint.get("ema") or checkpoint["model"]


def average_checkpoints(
    first: Path, second: Path, second_weight: float, out: Path
) -> AverageResult:
    """Write OUT = (1 - SECOND_WEIGHT) * FIRST + SECOND_WEIGHT * SECOND, weight by weight.

    OUT keeps SECOND's training arguments and records both sources; the two must have the same
    layers, shapes and class names, else TrainingError."""
    import torch

    if not 0.0 <= second_weight <= 1.0:
        raise TrainingError(
            f"the second checkpoint's weight must be in [0, 1], got {second_weight}"
        )
    load_ultralytics()  # the checkpoints hold ultralytics classes: import them offline first
    first_ckpt, second_ckpt = _load(first), _load(second)
    first_net, second_net = _network(first_ckpt).float(), _network(second_ckpt).float()
    if dict(first_net.names) != dict(second_net.names):
        raise TrainingError(
            f"{first} and {second} name different classes: "
            f"{list(dict(first_net.names).values())} vs {list(dict(second_net.names).values())}"
        )
    first_state, second_state = first_net.state_dict(), second_net.state_dict()
    differing = sorted(
        set(first_state) ^ set(second_state)
        | {
            k
            for k in set(first_state) & set(second_state)
            if first_state[k].shape != second_state[k].shape
        }
    )
    if differing:
        raise TrainingError(
            f"{first} and {second} are different architectures "
            f"({len(differing)} layers differ, e.g. {differing[0]})"
        )
    mixed, kept = {}, 0
    for key, value in second_state.items():
        if value.is_floating_point():
            mixed[key] = (1.0 - second_weight) * first_state[key] + second_weight * value
        else:
            mixed[key], kept = value, kept + 1
    network = copy.deepcopy(second_net)
    network.load_state_dict(mixed)
    result = {
        **second_ckpt,
        "model": network.half(),  # as ultralytics saves a model
        "ema": None,
        "optimizer": None,
        "updates": None,
        "averaged_from": {
            "first": str(first),
            "second": str(second),
            "second_weight": second_weight,
        },
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    torch.save(result, partial)
    partial.replace(out)
    return AverageResult(out, len(mixed) - kept, kept)
