"""Latent analysis (paper §4.2, §5.3): channel energy, isometry D′_i, Jacobian Gram, traversals.

``from rdcodec import analysis; analysis.channel_energy(net, crops)``; the measures live in
:mod:`rdcodec.analysis.latent`, their figures in :mod:`rdcodec.analysis.figures`; the rate of
each latent channel of a codec network in :mod:`rdcodec.analysis.rates`.
"""

from rdcodec.analysis.latent import (
    ChannelEnergy,
    GramReport,
    IsometryReport,
    channel_energy,
    isometry,
    jacobian_gram,
    predicted_d_prime,
    traverse,
)
from rdcodec.analysis.rates import ChannelRates, channel_rates
from rdcodec.analysis.report import LatentReport, latent_report, objective_lambda2

__all__ = [
    "ChannelEnergy",
    "ChannelRates",
    "GramReport",
    "IsometryReport",
    "LatentReport",
    "channel_energy",
    "channel_rates",
    "isometry",
    "jacobian_gram",
    "latent_report",
    "objective_lambda2",
    "predicted_d_prime",
    "traverse",
]
