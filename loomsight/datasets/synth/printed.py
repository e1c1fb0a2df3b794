"""A yarn-dyed or printed check over synthetic cloth: an article the default model never saw.

Shirting and gingham carry a colour pattern far stronger than the weave; its straight stripe
edges are what a detector trained on plain-coloured cloth mistakes for missing yarns. The pattern
is fixed to the fabric (row `top_px` of the roll), so frames of a moving web line up with it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True)
class CheckPrint:
    """Stripes `stripe_mm` wide every `period_mm` in both directions; the stripes' brightness is
    times `gain` (twice where they cross)."""

    period_mm: float = 6.0
    stripe_mm: float = 2.0
    gain: float = 0.6

    def apply(
        self, image: npt.NDArray[np.uint8], mm_per_px: float, top_px: int = 0
    ) -> npt.NDArray[np.uint8]:
        """IMAGE (grey or BGR) with the check printed on; TOP_PX: the image's first row on the
        roll, in pixels."""
        period_px, stripe_px = self.period_mm / mm_per_px, self.stripe_mm / mm_per_px
        height, width = image.shape[:2]
        along = (np.arange(height)[:, None] + top_px) % period_px < stripe_px
        across = np.arange(width)[None, :] % period_px < stripe_px
        gain = np.where(along, self.gain, 1.0) * np.where(across, self.gain, 1.0)
        if image.ndim == 3:
            gain = gain[..., None]
        return np.clip(image.astype(np.float32) * gain, 0, 255).astype(np.uint8)
