"""An endless roll of one fabric moving under a fixed camera, with defects at known positions.

The roll is cut into 1 m segments; the defects of segment k are drawn from the seed sequence
[seed, k] alone, so any frame, in any order, shows the same cloth and the same defects. Ground truth
is `defects_between(start_m, end_m)`: class, position along the roll in metres and across the web
in millimetres, and size in millimetres.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from loomsight.datasets.labels import ImageLabels
from loomsight.datasets.synth.camera import CameraSpec, expose, light_field, random_camera_spec
from loomsight.datasets.synth.canvas import Window
from loomsight.datasets.synth.defects import FABRIC_CLASSES, DefectSpec, renderer_for
from loomsight.datasets.synth.fabric_image import labels_from_footprints
from loomsight.datasets.synth.render import render_cloth
from loomsight.datasets.synth.weave import FabricSpec, WeaveKind, random_fabric_spec

SEGMENT_M = 1.0


@dataclass(frozen=True)
class PlantedDefect:
    """A defect on the roll: the ground truth the camera should find."""

    defect_id: str  # "<segment>-<k>", unique along the roll
    class_name: str
    position_m: float  # centre, along the roll from its start
    across_mm: float  # centre, from the left edge of the camera's field
    length_mm: float
    width_mm: float
    spec: DefectSpec


@dataclass(frozen=True)
class WebFrame:
    index: int
    top_m: float  # roll position of the frame's first row
    image: npt.NDArray[np.uint8]
    labels: ImageLabels  # boxes of the defects visible in this frame
    defect_ids: list[str]  # one per box, in the same order


# Woven cloth: a knit is drawn only when asked for.
WEB_WEAVES = (WeaveKind.PLAIN, WeaveKind.TWILL, WeaveKind.SATIN)


class MovingWeb:
    """Frames of one fabric at a given scale; defects at `defects_per_100m` on average."""

    def __init__(
        self,
        seed: int,
        width_px: int = 1024,
        frame_height_px: int = 512,
        mm_per_px: float = 0.1,
        defects_per_100m: float = 20.0,
        classes: Sequence[str] = FABRIC_CLASSES,
        weaves: tuple[WeaveKind, ...] = WEB_WEAVES,
        grayscale: bool | None = None,
        fabric: FabricSpec | None = None,
        camera: CameraSpec | None = None,
    ) -> None:
        rng = np.random.default_rng([seed, 2**31])
        self.seed = seed
        self.width_px = width_px
        self.frame_height_px = frame_height_px
        self.mm_per_px = mm_per_px
        self.defects_per_100m = defects_per_100m
        self.classes = tuple(classes)
        self.fabric = fabric or random_fabric_spec(rng, mm_per_px, weaves, grayscale)
        self.camera = camera or random_camera_spec(rng, self.fabric.grayscale)
        self._light = light_field(self.camera, (frame_height_px, width_px))
        self._segments: dict[int, list[PlantedDefect]] = {}

    @property
    def frame_length_m(self) -> float:
        return self.frame_height_px * self.mm_per_px / 1000

    @property
    def width_mm(self) -> float:
        return self.width_px * self.mm_per_px

    def _segment(self, index: int) -> list[PlantedDefect]:
        if index not in self._segments:
            rng = np.random.default_rng([self.seed, index])
            count = int(rng.poisson(self.defects_per_100m * SEGMENT_M / 100))
            px_per_m = 1000 / self.mm_per_px
            planted = []
            for k in range(count):
                class_name = str(rng.choice(list(self.classes)))
                length, width, angle = renderer_for(class_name).sample_size(rng, self.fabric)
                margin = min(0.5 * max(length, width), 0.3 * self.width_px)
                spec = DefectSpec(
                    class_name=class_name,
                    center_x_px=float(rng.uniform(margin, self.width_px - margin)),
                    center_y_px=(index + float(rng.uniform(0.02, 0.98))) * SEGMENT_M * px_per_m,
                    length_px=float(length),
                    width_px=float(width),
                    angle_rad=float(angle),
                    seed=int(rng.integers(0, 2**31 - 1)),
                )
                planted.append(self._planted(f"{index}-{k}", spec))
            self._segments[index] = planted
        return self._segments[index]

    def _planted(self, defect_id: str, spec: DefectSpec) -> PlantedDefect:
        along = (
            abs(np.sin(spec.angle_rad)) * spec.length_px
            + abs(np.cos(spec.angle_rad)) * spec.width_px
        )
        across = (
            abs(np.cos(spec.angle_rad)) * spec.length_px
            + abs(np.sin(spec.angle_rad)) * spec.width_px
        )
        return PlantedDefect(
            defect_id=defect_id,
            class_name=spec.class_name,
            position_m=spec.center_y_px * self.mm_per_px / 1000,
            across_mm=spec.center_x_px * self.mm_per_px,
            length_mm=float(along * self.mm_per_px),
            width_mm=float(min(across, self.width_px) * self.mm_per_px),
            spec=spec,
        )

    def defects_between(self, start_m: float, end_m: float) -> list[PlantedDefect]:
        """Planted defects whose centre lies in [start_m, end_m), ordered along the roll."""
        first = int(np.floor(start_m / SEGMENT_M))
        last = int(np.floor(end_m / SEGMENT_M))
        found = [
            d
            for index in range(max(first, 0), last + 1)
            for d in self._segment(index)
            if start_m <= d.position_m < end_m
        ]
        return sorted(found, key=lambda d: d.position_m)

    def frame_at(self, top_m: float, index: int = 0) -> WebFrame:
        """The frame whose first row is at `top_m` along the roll; sensor noise seeded by index."""
        px_per_m = 1000 / self.mm_per_px
        reach_m = 0.5  # longer than any defect's half length: catches those starting earlier
        nearby = self.defects_between(top_m - reach_m, top_m + self.frame_length_m + reach_m)
        window = Window(0.0, top_m * px_per_m, self.width_px, self.frame_height_px)
        cloth = render_cloth(self.fabric, window, [d.spec for d in nearby])
        image = expose(cloth.bgr, self.camera, frame_seed=index, light=self._light)
        labels = labels_from_footprints(
            cloth.defects,
            cloth.footprints,
            self.classes,
            (self.width_px, self.frame_height_px),
            pad_px=1 + self.camera.blur_sigma_px,
        )
        by_spec = {id(d.spec): d.defect_id for d in nearby}
        return WebFrame(index, top_m, image, labels, [by_spec[id(spec)] for spec in cloth.defects])

    def frames(
        self, speed_m_per_min: float, fps: float, start_m: float = 0.0, count: int | None = None
    ) -> Iterator[WebFrame]:
        """Frames of a camera at `fps` on the web at `speed_m_per_min`; endless if count is None."""
        if speed_m_per_min <= 0 or fps <= 0:
            raise ValueError(
                f"speed and fps must be positive, got {speed_m_per_min} m/min, {fps} fps"
            )
        step_m = speed_m_per_min / 60 / fps
        index = 0
        while count is None or index < count:
            yield self.frame_at(start_m + index * step_m, index)
            index += 1
