"""Report each defect once although overlapping frames see it several times (by fabric position).

Sightings are compared as boxes on the fabric (mm). Of the same class they are one defect when
their centres are close or their boxes overlap by `min_overlap` of the smaller one (a defect cut by
a frame border is seen in part); a class that names no kind (`unspecific_classes`: the default
model's `defect`, learnt from photos labelled with one class) counts here as the same class as
any other, so a `defect` box inside a stain's is the stain; of different classes (classes flicker
between frames) only when the centres are close or the boxes overlap by `min_iou_any_class` of
their union, so a small defect beside a large one of another class stays apart. Within a frame
each remembered defect takes at most one sighting, the best first; a sighting left over is a
duplicate only of a sighting of the same frame. A suppressed sighting is counted; the frame's
sightings of a remembered defect, the one matched to it and its duplicates within the frame,
become what the next frame is matched against (a defect longer than a frame is followed from frame
to frame; a small `defect` box inside a stain does not replace the stain); the highest confidence
is kept.
Memory is bounded: what lies further than `forget_after_m` from the current frame is forgotten,
and at most `max_remembered` defects are kept.

Before that, the pieces of one defect within a frame are joined into one box: same-class boxes
that overlap (`join_overlapping`: a diagonal crease across a tile border comes out as two boxes
that cross), and same-class boxes, each at least LINE_ASPECT times longer than wide in one
direction, in a row in that direction within `join_gap_mm` (a weft fault across the web comes out
of the tiles of a wide frame as a row of short boxes). Compact defects side by side, not
overlapping, stay apart; so do overlapping boxes of different classes. The detector has already
joined the pieces of yarn-line classes (`loomsight.inference.line_join`, with pieces under its
reporting threshold and so also in `loomsight evaluate`); this catches what is left: elongated
boxes of other classes, and line pieces of a detector whose joining is turned off.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, Field

from loomsight.camera.calibration import FabricDefect

logger = logging.getLogger(__name__)

LINE_ASPECT = 2.0


class DedupConfig(BaseModel):
    """When two sightings are one defect, and how long a defect is remembered."""

    model_config = ConfigDict(extra="forbid")

    same_class_only: bool = Field(False, description="Else classes may flicker between frames.")
    unspecific_classes: tuple[str, ...] = Field(
        ("defect",), description="Classes that name no kind: matched as the same class as any."
    )
    centre_tolerance_mm: float = Field(3.0, ge=0.0, description="Centres this close: one defect.")
    gap_mm: float = Field(1.0, ge=0.0, description="Boxes grown by this before overlap is taken.")
    min_overlap: float = Field(
        0.3, gt=0.0, le=1.0, description="Same class: shared area over the smaller box's area."
    )
    min_iou_any_class: float = Field(
        0.5, gt=0.0, le=1.0, description="Different classes: shared area over the union."
    )
    forget_after_m: float = Field(1.0, gt=0.0, description="At least a frame length and a margin.")
    join_gap_mm: float = Field(
        15.0, ge=0.0, description="Same-class pieces in a row this close: one defect; 0: never."
    )
    join_overlapping: bool = Field(
        True, description="Same-class boxes of one frame that overlap: one defect."
    )
    max_remembered: int = Field(10_000, ge=1)


@dataclass
class Remembered:
    """A reported defect and what later sightings added to it."""

    reported: FabricDefect
    latest: FabricDefect  # the last frame's sighting of it: matched against
    best_confidence: float
    sightings: int = 1
    # that frame's other sightings of it (duplicates within the frame): matched against too
    also_seen: list[FabricDefect] = field(default_factory=list)

    def last_seen(self) -> tuple[FabricDefect, ...]:
        return (self.latest, *self.also_seen)


def _box_mm(defect: FabricDefect, grow_mm: float) -> tuple[float, float, float, float]:
    """Along start, across start, along end, across end, in mm, grown by `grow_mm` each side."""
    along_start_m, along_end_m = defect.along_span_m
    across_start_mm, across_end_mm = defect.across_span_mm
    return (
        along_start_m * 1000 - grow_mm,
        across_start_mm - grow_mm,
        along_end_m * 1000 + grow_mm,
        across_end_mm + grow_mm,
    )


def match_score(a: FabricDefect, b: FabricDefect, config: DedupConfig) -> float | None:
    """None if sightings `a` and `b` are different defects, else how well they match (higher
    is better: same class above an unspecific class above any other, then overlap, then
    closeness)."""
    exact = a.class_name == b.class_name
    unspecific = config.unspecific_classes
    same_class = exact or a.class_name in unspecific or b.class_name in unspecific
    if config.same_class_only and not same_class:
        return None
    a1, a2, a3, a4 = _box_mm(a, config.gap_mm)
    b1, b2, b3, b4 = _box_mm(b, config.gap_mm)
    shared = max(0.0, min(a3, b3) - max(a1, b1)) * max(0.0, min(a4, b4) - max(a2, b2))
    area_a, area_b = (a3 - a1) * (a4 - a2), (b3 - b1) * (b4 - b2)
    iou = shared / (area_a + area_b - shared)
    distance_mm = math.hypot((a.position_m - b.position_m) * 1000, a.across_mm - b.across_mm)
    close = distance_mm <= config.centre_tolerance_mm
    if same_class:
        overlapping = shared >= config.min_overlap * min(area_a, area_b)
    else:
        overlapping = iou >= config.min_iou_any_class
    if not (close or overlapping):
        return None
    return 4.0 * exact + 2.0 * same_class + iou + 1.0 / (1.0 + distance_mm)


class Deduplicator:
    """Passes on the defects not seen before; remembers them for the following frames."""

    def __init__(self, config: DedupConfig | None = None) -> None:
        self.config = config or DedupConfig()
        self._remembered: list[Remembered] = []
        self.reported = 0
        self.suppressed = 0
        self.suppressed_by_class: Counter[str] = Counter()
        self.forgotten_early = 0  # dropped for max_remembered before the web carried them away

    @property
    def remembered(self) -> Sequence[Remembered]:
        return tuple(self._remembered)

    def admit(self, defects: Sequence[FabricDefect], frame_top_m: float) -> list[FabricDefect]:
        """The defects of one frame (first row at `frame_top_m`) that are new, in their order."""
        self._forget(frame_top_m)
        defects = join_pieces(defects, self.config.join_gap_mm, self.config.join_overlapping)
        owner: dict[int, Remembered] = self._assign(defects)
        for index, followed in owner.items():  # this frame's sightings are matched next
            followed.latest, followed.also_seen = defects[index], []
        new: list[FabricDefect] = []
        for index, defect in enumerate(defects):
            entry = owner.get(index)
            if entry is None:
                entry = self._same_frame_duplicate(defect, defects, owner)
                if entry is not None:
                    entry.also_seen.append(defect)
            if entry is None:
                entry = Remembered(defect, defect, defect.confidence)
                self._remembered.append(entry)
                owner[index] = entry
                self.reported += 1
                new.append(defect)
                continue
            entry.best_confidence = max(entry.best_confidence, defect.confidence)
            entry.sightings += 1
            self.suppressed += 1
            self.suppressed_by_class[defect.class_name] += 1
        excess = len(self._remembered) - self.config.max_remembered
        if excess > 0:
            logger.warning("dedup memory full: forgetting the %d oldest defects", excess)
            del self._remembered[:excess]
            self.forgotten_early += excess
        return new

    def reset(self) -> None:
        """Forget everything (a new roll)."""
        self._remembered.clear()

    def _assign(self, defects: Sequence[FabricDefect]) -> dict[int, Remembered]:
        """Sightings to remembered defects, one to one, the best matches first."""
        pairs = [
            (score, index, slot)
            for index, defect in enumerate(defects)
            for slot, entry in enumerate(self._remembered)
            if (score := self._best_match(entry, defect)) is not None
        ]
        pairs.sort(key=lambda pair: -pair[0])
        owner: dict[int, Remembered] = {}
        taken: set[int] = set()
        for _, index, slot in pairs:
            if index not in owner and slot not in taken:
                owner[index] = self._remembered[slot]
                taken.add(slot)
        return owner

    def _best_match(self, entry: Remembered, defect: FabricDefect) -> float | None:
        """How well DEFECT matches the remembered defect's last sightings (None: not at all)."""
        scores = [match_score(seen, defect, self.config) for seen in entry.last_seen()]
        return max((score for score in scores if score is not None), default=None)

    def _same_frame_duplicate(
        self, defect: FabricDefect, defects: Sequence[FabricDefect], owner: dict[int, Remembered]
    ) -> Remembered | None:
        """The entry of the sighting of this frame that `defect` best duplicates, if any."""
        scored = [
            (score, index)
            for index in owner
            if (score := match_score(defects[index], defect, self.config)) is not None
        ]
        return owner[max(scored)[1]] if scored else None

    def _forget(self, frame_top_m: float) -> None:
        """Drop what lies further than `forget_after_m` behind (or ahead of) the frame."""
        reach_m = self.config.forget_after_m

        def near(entry: Remembered) -> bool:
            sightings = entry.last_seen()
            start_m = min(seen.along_span_m[0] for seen in sightings)
            end_m = max(seen.along_span_m[1] for seen in sightings)
            return end_m >= frame_top_m - reach_m and start_m <= frame_top_m + reach_m

        self._remembered = [entry for entry in self._remembered if near(entry)]


