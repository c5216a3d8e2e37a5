"""The interface every runtime implements, and the pixel conversions they share (numpy only).

    analysis(pixels)   uint8 [16a, 16b, 3] ─► ÷ 255 (float32) ─► g_a ─► z float32 [M, a, b]
    synthesis(latent)  float32 [M, a, b] ─► g_s ─► clamp [0, 1] ─► × 255, round half to even ─► uint8 [16a, 16b, 3]

The conversions are the same float32 operations as :mod:`rdcodec.image_tensor` (torch), so
the runtimes differ only inside the transforms.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np


class Transforms(Protocol):
    """g_a and g_s of one network on numpy arrays (one image or tile at a time)."""

    name: str  # "onnxruntime" or "torch"

    def analysis(self, pixels: np.ndarray) -> np.ndarray: ...

    def synthesis(self, latent: np.ndarray) -> np.ndarray: ...


def pixels_to_input(pixels: np.ndarray) -> np.ndarray:
    """uint8 [H, W, 3] ─► float32 [1, 3, H, W] in [0, 1] (÷ 255.0 in float32)."""
    return np.ascontiguousarray(pixels.transpose(2, 0, 1)[None], dtype=np.float32) / np.float32(255.0)


def output_to_pixels(x_hat: np.ndarray) -> np.ndarray:
    """float32 [1, 3, H, W] ─► clamp [0, 1], × 255, round half to even ─► uint8 [H, W, 3]."""
    scaled = np.clip(x_hat[0], np.float32(0.0), np.float32(1.0)) * np.float32(255.0)
    return np.ascontiguousarray(np.rint(scaled).astype(np.uint8).transpose(1, 2, 0))


__all__ = ["Transforms", "output_to_pixels", "pixels_to_input"]
