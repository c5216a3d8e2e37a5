"""Where a codec network's bits go: the rate of each latent channel at a quantization step Δ.

A network trained with eq. 5 at one λ and swept over Δ (the shipped ladders) can only spend
bits in the channels that training left active: a channel whose encoder output collapsed to
the prior's median carries nothing at any Δ and costs only −log₂ P of the median bin, near
zero under a prior trained to peak there. Counting the channels that carry
bits at the smallest Δ of a ladder tells whether its high end is limited by the number of
latent channels M (all active) or by what training at that λ left active (some idle)::

    images ─► g_a ─► z ─► round((z − m) / Δ) ─► −log₂ P_ψ(bin) per channel ─► bits / pixel
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from rdcodec.image_tensor import to_tensor


class ChannelRates(NamedTuple):
    """Rate of each latent channel at one Δ, in bits per image pixel, averaged over the images."""

    step: float
    bpp: list[float]  # per channel, in channel order; sums to ``total_bpp``
    total_bpp: float

    @property
    def order(self) -> list[int]:
        """The channels by rate, largest first."""
        return sorted(range(len(self.bpp)), key=lambda c: -self.bpp[c])

    def active(self, share: float = 0.001) -> int:
        """How many channels carry more than ``share`` of the total rate."""
        return int(sum(b > share * self.total_bpp for b in self.bpp))

    def idle(self, share: float = 0.001) -> list[int]:
        """The channels that carry at most ``share`` of the total rate (the complement of :meth:`active`)."""
        return [c for c, b in enumerate(self.bpp) if not b > share * self.total_bpp]

    def channels_for(self, fraction: float) -> int:
        """The fewest channels that carry ``fraction`` of the rate (largest first)."""
        cumulative = np.cumsum(sorted(self.bpp, reverse=True)) / self.total_bpp
        return int(np.searchsorted(cumulative, fraction) + 1)


@torch.no_grad()
def channel_rates(network, images, steps) -> list[ChannelRates]:
    """:class:`ChannelRates` of ``network`` (an :class:`~rdcodec.model.network.RDAutoencoder`)
    on ``images`` (H×W×3 uint8 arrays) at each Δ in ``steps``: the estimated rate under P_ψ's
    bin probabilities, the ones the frozen tables are made from. Each image weighs by its
    pixels (bits of all images / pixels of all images)."""
    network = network.eval()
    medians = network.medians()
    latents = [(network.g_a(to_tensor(image)), image.shape[0] * image.shape[1]) for image in images]
    pixels = sum(n for _, n in latents)
    reports = []
    for step in steps:
        bits = sum(network.channel_bin_bits(network.quantize(z, medians, step), medians, step) for z, _ in latents)
        bpp = (bits / pixels).double()
        reports.append(ChannelRates(float(step), bpp.tolist(), float(bpp.sum())))
    return reports