def _shared(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Overlap of two spans over the shorter one (0 when they do not overlap)."""
    overlap = min(a[1], b[1]) - max(a[0], b[0])
    shorter = min(a[1] - a[0], b[1] - b[0])
    return max(overlap, 0.0) / shorter if shorter > 0 else 0.0


def _gap(a: tuple[float, float], b: tuple[float, float]) -> float:
    return max(a[0], b[0]) - min(a[1], b[1])


def _along_mm(defect: FabricDefect) -> tuple[float, float]:
    start_m, end_m = defect.along_span_m
    return start_m * 1000, end_m * 1000


def _overlap(a: FabricDefect, b: FabricDefect) -> bool:
    """The two boxes share some area (touching edges do not count)."""
    return _gap(_along_mm(a), _along_mm(b)) < 0 and _gap(a.across_span_mm, b.across_span_mm) < 0


def _in_a_row(a: FabricDefect, b: FabricDefect, gap_mm: float) -> bool:
    along_a, along_b = _along_mm(a), _along_mm(b)
    across_a, across_b = a.across_span_mm, b.across_span_mm
    across_lines = all(d.width_mm >= LINE_ASPECT * d.length_mm for d in (a, b))
    along_lines = all(d.length_mm >= LINE_ASPECT * d.width_mm for d in (a, b))
    side_by_side = _shared(along_a, along_b) >= 0.5 and _gap(across_a, across_b) <= gap_mm
    one_after_another = _shared(across_a, across_b) >= 0.5 and _gap(along_a, along_b) <= gap_mm
    return (across_lines and side_by_side) or (along_lines and one_after_another)


def _union(a: FabricDefect, b: FabricDefect) -> FabricDefect:
    start_m = min(a.along_span_m[0], b.along_span_m[0])
    end_m = max(a.along_span_m[1], b.along_span_m[1])
    left_mm = min(a.across_span_mm[0], b.across_span_mm[0])
    right_mm = max(a.across_span_mm[1], b.across_span_mm[1])
    box_a, box_b = a.box_xyxy_px, b.box_xyxy_px
    return FabricDefect(
        position_m=(start_m + end_m) / 2,
        across_mm=(left_mm + right_mm) / 2,
        length_mm=(end_m - start_m) * 1000,
        width_mm=right_mm - left_mm,
        class_name=a.class_name,
        confidence=max(a.confidence, b.confidence),
        box_xyxy_px=(
            min(box_a[0], box_b[0]),
            min(box_a[1], box_b[1]),
            max(box_a[2], box_b[2]),
            max(box_a[3], box_b[3]),
        ),
        frame_wh_px=a.frame_wh_px,
    )


def join_pieces(
    defects: Sequence[FabricDefect], gap_mm: float, overlapping: bool = True
) -> list[FabricDefect]:
    """One frame's defects with same-class pieces in a row within `gap_mm` (0: none) and, if
    `overlapping`, same-class boxes that overlap joined (see the module docstring)."""
    joined = list(defects)

    def pieces(a: FabricDefect, b: FabricDefect) -> bool:
        if a.class_name != b.class_name:
            return False
        return (overlapping and _overlap(a, b)) or (gap_mm > 0 and _in_a_row(a, b, gap_mm))

    merged = True
    while merged:
        merged = False
        for i in range(len(joined)):
            for j in range(i + 1, len(joined)):
                a, b = joined[i], joined[j]
                if pieces(a, b):
                    joined[i] = _union(a, b)
                    del joined[j]
                    merged = True
                    break
            if merged:
                break
    return joined
