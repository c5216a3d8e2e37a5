"""Bjøntegaard delta rate (BD-rate) between two rate–quality curves.

The quality axis is in dB-like units where higher is better: PSNR as is, and for SSIM-type
scores ``−10·log10(1 − score)`` (:func:`to_db`). Each curve's log-rate is interpolated as a
function of quality and integrated over the quality interval both curves cover::

    BD-rate = exp( (∫ log R_test − ∫ log R_anchor) / (q_high − q_low) ) − 1      (in %)

Negative means the test curve needs fewer bits than the anchor for the same quality.

The integral is the ``bjontegaard`` package's (FAU-LMS, ``bjontegaard.bd_rate``) with
``method="pchip"``: a monotone piecewise-cubic (PCHIP, SciPy's ``PchipInterpolator``)
interpolant, the modern form of Bjøntegaard's cubic fit that does not overshoot on uneven
points (two points: a straight line). Before the points go to the package they are cleaned
here, because its interpolant needs a strictly increasing quality: points with a
non-positive or non-finite rate or a non-finite quality (a perfect SSIM in dB) are dropped,
the rest sorted by quality, and of points with equal quality only the lowest-rate one kept.
A curve left with fewer than two points, or two curves whose quality intervals do not
overlap, have no BD-rate (``None``); a partial overlap is integrated over its common part
without the package's low-overlap warning.
"""

from __future__ import annotations

import math

import numpy as np


def to_db(score: float) -> float:
    """−10·log10(1 − score) for SSIM / MS-SSIM (∞ for a perfect score)."""
    return math.inf if score >= 1 else -10.0 * math.log10(1.0 - score)


def _monotone(rates, qualities) -> tuple[np.ndarray, np.ndarray]:
    """(rates, qualities) sorted by quality, keeping a strictly increasing quality and finite values."""
    pts = sorted((q, r) for r, q in zip(rates, qualities) if r > 0 and math.isfinite(q) and math.isfinite(r))
    qs, rs = [], []
    for q, r in pts:
        if qs and q <= qs[-1]:
            continue
        qs.append(q)
        rs.append(r)
    return np.array(rs, dtype=float), np.array(qs, dtype=float)


def bd_rate(test_rates, test_quality, anchor_rates, anchor_quality) -> float | None:
    """BD-rate of the test curve against the anchor in percent; ``None`` without overlap."""
    tr, tq = _monotone(test_rates, test_quality)
    ar, aq = _monotone(anchor_rates, anchor_quality)
    if len(tq) < 2 or len(aq) < 2:
        return None
    if not min(tq[-1], aq[-1]) > max(tq[0], aq[0]):
        return None
    import bjontegaard  # imports matplotlib.pyplot: only when a BD-rate is computed

    return float(bjontegaard.bd_rate(ar, aq, tr, tq, method="pchip", require_matching_points=False, min_overlap=0.0))


def rate_ratios(test_rates, test_quality, anchor_rates, anchor_quality) -> list[float | None]:
    """Per test point, its rate over the anchor's rate at the same quality (the anchor's log-rate
    interpolated over quality with the same PCHIP as :func:`bd_rate`); ``None`` where the point's
    quality lies outside the anchor's range. Where BD-rate averages, this says where a curve
    gains or loses: 1.4 = the test needs 40 % more bits than the anchor at that point's quality.
    A point with a non-positive or non-finite rate or a non-finite quality has ``None`` too."""
    ar, aq = _monotone(anchor_rates, anchor_quality)
    if len(aq) < 2:
        return [None] * len(list(test_rates))
    from scipy.interpolate import PchipInterpolator

    log_rate = PchipInterpolator(aq, np.log(ar))
    return [
        float(r / np.exp(log_rate(q))) if math.isfinite(r) and r > 0 and math.isfinite(q) and aq[0] <= q <= aq[-1] else None
        for r, q in zip(test_rates, test_quality, strict=True)
    ]
