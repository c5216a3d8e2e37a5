"""Bjøntegaard delta rate (BD-rate) between two rate–quality curves.

The quality axis is in dB-like units where higher is better: PSNR as is, and for SSIM-type
scores ``−10·log10(1 − score)`` (:func:`to_db`). Each curve's log-rate is interpolated as a
function of quality with a monotone piecewise-cubic (PCHIP) interpolant, the modern form of
Bjøntegaard's cubic fit that does not overshoot on uneven points, and integrated over the
quality interval both curves cover::

    BD-rate = exp( (∫ log R_test − ∫ log R_anchor) / (q_high − q_low) ) − 1      (in %)

Negative means the test curve needs fewer bits than the anchor for the same quality.
"""

from __future__ import annotations

import math

import numpy as np


def to_db(score: float) -> float:
    """−10·log10(1 − score) for SSIM / MS-SSIM (∞ for a perfect score)."""
    return math.inf if score >= 1 else -10.0 * math.log10(1.0 - score)


def _monotone(rates, qualities):
    """Points sorted by quality, keeping a strictly increasing quality and finite values."""
    pts = sorted((q, math.log(r)) for r, q in zip(rates, qualities) if r > 0 and math.isfinite(q) and math.isfinite(r))
    xs, ys = [], []
    for q, lr in pts:
        if xs and q <= xs[-1]:
            continue
        xs.append(q)
        ys.append(lr)
    return np.array(xs), np.array(ys)


def _integral(xs, ys, low, high):
    if len(xs) == 2:
        slope = (ys[1] - ys[0]) / (xs[1] - xs[0])
        f = lambda x: ys[0] * x + 0.5 * slope * (x - xs[0]) ** 2  # noqa: E731
        return f(high) - f(low)
    from scipy.interpolate import PchipInterpolator

    return float(PchipInterpolator(xs, ys).integrate(low, high))


def bd_rate(test_rates, test_quality, anchor_rates, anchor_quality) -> float | None:
    """BD-rate of the test curve against the anchor in percent; ``None`` without overlap."""
    tx, ty = _monotone(test_rates, test_quality)
    ax, ay = _monotone(anchor_rates, anchor_quality)
    if len(tx) < 2 or len(ax) < 2:
        return None
    low, high = max(tx[0], ax[0]), min(tx[-1], ax[-1])
    if not high > low:
        return None
    diff = (_integral(tx, ty, low, high) - _integral(ax, ay, low, high)) / (high - low)
    return (math.exp(diff) - 1.0) * 100.0
