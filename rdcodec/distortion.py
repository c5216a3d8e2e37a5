"""The distortion measure D of the paper (eq. 5): the metric the latent space is isometric in.

``mse`` is the mean squared error on [0, 1] pixels; ``ssim`` is 1 − SSIM and ``ms-ssim`` is
1 − MS-SSIM, both from pytorch-msssim with an 11-tap Gaussian window, σ = 1.5 and data range 1.
Differentiable (training, the encoder-side search, the isometry analysis all use it).
"""

from __future__ import annotations

import torch
from pytorch_msssim import ms_ssim, ssim

from rdcodec.settings import METRICS

__all__ = ["METRICS", "distortion"]


def distortion(metric: str, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """D(a, b) for float images in [0, 1] (values outside are allowed; g is unclamped)."""
    if metric == "mse":
        return torch.mean((a - b) ** 2)
    if metric == "ssim":
        return 1.0 - ssim(a, b, data_range=1.0, size_average=True, win_size=11, win_sigma=1.5)
    if metric == "ms-ssim":
        return 1.0 - ms_ssim(a, b, data_range=1.0, size_average=True, win_size=11, win_sigma=1.5)
    raise ValueError(f"unknown metric {metric!r}")
