"""Figures for :mod:`rdcodec.analysis.latent` (matplotlib, PNG bytes)."""

from __future__ import annotations

import io

import numpy as np

from rdcodec.analysis.latent import ChannelEnergy, IsometryReport


def pyplot():
    """matplotlib.pyplot on the Agg backend (no screen needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def png_bytes(fig, plt) -> bytes:
    """PNG bytes of ``fig`` (tight layout, 110 dpi); the figure is closed."""
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()


def energy_figure(energy: ChannelEnergy, show: int = 32) -> bytes:
    """Sorted channel variances (bars) with the cumulative energy ratio (line), paper Fig. 6a/6b."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 4))
    k = min(show, len(energy.variance))
    ax.bar(range(1, k + 1), energy.variance[:k], color="tab:blue")
    ax.set_xlabel("latent channel, by decreasing variance")
    ax.set_ylabel("variance of z")
    twin = ax.twinx()
    twin.plot(range(1, k + 1), energy.cumulative_ratio[:k], "o-", color="tab:red", markersize=3)
    twin.set_ylim(0, 1.02)
    twin.set_ylabel("cumulative energy ratio")
    return png_bytes(fig, plt)


def isometry_figure(report: IsometryReport) -> bytes:
    """D′_i per channel (bars) with the predicted value (line), paper Fig. 6c/6d."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.bar(range(1, len(report.d_prime) + 1), report.d_prime, color="tab:green")
    if report.predicted is not None:
        ax.axhline(report.predicted, color="k", linestyle="--", label=f"theory 1/(2·λ2·ln2·σ²) = {report.predicted:.3g}")
        ax.legend()
    ax.set_xlabel("latent channel, by decreasing variance")
    ax.set_ylabel(f"D′ ({report.metric}, δ = {report.delta})")
    ax.set_title(f"CV {report.cv:.3f}, random-direction correlation {report.random_direction_correlation:.3f}")
    return png_bytes(fig, plt)


def save_png(pixels: np.ndarray) -> bytes:
    """PNG bytes of an H×W×3 uint8 grid (:func:`rdcodec.image_io.encode_png`)."""
    from rdcodec.image_io import encode_png

    return encode_png(pixels)


def comparison_figure(profiles: dict, show: int = 32) -> bytes:
    """Networks side by side, paper Fig. 6–7 on one page. ``profiles`` is ``{name: (ChannelEnergy,
    IsometryReport)}``: the variance of each latent channel by decreasing variance (log scale),
    the cumulative energy ratios, and D′_i over the top channels divided by each network's mean
    D′ (an isometric latent is flat at 1)."""
    plt = pyplot()
    fig, (ax_v, ax_e, ax_d) = plt.subplots(1, 3, figsize=(15, 4))
    for name, (energy, isometry) in profiles.items():
        k = min(show, len(energy.cumulative_ratio))
        ax_v.semilogy(range(1, k + 1), energy.variance[:k], "o-", markersize=3, label=name)
        ax_e.plot(range(1, k + 1), energy.cumulative_ratio[:k], "o-", markersize=3, label=name)
        d = np.asarray(isometry.d_prime)
        ax_d.plot(range(1, len(d) + 1), d / d.mean(), "s-", markersize=4, label=f"{name} (CV {isometry.cv:.3f})")
    ax_v.set(xlabel="latent channel, by decreasing variance", ylabel="variance of z")
    ax_v.set_title("variance per channel")
    ax_e.set(xlabel="latent channel, by decreasing variance", ylabel="cumulative energy ratio", ylim=(0, 1.02))
    ax_e.set_title("energy compaction")
    ax_d.axhline(1.0, color="k", linewidth=0.8)
    ax_d.set(xlabel="latent channel, by decreasing variance", ylabel="D′_i / mean D′")
    ax_d.set_title("isometry: D′ per top channel")
    for ax in (ax_v, ax_e, ax_d):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return png_bytes(fig, plt)
