"""The camera between the cloth and the image: uneven light, defocus, sensor noise, 8-bit output.

These belong to the camera, not the cloth: a moving web keeps one `CameraSpec` for all its frames
(the light does not move with the fabric) while the sensor noise changes every frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from loomsight.datasets.synth.canvas import Float32Array
from loomsight.datasets.synth.noise import smooth_noise_2d


@dataclass(frozen=True)
class CameraSpec:
    seed: int
    exposure: float  # overall gain
    gradient_xy: tuple[float, float]  # linear fall-off of light across / along the frame
    vignette: float  # darkening towards the corners
    blur_sigma_px: float
    noise_sigma: float  # Gaussian read noise, in 8-bit grey levels
    salt_pepper: float  # share of pixels stuck black or white (as in many line cameras' JPEGs)
    grayscale: bool


def random_camera_spec(rng: np.random.Generator, grayscale: bool) -> CameraSpec:
    return CameraSpec(
        seed=int(rng.integers(0, 2**31 - 1)),
        exposure=float(rng.uniform(0.75, 1.3)),
        gradient_xy=(float(rng.normal(0, 0.12)), float(rng.normal(0, 0.08))),
        vignette=float(rng.uniform(0.0, 0.35)),
        blur_sigma_px=float(rng.uniform(0.3, 1.6)),
        noise_sigma=float(rng.uniform(0.5, 5.0)),
        salt_pepper=float(rng.choice([0.0, 0.0, 0.0005, 0.003])),
        grayscale=grayscale,
    )


def light_field(camera: CameraSpec, shape_hw: tuple[int, int]) -> Float32Array:
    """Illumination over the frame, fixed to the camera: gradient, vignette and slow blotches."""
    height, width = shape_hw
    x = np.linspace(-1, 1, width, dtype=np.float32)[None, :]
    y = np.linspace(-1, 1, height, dtype=np.float32)[:, None]
    gx, gy = camera.gradient_xy
    field = 1 + gx * x + gy * y - camera.vignette * 0.5 * (x * x + y * y)
    blotch = smooth_noise_2d(camera.seed, (0.0, 0.0), shape_hw, max(height, width) / 2)
    return (camera.exposure * field * (1 + 0.06 * blotch)).astype(np.float32)


def expose(
    bgr: Float32Array, camera: CameraSpec, frame_seed: int, light: Float32Array | None = None
) -> npt.NDArray[np.uint8]:
    """Light, blur and noise applied to linear BGR in 0..1; uint8 BGR, or grey if the camera is."""
    rng = np.random.default_rng([camera.seed, frame_seed])
    field = light_field(camera, bgr.shape[:2]) if light is None else light
    image: Float32Array = bgr * field[..., None]
    if camera.grayscale:
        image = np.asarray(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), dtype=np.float32)
    if camera.blur_sigma_px > 0.25:
        image = np.asarray(cv2.GaussianBlur(image, (0, 0), camera.blur_sigma_px), np.float32)
    image = image * np.float32(255.0)
    image += rng.standard_normal(image.shape, dtype=np.float32) * np.float32(camera.noise_sigma)
    out = np.clip(image, 0, 255).astype(np.uint8)
    if camera.salt_pepper > 0:
        stuck = rng.random(out.shape[:2]) < camera.salt_pepper
        values = np.where(rng.random(out.shape[:2]) < 0.5, 0, 255).astype(np.uint8)
        out[stuck] = values[stuck] if out.ndim == 2 else values[stuck][:, None]
    return out
