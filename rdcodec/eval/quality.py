"""Image quality on RGB uint8 arrays: PSNR, SSIM and MS-SSIM.

SSIM and MS-SSIM come from pytorch-msssim on the three RGB channels (averaged), with an
11-tap Gaussian window, σ = 1.5 and data range 255 — the measure quoted in the README and the
model manifest. MS-SSIM needs both sides > 160 pixels; smaller images get ``nan``.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import torch
from pytorch_msssim import ms_ssim, ssim

from rdcodec.image_tensor import to_tensor

MS_SSIM_MIN_SIDE = 161


class Quality(NamedTuple):
    psnr: float
    ssim: float
    ms_ssim: float


def _tensor(pixels: np.ndarray) -> torch.Tensor:
    return to_tensor(pixels, torch.float64, unit_range=False)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)


@torch.no_grad()
def measure(reference: np.ndarray, test: np.ndarray) -> Quality:
    """PSNR (dB), SSIM and MS-SSIM of ``test`` against ``reference`` (both H×W×3 uint8)."""
    if reference.shape != test.shape:
        raise ValueError(f"image sizes differ: {reference.shape} vs {test.shape}")
    h, w = reference.shape[:2]
    ta, tb = _tensor(reference), _tensor(test)
    s = float(ssim(ta, tb, data_range=255, win_size=11, win_sigma=1.5)) if min(h, w) >= 11 else math.nan
    ms = float(ms_ssim(ta, tb, data_range=255, win_size=11, win_sigma=1.5)) if min(h, w) >= MS_SSIM_MIN_SIDE else math.nan
    return Quality(psnr(reference, test), s, ms)


@torch.no_grad()
def ssim_only(reference: np.ndarray, test: np.ndarray) -> float:
    """SSIM of ``test`` against ``reference`` exactly as :func:`measure` computes it (no MS-SSIM)."""
    if reference.shape != test.shape:
        raise ValueError(f"image sizes differ: {reference.shape} vs {test.shape}")
    if min(reference.shape[:2]) < 11:
        return math.nan
    return float(ssim(_tensor(reference), _tensor(test), data_range=255, win_size=11, win_sigma=1.5))
