"""Render the grid of synthetic samples shown in the README (docs/images/synth-grid.png).

Rows: plain, twill, satin and knit cloth, then yarn boards; each tile with its labelled boxes.
Usage: python scripts/synth_samples.py [OUT.png]
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np

from loomsight.datasets.synth.defects import FABRIC_CLASSES
from loomsight.datasets.synth.fabric_image import SynthImage, make_fabric_image
from loomsight.datasets.synth.weave import WeaveKind
from loomsight.datasets.synth.yarn_board import YARN_CLASSES, make_yarn_board_image

TILE_PX = 256
COLUMNS = 6


def _draw(sample: SynthImage, names: tuple[str, ...], caption: str) -> np.ndarray:
    image = sample.image
    tile = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR) if image.ndim == 2 else image.copy()
    for (x1, y1, x2, y2), class_id in zip(
        sample.labels.xyxy_px, sample.labels.class_id, strict=True
    ):
        cv2.rectangle(tile, (int(x1), int(y1)), (int(x2) - 1, int(y2) - 1), (0, 0, 255), 1)
        cv2.putText(
            tile,
            names[class_id],
            (int(x1) + 2, max(int(y1) - 3, 10)),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.4,
            (0, 0, 255),
            1,
            cv2.LINE_AA,
        )
    cv2.putText(
        tile, caption, (4, TILE_PX - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 255, 0), 1, cv2.LINE_AA
    )
    return tile


def main(out: Path) -> None:
    rows = []
    for weave in WeaveKind:
        tiles = []
        for column in range(COLUMNS):
            rng = np.random.default_rng([hash(weave.value) % 1000, column])
            sample = make_fabric_image(
                rng,
                (TILE_PX, TILE_PX),
                0.1,
                FABRIC_CLASSES,
                (weave,),
                defect_free_share=0.0 if column else 1.0,
                max_defects=2,
            )
            tiles.append(
                _draw(sample, FABRIC_CLASSES, weave.value + (" clean" if not column else ""))
            )
        rows.append(np.hstack(tiles))
    tiles = []
    for column in range(COLUMNS):
        sample = make_yarn_board_image(
            np.random.default_rng([7, column]),
            (TILE_PX, TILE_PX),
            0.05,
            defect_free_share=0.0,
            max_defects=2,
        )
        tiles.append(_draw(sample, YARN_CLASSES, "yarn board"))
    rows.append(np.hstack(tiles))
    out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out), np.vstack(rows))
    print(f"wrote {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("docs/images/synth-grid.png"))
