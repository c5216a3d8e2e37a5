"""Training objectives: RaDOGAGA (paper eq. 5) and the plain Ballé et al. loss, behind one switch.

RaDOGAGA, eq. 5, averaged over x ~ P_x and ε ~ U(−½, ½)^M (σ² = 1/12)::

    L = −log₂ P_ψ(z + ε) / #pixels  +  λ1 · h(D(x, g(z)))  +  λ2 · D(g(z), g(z + ε))
        └── rate (bpp) ─────────┘      └─ reconstruction ┘      └─ scaling term ──┘

Ballé baseline (eq. 1 with noise as the quantization proxy)::

    L = −log₂ P_ψ(z + ε) / #pixels  +  λ · D(x, g(z + ε))        (λ = λ1; λ2 unused)

D is one of :data:`rdcodec.distortion.METRICS` (:func:`rdcodec.distortion.distortion`); h is
``identity`` or ``log``.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

from rdcodec.distortion import distortion
from rdcodec.settings import ObjectiveConfig


class LossTerms(NamedTuple):
    total: torch.Tensor
    bpp: torch.Tensor  # rate of z + ε in bits per pixel
    distortion: torch.Tensor  # D(x, g(z)) for RaDOGAGA, D(x, g(z + ε)) for Ballé
    scaling: torch.Tensor | None  # D(g(z), g(z + ε)) (RaDOGAGA's third term; None for Ballé, which never decodes g(z))


def rate_bpp(likelihoods: torch.Tensor, num_pixels: int) -> torch.Tensor:
    """−Σ log₂ P / #pixels."""
    return torch.log(likelihoods).sum() / (-math.log(2) * num_pixels)


def objective(
    config: ObjectiveConfig,
    x: torch.Tensor,
    likelihoods: torch.Tensor,
    x_clean: torch.Tensor | None,
    x_noisy: torch.Tensor,
    lambda_scale: float = 1.0,
) -> LossTerms:
    """Evaluate eq. 5 (or the Ballé loss) from x, P_ψ(z + ε), g(z) and g(z + ε).

    ``lambda_scale`` multiplies λ1 and λ2 (a variable-rate run passes 1/Δ² for a batch drawn
    at quantization step Δ; see :func:`rdcodec.train.codec_task.optimization_step`).
    """
    num_pixels = x.shape[0] * x.shape[2] * x.shape[3]
    bpp = rate_bpp(likelihoods, num_pixels)
    if config.kind == "radogaga":
        if x_clean is None:
            raise ValueError("eq. 5 needs g(z): decode it (RDAutoencoder.forward(..., decode_clean=True))")
        scaling = distortion(config.metric, x_clean, x_noisy)
        d = distortion(config.metric, x, x_clean)
        h_d = torch.log(d.clamp_min(1e-12)) if config.h == "log" else d
        total = bpp + lambda_scale * (config.lambda1 * h_d + config.lambda2 * scaling)
        return LossTerms(total, bpp, d, scaling)
    d = distortion(config.metric, x, x_noisy)
    total = bpp + lambda_scale * config.lambda1 * d
    return LossTerms(total, bpp, d, None)
