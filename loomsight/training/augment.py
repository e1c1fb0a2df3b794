"""Augmentations for cloth under a line camera: what changes between mills, lights and lenses.

Light drifts (brightness, contrast, gamma), lenses defocus and the web moves (blur), sensors are
noisy and JPEGs blocky, mono cameras give grey; cloth may pass either way up and either side first
(flips), slightly skewed (small rotations) and at another scale. ultralytics applies the geometric
part; albumentations the photometric part through ultralytics' `augmentations` argument.
"""

from __future__ import annotations

from typing import Any

GEOMETRIC: dict[str, float] = {
    "degrees": 3.0,  # skew of the web under the camera
    "translate": 0.1,
    "scale": 0.3,  # another lens or camera height
    "fliplr": 0.5,
    "flipud": 0.5,  # fabric has no up: either face, either end first
    "mosaic": 1.0,
    "hsv_h": 0.02,  # dye lots
    "hsv_s": 0.5,
    "hsv_v": 0.4,  # exposure
}


def photometric_transforms() -> list[Any]:
    """Albumentations transforms (imported here: only training needs them)."""
    import albumentations as album

    return [
        album.RandomBrightnessContrast(brightness_limit=0.25, contrast_limit=0.3, p=0.5),
        album.RandomGamma(gamma_limit=(70, 140), p=0.2),
        album.OneOf(
            [album.GaussianBlur(blur_limit=(3, 5)), album.MotionBlur(blur_limit=(3, 7))], p=0.25
        ),
        album.GaussNoise(std_range=(0.01, 0.06), p=0.3),
        album.ImageCompression(quality_range=(50, 95), p=0.2),
        album.ToGray(p=0.2),
        album.CLAHE(p=0.05),
    ]


def describe() -> list[str]:
    """The augmentations in words, for the model card."""
    return [
        f"ultralytics: {', '.join(f'{key}={value}' for key, value in GEOMETRIC.items())}",
        "albumentations: brightness/contrast +-25%/30% (p0.5), gamma 0.7-1.4 (p0.2), "
        "Gaussian or motion blur (p0.25), Gaussian noise 1-6% (p0.3), JPEG quality 50-95 (p0.2), "
        "to grey (p0.2), CLAHE (p0.05)",
    ]
