"""The whole latent analysis of one codec network, as one typed result (``rdcodec analyze``).

    crops ─► channel_energy ─► order, cumulative ratio (top-10 share)
          ─► isometry (top channels) ─► D′_i, CV, measured / predicted 1/(2 λ2 ln2 σ²), random directions
          ─► jacobian_gram (same channels, first crop) ─► diagonal CV, off-diagonal ratio

The prediction of eq. 10 exists only for a network trained with eq. 5: pass ``lambda2`` from a
RaDOGAGA objective and ``None`` for the Ballé loss (:func:`objective_lambda2`).
"""

from __future__ import annotations

from typing import NamedTuple

from rdcodec.analysis.latent import ChannelEnergy, GramReport, IsometryReport, channel_energy, isometry, jacobian_gram


class LatentReport(NamedTuple):
    metric: str
    lambda2: float | None  # the eq. 5 λ2 the prediction uses (None: no prediction)
    energy: ChannelEnergy
    top10_energy_share: float
    isometry: IsometryReport
    gram: GramReport

    def to_dict(self) -> dict:
        return {
            "metric": self.metric,
            "lambda2": self.lambda2,
            "channel_energy": self.energy._asdict(),
            "top10_energy_share": self.top10_energy_share,
            "isometry": self.isometry._asdict(),
            "jacobian_gram": self.gram._asdict(),
        }


def objective_lambda2(objective: dict | None) -> float | None:
    """λ2 of an eq. 5 objective; ``None`` for the Ballé loss, which has no scaling term."""
    objective = objective or {}
    if objective.get("kind", "radogaga") != "radogaga":
        return None
    return objective.get("lambda2")


def latent_report(network, crops, metric: str, lambda2: float | None, *, top: int = 9, **isometry_options) -> LatentReport:
    """Energy, isometry and Jacobian Gram of ``network`` on equal-size ``crops`` (H×W×3 uint8).

    The ``top`` channels by variance are measured; ``isometry_options`` (``delta``,
    ``positions``, ``pairs``, ``seed``) go to :func:`~rdcodec.analysis.latent.isometry`.
    """
    energy = channel_energy(network, crops)
    iso = isometry(network, crops, metric, channels=energy.order[:top], lambda2=lambda2, **isometry_options)
    gram = jacobian_gram(network, crops[:1], metric, channels=iso.channels)
    share = energy.cumulative_ratio[min(9, len(energy.cumulative_ratio) - 1)]
    return LatentReport(metric, lambda2, energy, share, iso, gram)
