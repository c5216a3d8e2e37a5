"""Fully connected autoencoder with a GMM prior: RaDOGAGA density estimation and DAGMM (§5.1, §5.2).

Data flow (one batch of L samples)::

    x ─► encoder (FC, tanh) ─► z ─────────────────────────────► decoder ─► x̂ = g(z)
                               │                 z + ε ───────► decoder ─► x̆ = g(z + ε)   (RaDOGAGA)
                               ├─ [z, rel. distance, cosine] (optional, DAGMM features)
                               └─► estimation network (FC tanh, dropout, softmax) ─► γ
    (z_gmm, γ) ─► φ, μ, Σ (eq. 19) ─► R(z) = −log Σ φ N(z; μ, Σ) (eq. 20)

    RaDOGAGA (eq. 5): mean[ R + λ1·h(‖x − x̂‖²) + λ2·‖x̂ − x̆‖² ],  ε ~ U(−½, ½) (σ² = 1/12)
    DAGMM   (eq. 21): mean[ ‖x − x̂‖² ] + λ1·mean[R] + λ2·Σ_k Σ_i 1/Σ_k,ii      (no noise)

After training, the mixture (φ, μ, Σ) is computed once over the whole training set and
stored; :meth:`DensityEstimator.score_samples` returns R under it (the anomaly score).
:meth:`DensityEstimator.refine_mixture` (not in the paper) replaces it by EM on the training
latents (:func:`~rdcodec.density.gmm.refine_em`) when the estimation network left a
component dead or merged two clusters.

Eq. 5 has a collapsed minimum (z → 0, x̂ = the mean of x, noise term and rate ≈ 0). Two
training options, neither in the paper, keep training out of it: ``fit(initial_latent_std=1)``
starts the latent at unit scale instead of PyTorch's ≈ 0.01 (far below the unit-width noise),
and :meth:`DensityEstimator.fit_best_of` keeps the restart with the lowest training objective.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import torch
from torch import nn

from rdcodec.density.gmm import Mixture, energy, inverse_diagonal_penalty, mixture_from_memberships, refine_em

KINDS = ("radogaga", "dagmm")


@dataclasses.dataclass
class DensityConfig:
    input_dim: int
    hidden: tuple[int, ...] = (64, 32, 16)  # encoder hidden sizes; the decoder mirrors them
    latent: int = 3
    estimation: tuple[int, ...] = (10,)  # estimation-network hidden sizes
    components: int = 3
    dropout: float = 0.5
    kind: str = "radogaga"
    h: str = "identity"  # RaDOGAGA only: identity or log
    lambda1: float = 1e6
    lambda2: float = 1e6
    dagmm_features: bool = False  # append relative distance and cosine similarity to z for the GMM
    jitter: float = 1e-6

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}")
        if self.h not in ("identity", "log"):
            raise ValueError("h must be identity or log")


def _mlp(sizes: list[int], last_activation: bool) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2 or last_activation:
            layers.append(nn.Tanh())
    return nn.Sequential(*layers)


class DensityLoss(NamedTuple):
    total: torch.Tensor
    rate: torch.Tensor  # mean R (nats)
    distortion: torch.Tensor  # mean ‖x − x̂‖²
    scaling: torch.Tensor  # mean ‖x̂ − x̆‖² (RaDOGAGA) or the inverse-diagonal penalty (DAGMM)


class DensityNetwork(nn.Module):
    def __init__(self, config: DensityConfig):
        super().__init__()
        self.config = config
        enc = [config.input_dim, *config.hidden, config.latent]
        self.encoder = _mlp(enc, last_activation=False)
        self.decoder = _mlp(enc[::-1], last_activation=False)
        gmm_dim = config.latent + (2 if config.dagmm_features else 0)
        est: list[nn.Module] = []
        sizes = [gmm_dim, *config.estimation]
        for a, b in zip(sizes[:-1], sizes[1:]):
            est += [nn.Linear(a, b), nn.Tanh(), nn.Dropout(config.dropout)]
        est += [nn.Linear(sizes[-1], config.components), nn.Softmax(dim=1)]
        self.estimation = nn.Sequential(*est)

    def encode_latent(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def decode_latent(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    def gmm_input(self, x: torch.Tensor, z: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
        if not self.config.dagmm_features:
            return z
        rel = (x - x_hat).norm(dim=1) / x.norm(dim=1).clamp_min(1e-12)
        cos = nn.functional.cosine_similarity(x, x_hat, dim=1)
        return torch.cat([z, rel[:, None], cos[:, None]], dim=1)

    def loss(self, x: torch.Tensor, reconstruction_only: bool = False) -> DensityLoss:
        """Eq. 5 (RaDOGAGA) or eq. 21 (DAGMM); ``reconstruction_only``: mean ‖x − x̂‖² alone (warm-up)."""
        cfg = self.config
        z = self.encode_latent(x)
        if cfg.kind == "radogaga":
            noise = torch.rand_like(z) - 0.5
            decoded = self.decode_latent(torch.cat([z, z + noise]))
            x_hat, x_noisy = decoded[: len(x)], decoded[len(x) :]
        else:
            x_hat = self.decode_latent(z)
        g_in = self.gmm_input(x, z, x_hat)
        mixture = mixture_from_memberships(g_in, self.estimation(g_in), cfg.jitter)
        rate = energy(g_in, mixture)
        d = ((x - x_hat) ** 2).sum(dim=1)
        if reconstruction_only:
            zero = d.new_zeros(())
            return DensityLoss(d.mean(), rate.mean().detach(), d.mean(), zero)
        if cfg.kind == "radogaga":
            scaling = ((x_hat - x_noisy) ** 2).sum(dim=1)
            h_d = torch.log(d.clamp_min(1e-12)) if cfg.h == "log" else d
            total = (rate + cfg.lambda1 * h_d + cfg.lambda2 * scaling).mean()
            return DensityLoss(total, rate.mean(), d.mean(), scaling.mean())
        penalty = inverse_diagonal_penalty(mixture)
        total = d.mean() + cfg.lambda1 * rate.mean() + cfg.lambda2 * penalty
        return DensityLoss(total, rate.mean(), d.mean(), penalty)


class DensityEstimator:
    """Fit on an array, then score samples by R (negative log-likelihood of the GMM prior)."""

    def __init__(self, config: DensityConfig, device: str = "cpu", seed: int = 0):
        self.config = config
        self.device = torch.device(device)
        torch.manual_seed(seed)  # the initial weights are part of the seeded experiment
        self.network = DensityNetwork(config).to(self.device)
        self.mixture: Mixture | None = None
        self.history: list[dict] = []
        self.restart_losses: list[float] = []  # set by fit_best_of

    def fit(
        self,
        X: np.ndarray,
        *,
        epochs: int = 100,
        batch_size: int = 1024,
        lr: float = 1e-4,
        seed: int = 0,
        log_every: int = 0,
        warmup_epochs: int = 0,
        initial_latent_std: float | None = None,
        on_epoch: Callable[["DensityEstimator", int], None] | None = None,
    ) -> "DensityEstimator":
        """Train on X (rows = samples), then store the mixture of the training set.

        ``initial_latent_std`` (not in the paper): before the first step, rescale each output
        of the encoder's last layer so that latent dimension has this standard deviation on X
        (a data-dependent initialisation). The noise ε of eq. 5 has unit width whatever the
        data; a default-initialised encoder on low-variance data (Thyroid: total variance
        0.066) starts with z std ≈ 0.01, far below the noise, where the noise term flattens the
        decoder and training stays in the collapsed minimum (z → 0, x̂ = mean of x). Starting
        at z std ≈ 1 avoids it.

        ``warmup_epochs`` (not in the paper; counted within ``epochs``) first train the
        autoencoder on reconstruction alone, so the decoder depends on z before the rate and
        the noise term start pulling the latent scale down (see ``docs/experiments/toy``).

        ``on_epoch(self, epoch)`` runs after every epoch (1-based); it may call
        :meth:`mixture_of` or :meth:`score_samples` with an explicit mixture.
        """
        torch.manual_seed(seed)
        rng = np.random.default_rng(seed)
        data = torch.as_tensor(np.asarray(X, dtype=np.float32), device=self.device)
        if initial_latent_std is not None:
            self._rescale_latent(data, initial_latent_std)
        opt = torch.optim.Adam(self.network.parameters(), lr=lr)
        for epoch in range(epochs):
            self.network.train()
            order = rng.permutation(len(data))
            totals = np.zeros(4)
            batches = 0
            for start in range(0, len(data), batch_size):
                idx = order[start : start + batch_size]
                if len(idx) < 2:
                    continue
                terms = self.network.loss(data[idx], reconstruction_only=epoch < warmup_epochs)
                if not torch.isfinite(terms.total):
                    raise FloatingPointError(f"non-finite loss in epoch {epoch}")
                opt.zero_grad()
                terms.total.backward()
                nn.utils.clip_grad_norm_(self.network.parameters(), 5.0)
                opt.step()
                totals += [t.item() for t in terms]
                batches += 1
            record = dict(zip(("loss", "rate", "distortion", "scaling"), (totals / max(batches, 1)).tolist()), epoch=epoch + 1)
            self.history.append(record)
            if log_every and (epoch + 1) % log_every == 0:
                print(f"epoch {epoch + 1}: " + ", ".join(f"{k} {v:.4g}" for k, v in record.items() if k != "epoch"))
            if on_epoch is not None:
                on_epoch(self, epoch + 1)
        self.mixture = self.mixture_of(data)
        return self

    @torch.no_grad()
    def _rescale_latent(self, data: torch.Tensor, std: float) -> None:
        if std <= 0:
            raise ValueError("initial_latent_std must be positive")
        last = self.network.encoder[-1]
        current = self.network.encode_latent(data).std(dim=0, unbiased=False).clamp_min(1e-12)
        gain = std / current
        last.weight.mul_(gain[:, None])
        last.bias.mul_(gain)

    @classmethod
    def fit_best_of(
        cls,
        config: DensityConfig,
        X: np.ndarray,
        *,
        restarts: int = 1,
        seed: int = 0,
        device: str = "cpu",
        on_restart: Callable[["DensityEstimator", int], None] | None = None,
        **fit_kwargs,
    ) -> "DensityEstimator":
        """Train ``restarts`` networks and keep the one with the lowest final training objective.

        Restart r starts from seed ``seed + 1000·r`` (so ``restarts=1`` is :meth:`fit` with
        ``seed``). The objective is eq. 5 (or eq. 21 for DAGMM) averaged over the last epoch —
        training data only, never labels. Not in the paper: eq. 5 has a collapsed local
        minimum (z → 0, the decoder outputs the data mean, the noise term and the rate vanish)
        that low-variance data such as Thyroid fall into from some initialisations even when a
        coded latent has a far lower objective; a few restarts pick the better one, as
        ``n_init`` does for EM. The losses of all restarts are kept in ``restart_losses``;
        ``on_restart(candidate, r)`` runs after restart r is trained (to inspect each one).
        """
        if restarts < 1:
            raise ValueError("restarts must be at least 1")
        best: DensityEstimator | None = None
        losses = []
        for r in range(restarts):
            candidate = cls(config, device=device, seed=seed + 1000 * r).fit(X, seed=seed + 1000 * r, **fit_kwargs)
            losses.append(candidate.history[-1]["loss"] if candidate.history else float("inf"))
            if on_restart is not None:
                on_restart(candidate, r)
            if best is None or losses[-1] < min(losses[:-1]):
                best = candidate
        best.restart_losses = losses
        return best

    @torch.no_grad()
    def _gmm_inputs(self, data: torch.Tensor) -> torch.Tensor:
        self.network.eval()
        z = self.network.encode_latent(data)
        return self.network.gmm_input(data, z, self.network.decode_latent(z))

    @torch.no_grad()
    def mixture_of(self, X: np.ndarray | torch.Tensor) -> Mixture:
        """φ, μ, Σ of eq. 19 over all of X, with the estimation network's memberships (float64)."""
        g_in = self._gmm_inputs(torch.as_tensor(np.asarray(X, dtype=np.float32), device=self.device))
        gamma = self.network.estimation(g_in)
        return Mixture(*(t.detach() for t in mixture_from_memberships(g_in.double(), gamma.double(), self.config.jitter)))

    @torch.no_grad()
    def refined_mixture(
        self, X: np.ndarray, mixture: Mixture | None = None, *, steps: int = 100, restarts: int = 4, seed: int = 0
    ) -> Mixture:
        """EM on the latents of X from ``mixture`` (default: the stored one), which stays as it is."""
        mixture = mixture if mixture is not None else self.mixture
        if mixture is None:
            raise RuntimeError("fit the estimator first")
        g_in = self._gmm_inputs(torch.as_tensor(np.asarray(X, dtype=np.float32), device=self.device)).double()
        return refine_em(g_in, mixture, steps=steps, restarts=restarts, jitter=self.config.jitter, seed=seed)

    def refine_mixture(self, X: np.ndarray, *, steps: int = 100, restarts: int = 4, seed: int = 0) -> "DensityEstimator":
        """Replace the stored mixture by :meth:`refined_mixture` (not in the paper; see module doc)."""
        self.mixture = self.refined_mixture(X, steps=steps, restarts=restarts, seed=seed)
        return self

    @torch.no_grad()
    def latent(self, X: np.ndarray) -> np.ndarray:
        self.network.eval()
        return self.network.encode_latent(torch.as_tensor(np.asarray(X, dtype=np.float32), device=self.device)).cpu().numpy()

    @torch.no_grad()
    def score_samples(self, X: np.ndarray, mixture: Mixture | None = None) -> np.ndarray:
        """R(x) = −log P_ψ(z) under the stored mixture (or ``mixture``); higher means more anomalous."""
        mixture = mixture if mixture is not None else self.mixture
        if mixture is None:
            raise RuntimeError("fit the estimator first")
        g_in = self._gmm_inputs(torch.as_tensor(np.asarray(X, dtype=np.float32), device=self.device)).double()
        return energy(g_in, mixture).cpu().numpy()

    def log_density(self, X: np.ndarray, mixture: Mixture | None = None) -> np.ndarray:
        """log P_ψ(z(x)) (nats): proportional to log P_x(x) up to a constant when the model is isometric."""
        return -self.score_samples(X, mixture)
