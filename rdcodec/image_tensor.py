"""Pixels ⇄ tensors: the one conversion between H×W×3 uint8 arrays and [B, 3, H, W] tensors.

    to_tensor(pixels)   uint8 [H,W,3] or [B,H,W,3] ─► float [B,3,H,W] in [0, 1] (÷ 255)
    to_pixels(x)        float [3,H,W] or [1,3,H,W] ─► clamp [0, 1] ─► × 255, round ─► uint8 [H,W,3]

The codec's streams depend on these exact operations (float32, division by 255.0, rounding half
to even), so every caller goes through them.
"""

from __future__ import annotations

import numpy as np
import torch


def to_tensor(pixels: np.ndarray, dtype: torch.dtype = torch.float32, unit_range: bool = True) -> torch.Tensor:
    """[B, 3, H, W] of ``dtype`` from uint8 pixels; in [0, 1], or in [0, 255] without ``unit_range``."""
    t = torch.from_numpy(np.ascontiguousarray(pixels))
    # one image: permute, then add the batch dimension (the strides the shipped streams were made with)
    t = (t.permute(2, 0, 1)[None] if t.ndim == 3 else t.permute(0, 3, 1, 2)).to(dtype)
    return t.div_(255.0) if unit_range else t


def to_pixels(x: torch.Tensor) -> np.ndarray:
    """H×W×3 uint8 of one image in [0, 1] (values outside are clamped)."""
    if x.ndim == 4:
        if x.shape[0] != 1:
            raise ValueError(f"to_pixels takes one image, not a batch of {x.shape[0]}")
        x = x[0]
    pixels = torch.round(x.detach().clamp(0, 1) * 255).to(torch.uint8).permute(1, 2, 0)
    return np.ascontiguousarray(pixels.cpu().numpy())
