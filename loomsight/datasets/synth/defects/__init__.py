"""Defect classes of the synthetic cloth, one renderer each, looked up by class name."""

from __future__ import annotations

from loomsight.datasets.synth.defects.base import DefectRenderer, DefectSpec
from loomsight.datasets.synth.defects.surface import Contamination, Crease, Hole, Stain
from loomsight.datasets.synth.defects.yarn_faults import BrokenEnd, BrokenPick, Knot, Slub

FABRIC_CLASSES: tuple[str, ...] = (
    "hole",
    "stain",
    "broken_end",
    "broken_pick",
    "slub",
    "knot",
    "contamination",
    "crease",
)

_RENDERERS: dict[str, DefectRenderer] = {
    renderer.class_name: renderer
    for renderer in (
        Hole(),
        Stain(),
        BrokenEnd(),
        BrokenPick(),
        Slub(),
        Knot(),
        Contamination(),
        Crease(),
    )
}


def renderer_for(class_name: str) -> DefectRenderer:
    try:
        return _RENDERERS[class_name]
    except KeyError:
        raise ValueError(
            f"unknown fabric defect class {class_name!r}; "
            f"expected one of {', '.join(FABRIC_CLASSES)}"
        ) from None


__all__ = ["FABRIC_CLASSES", "DefectRenderer", "DefectSpec", "renderer_for"]
