"""GMM-prior RDO autoencoders for density estimation and anomaly detection (paper §5.1–5.2)."""

from rdcodec.density.gmm import Mixture, energy, inverse_diagonal_penalty, mixture_from_memberships, refine_em
from rdcodec.density.model import DensityConfig, DensityEstimator, DensityLoss, DensityNetwork

__all__ = [
    "DensityConfig",
    "DensityEstimator",
    "DensityLoss",
    "DensityNetwork",
    "Mixture",
    "energy",
    "inverse_diagonal_penalty",
    "mixture_from_memberships",
    "refine_em",
]
