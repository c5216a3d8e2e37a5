"""Latent analysis (paper §4.2, §5.3): channel energy, isometry D′_i, Jacobian Gram, traversals.

``from rdcodec import analysis; analysis.channel_energy(net, crops)``; the measures live in
:mod:`rdcodec.analysis.latent`, their figures in :mod:`rdcodec.analysis.figures`.
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
from rdcodec.analysis.report import LatentReport, latent_report, objective_lambda2

__all__ = [
    "ChannelEnergy",
    "GramReport",
    "IsometryReport",
    "LatentReport",
    "channel_energy",
    "isometry",
    "jacobian_gram",
    "latent_report",
    "objective_lambda2",
    "predicted_d_prime",
    "traverse",
]
