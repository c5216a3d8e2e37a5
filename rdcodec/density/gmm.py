"""Gaussian-mixture prior estimated from soft memberships (paper eq. 18–20, DAGMM style).

Given latents z [L, d] and memberships γ [L, K] (softmax of the estimation network)::

    φ_k = Σ_l γ_lk / L
    μ_k = Σ_l γ_lk z_l / Σ_l γ_lk
    Σ_k = Σ_l γ_lk (z_l − μ_k)(z_l − μ_k)ᵀ / Σ_l γ_lk  (+ jitter · I)                 (eq. 19)
    R(z) = −log Σ_k φ_k N(z; μ_k, Σ_k)                                                 (eq. 20)

R is computed with Cholesky factors and log-sum-exp, so it stays finite for tight clusters
and far-away points; the jitter keeps every Σ_k positive definite, and more is added (only)
when a batch's covariance is singular to float precision.

:func:`refine_em` is not in the paper: expectation–maximisation on a fixed set of latents
(scikit-learn's ``GaussianMixture``), started from the estimation network's mixture and from
k-means++ seeds, keeping the most likely result. The estimation network can leave a component
dead (φ_k ≈ 0) or merge two clusters into one; EM on the final latents repairs that without
touching the autoencoder.
"""

from __future__ import annotations

import math
import warnings
from typing import NamedTuple

import numpy as np
import torch


class Mixture(NamedTuple):
    phi: torch.Tensor  # [K]
    mu: torch.Tensor  # [K, d]
    sigma: torch.Tensor  # [K, d, d]


def mixture_from_memberships(z: torch.Tensor, gamma: torch.Tensor, jitter: float = 1e-6) -> Mixture:
    """φ, μ, Σ of eq. 19 (differentiable in z and γ)."""
    weight = gamma.sum(dim=0)  # [K]
    phi = weight / len(z)
    mu = (gamma.t() @ z) / weight[:, None]
    centred = z[None, :, :] - mu[:, None, :]  # [K, L, d]
    sigma = torch.einsum("lk,kli,klj->kij", gamma, centred, centred) / weight[:, None, None]
    eye = torch.eye(z.shape[1], dtype=z.dtype, device=z.device)
    return Mixture(phi, mu, sigma + jitter * eye)


def safe_cholesky(sigma: torch.Tensor, tries: int = 10) -> torch.Tensor:
    """Cholesky factors of symmetric [K, d, d] covariances, adding jitter only when needed.

    A batch's covariance can be singular to float precision (points on a line, DAGMM's
    cosine/distance features); then jitter · mean(diag) · I is added, from 1e-6 up by ×10.
    """
    sigma = 0.5 * (sigma + sigma.transpose(-1, -2))
    eye = torch.eye(sigma.shape[-1], dtype=sigma.dtype, device=sigma.device)
    scale = torch.diagonal(sigma, dim1=-2, dim2=-1).mean(dim=-1).abs().clamp_min(1e-12)[:, None, None]
    jitter = 0.0
    for _ in range(tries):
        chol, info = torch.linalg.cholesky_ex(sigma + jitter * scale * eye)
        if not bool(info.any()):
            return chol
        jitter = 1e-6 if jitter == 0.0 else jitter * 10.0
    raise FloatingPointError("covariance is not positive definite even with jitter")


def log_components(z: torch.Tensor, mixture: Mixture) -> torch.Tensor:
    """log φ_k + log N(z; μ_k, Σ_k) for every sample and component: [L, K]."""
    d = z.shape[1]
    chol = safe_cholesky(mixture.sigma)  # [K, d, d]
    diff = (z[None, :, :] - mixture.mu[:, None, :]).transpose(1, 2)  # [K, d, L]
    solved = torch.linalg.solve_triangular(chol, diff, upper=False)  # [K, d, L]
    maha = (solved**2).sum(dim=1)  # [K, L]
    log_det = 2 * torch.log(torch.diagonal(chol, dim1=-2, dim2=-1)).sum(dim=1)  # [K]
    log_norm = -0.5 * (d * math.log(2 * math.pi) + log_det)
    return (torch.log(mixture.phi.clamp_min(1e-12))[:, None] + log_norm[:, None] - 0.5 * maha).t()


def energy(z: torch.Tensor, mixture: Mixture) -> torch.Tensor:
    """R(z) = −log Σ_k φ_k N(z; μ_k, Σ_k) per sample (eq. 20), in nats."""
    return -torch.logsumexp(log_components(z, mixture), dim=1)


def refine_em(
    z: torch.Tensor, mixture: Mixture, *, steps: int = 100, restarts: int = 4, jitter: float = 1e-6, seed: int = 0
) -> Mixture:
    """The most likely of EM runs on z from ``mixture`` and from ``restarts`` k-means++ seeds.

    Each run is scikit-learn's ``GaussianMixture`` (full covariances, ``reg_covar=jitter``,
    the jitter of eq. 19) doing exactly ``steps`` EM iterations (``max_iter=steps, tol=0``,
    so its convergence warning is expected and silenced): one started from ``mixture``
    (``weights_init``, ``means_init``, ``precisions_init``), then ``restarts`` with
    ``init_params="k-means++"`` drawn from one random state seeded with ``seed``. The most
    likely run by mean R(z) is returned, as float64 tensors on z's device; a run that fails
    (a component emptied out, a covariance not positive definite) is skipped, and none that
    is less likely than ``mixture`` is returned: the result has mean R(z) no higher than the
    start's.
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.mixture import GaussianMixture

    z = z.double()
    start = Mixture(*(t.double() for t in mixture))
    best, best_energy = start, float(energy(z, start).mean())
    x = z.detach().cpu().numpy()
    precisions = torch.cholesky_inverse(safe_cholesky(start.sigma)).cpu().numpy()
    phi = start.phi.clamp_min(1e-12)  # as log_components reads φ
    from_start = {
        "init_params": "random_from_data",  # its memberships are overridden by the three *_init below
        "weights_init": (phi / phi.sum()).cpu().numpy(),
        "means_init": start.mu.cpu().numpy(),
        "precisions_init": 0.5 * (precisions + precisions.transpose(0, 2, 1)),
        "random_state": seed,
    }
    random_state = np.random.RandomState(seed)
    runs = [from_start] + [{"init_params": "k-means++", "random_state": random_state}] * restarts
    for run in runs:
        gmm = GaussianMixture(len(start.phi), covariance_type="full", reg_covar=jitter, max_iter=steps, tol=0.0, **run)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                gmm.fit(x)
        except ValueError:  # a component emptied out, or a starting covariance is not positive definite
            continue
        candidate = Mixture(
            *(torch.as_tensor(a, dtype=torch.float64, device=z.device) for a in (gmm.weights_, gmm.means_, gmm.covariances_))
        )
        try:
            value = float(energy(z, candidate).mean())
        except FloatingPointError:
            continue
        if value < best_energy:  # False for NaN
            best, best_energy = candidate, value
    return best


def inverse_diagonal_penalty(mixture: Mixture) -> torch.Tensor:
    """Σ_k Σ_i 1 / Σ_k,ii: DAGMM's guard against collapsing covariances (eq. 21)."""
    return (1.0 / torch.diagonal(mixture.sigma, dim1=-2, dim2=-1)).sum()
