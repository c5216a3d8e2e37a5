"""Reviving the idle latent channels of a trained codec network before it trains on.

A channel whose encoder output collapsed to its prior's median early in training stays idle:
its decoder filters decayed to nothing, so the distortion gives its encoder filter no gradient,
and its prior became a spike that prices any variation at many bits. Raising λ does not bring
it back (docs/rd/campaign.md, pilot 6: 93 of 128 channels active at λ = 2000 and still 93 at
λ = 8000). Revival re-initialises exactly those channels and lets training decide whether they
earn their rate::

    checkpoint ─► channel rates on training images at Δ ─► idle channels (≤ 0.1 % of the rate)
        ─► RDAutoencoder.reinitialise_channels (random encoder filter of a live channel's
           norm, zero decoder filter, fresh prior)
        ─► fit_revived_prior (the fresh priors fitted to the new latents, others untouched)
        ─► weights file ─► ``init_from`` of a run

Without the prior fit the run would start with the revived channels priced by an untrained
density, and at a fine-tuning learning rate the prior adapts more slowly than the rate term
shrinks the new latents back to nothing.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

#: a revived encoder filter's norm: this fraction of the live filters' 10 % norm quantile (a random
#: filter of the live norm gives a latent of about twice the spread of a live one: ~3 bits a latent)
NORM_QUANTILE, NORM_SCALE = 0.1, 0.5
#: compressai's ``init_scale`` of a revived channel's prior: quantiles at ±2, a latent of about unit spread
PRIOR_SCALE = 2.0


#: Adam steps and learning rate of :func:`fit_revived_prior`
FIT_ITERATIONS, FIT_LR = 400, 1e-2
#: side of the centre crops of training images the revived priors are fitted on
FIT_CROP = 128


class Revival(NamedTuple):
    """What :func:`revive_channels` did, recorded beside the weights it wrote."""

    channels: list[int]
    encoder_norm: float  # norm of each revived encoder filter
    prior_scale: float
    seed: int


def revive_channels(
    network, channels: list[int], seed: int = 0, prior_scale: float = PRIOR_SCALE, norm_scale: float = NORM_SCALE
) -> Revival:
    """Re-initialise ``channels`` of ``network`` (an :class:`~rdcodec.model.network.RDAutoencoder`)
    in place; the encoder filters get ``norm_scale`` × the :data:`NORM_QUANTILE` quantile of the
    live filters' norms."""
    channels = sorted(set(int(c) for c in channels))
    weight = network.g_a[-1].weight.detach().float()
    live = [c for c in range(weight.shape[0]) if c not in channels]
    if not live:
        raise ValueError("every channel is idle: nothing to take the encoder filters' scale from")
    norms = weight[live].flatten(1).norm(dim=1)
    encoder_norm = norm_scale * float(torch.quantile(norms, NORM_QUANTILE))
    generator = torch.Generator().manual_seed(seed)
    network.reinitialise_channels(channels, encoder_norm, prior_scale, generator)
    return Revival(channels, encoder_norm, prior_scale, seed)


def training_latents(network, images: list, crop: int = FIT_CROP) -> torch.Tensor:
    """z = g_a(x) of the ``crop``² centre crops of ``images`` (H×W×3 uint8 training images, never
    Kodak) side by side, [1, M, Σ positions, 1]: what :func:`fit_revived_prior` fits to."""
    from rdcodec.image_tensor import to_tensor
    from rdcodec.train.data import center_crop

    with torch.no_grad():
        latents = [network.g_a(to_tensor(center_crop(image, crop))) for image in images]
        return torch.cat([z.flatten(2) for z in latents], dim=2)[..., None]


def fit_revived_prior(
    network, latents: torch.Tensor, channels: list[int], iterations: int = FIT_ITERATIONS, lr: float = FIT_LR
) -> tuple[float, float]:
    """Fit P_ψ of ``channels`` to ``latents`` (z = g_a(x) [B, M, h, w] of training images) by
    Adam on their −log₂ P_ψ(z + ε) at Δ = 1 (eq. 5's rate term); every other channel's prior
    has its density parameters restored bit for bit afterwards. Then the quantiles (tail
    bounds and medians, of every channel) are settled by bisection. Returns the revived channels'
    mean bits per latent (before, after)."""
    channels = sorted(set(int(c) for c in channels))
    prior = network.entropy_bottleneck
    params = {name: p for name, p in prior.named_parameters() if not name.endswith("quantiles")}
    kept = {name: p.detach().clone() for name, p in params.items()}
    optimiser = torch.optim.Adam(params.values(), lr=lr)
    latents = latents.detach().float()

    def bits() -> torch.Tensor:
        _, likelihood = network.noisy_latent(latents, 1.0)
        return -torch.log2(likelihood[:, channels]).mean()

    with torch.random.fork_rng(devices=[]):  # the noise ε of the fit, from its own seed
        torch.manual_seed(0)
        try:
            with torch.no_grad():
                before = float(bits())
            for _ in range(iterations):
                optimiser.zero_grad()
                loss = bits()
                loss.backward()
                optimiser.step()
        finally:
            optimiser.zero_grad(set_to_none=True)
            with torch.no_grad():
                for name, p in params.items():
                    revived = p[channels].clone()
                    p.copy_(kept[name])
                    p[channels] = revived
        with torch.no_grad():
            after = float(bits())
    network.settle_quantiles()
    return before, after
