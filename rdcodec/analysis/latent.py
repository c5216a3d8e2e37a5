"""Latent-space analysis: energy compaction, isometry and traversals (paper §4.2, §5.3, eq. 10).

RaDOGAGA's claim (appendix A): at the optimum of eq. 5 the decoder Jacobian J = ∂g/∂z
satisfies ``Jᵀ A(x) J = 1 / (2 λ2 σ²) · I`` where D(x, x + δx) ≈ δxᵀ A(x) δx — the latent is
isometric to the data in the metric D, and P_z ∝ P_x.

Units. rdcodec's losses use a per-pixel *mean* D and a rate in bits per pixel; per image that
is ``R_nats + λ2·ln2·(H·W)·D_mean``, so the quadratic form of the theory is
``Q(u) = H·W · D_mean(x̂, x̂ + u)`` and the prediction for every active latent direction is::

    D′ = Q(g(z + δe) − g(z)) / δ²  →  1 / (2 · λ2 · ln 2 · σ²) = 6 / (λ2 · ln 2)     (σ² = 1/12)

Any model with ``encode_latent(x)`` and ``decode_latent(z)`` (x in [0, 1], N×C×H×W) works: the
shipped codec models (conv latents C×h×w), training checkpoints, and the fully connected
models of the experiments (latents N×d). Computations run in float64 on a copy of the model.

Data flow::

    images ─► encode_latent ─► z ─┬─► channel variances ─► sorted energy, cumulative ratio
                                  ├─► z + δ e_i ─► decode ─► D′_i = Q(Δx)/δ²  (per channel)
                                  ├─► z + δ v, z + δ w ─► ⟨Δx_v, Δx_w⟩_A vs δ²⟨v, w⟩ (correlation)
                                  └─► JVPs J e_i ─► Gram Jᵀ A J (diag CV, off-diag ratio)
"""

from __future__ import annotations

import copy
import math
from typing import NamedTuple

import numpy as np
import torch

from rdcodec.distortion import distortion
from rdcodec.image_tensor import to_pixels, to_tensor

SIGMA2 = 1.0 / 12.0


class ChannelEnergy(NamedTuple):
    order: list[int]  # channel indices, largest variance first
    variance: list[float]  # variance of each channel in that order
    cumulative_ratio: list[float]  # share of total variance held by the first k channels


class IsometryReport(NamedTuple):
    metric: str
    delta: float
    channels: list[int]  # channels measured, by decreasing variance
    d_prime: list[float]  # D′_i for those channels
    mean: float
    cv: float  # coefficient of variation of D′_i across the channels
    predicted: float | None  # 6 / (λ2 ln 2), if λ2 is known
    measured_over_predicted: float | None
    random_direction_correlation: float


class GramReport(NamedTuple):
    metric: str
    channels: list[int]
    gram: list[list[float]]  # Jᵀ A J restricted to the channels (one latent position)
    diagonal_cv: float
    offdiagonal_ratio: float  # mean |off-diagonal| / mean diagonal


def _float64_copy(model) -> torch.nn.Module:
    m = copy.deepcopy(model).double().eval()
    for p in m.parameters():
        p.requires_grad_(False)
    return m


def _images_tensor(images) -> torch.Tensor:
    """A float64 batch in [0, 1] from a tensor or a list of H×W×3 uint8 arrays (same size)."""
    if isinstance(images, torch.Tensor):
        return images.double()
    return to_tensor(np.stack([np.asarray(im) for im in images]), torch.float64)


def predicted_d_prime(lambda2: float) -> float:
    """1 / (2 λ2 ln2 σ²): the D′ the theory predicts for rdcodec's loss normalization."""
    return 1.0 / (2.0 * lambda2 * math.log(2.0) * SIGMA2)


def _q(metric: str, base: torch.Tensor, moved: torch.Tensor) -> torch.Tensor:
    """Q per sample: (pixels per image) · D_mean(base, moved); plain squared error for vectors."""
    if base.dim() == 4:
        pixels = base.shape[-1] * base.shape[-2]
        return torch.stack([distortion(metric, a[None], b[None]) for a, b in zip(base, moved)]) * pixels
    if metric != "mse":
        raise ValueError(f"metric {metric!r} needs image outputs; vectors support 'mse' only")
    return ((base - moved) ** 2).sum(dim=1)


def _channel_view(z: torch.Tensor) -> torch.Tensor:
    """[channels, samples] view: conv latents pool batch and positions; FC latents the batch."""
    if z.dim() == 4:
        return z.permute(1, 0, 2, 3).reshape(z.shape[1], -1)
    return z.t()


@torch.no_grad()
def channel_energy(model, images) -> ChannelEnergy:
    """Per-channel variance of z, sorted, with the cumulative energy ratio (paper Fig. 6a/6b)."""
    m = _float64_copy(model)
    z = m.encode_latent(_images_tensor(images))
    var = _channel_view(z).var(dim=1, unbiased=False)
    order = torch.argsort(var, descending=True)
    sorted_var = var[order]
    total = float(sorted_var.sum())
    cumulative = (torch.cumsum(sorted_var, 0) / total).tolist() if total > 0 else [0.0] * len(order)
    return ChannelEnergy(order.tolist(), sorted_var.tolist(), cumulative)


def _unit(index: int, z: torch.Tensor, position: tuple[int, int] | None) -> torch.Tensor:
    e = torch.zeros_like(z[:1])
    if z.dim() == 4:
        e[0, index, position[0], position[1]] = 1.0
    else:
        e[0, index] = 1.0
    return e


def _positions(z: torch.Tensor, count: int, rng: np.random.Generator) -> list[tuple[int, int] | None]:
    if z.dim() != 4:
        return [None]
    h, w = z.shape[2], z.shape[3]
    # interior positions first: border latents see the padding, not the image
    ys = range(1, h - 1) if h > 2 else range(h)
    xs = range(1, w - 1) if w > 2 else range(w)
    cells = [(y, x) for y in ys for x in xs]
    picks = rng.choice(len(cells), size=min(count, len(cells)), replace=False)
    return [cells[i] for i in picks]


@torch.no_grad()
def isometry(
    model,
    images,
    metric: str = "ssim",
    *,
    channels: list[int] | None = None,
    top: int = 9,
    delta: float = 0.25,
    positions: int = 4,
    pairs: int = 64,
    lambda2: float | None = None,
    seed: int = 0,
) -> IsometryReport:
    """D′_i per channel, its spread, the theory's value, and the random-direction correlation.

    ``channels`` defaults to the ``top`` channels by variance. For conv latents each channel is
    moved at ``positions`` random interior positions per image; D′ is averaged over samples and
    positions. The random-direction test draws unit directions v, w in the span of those
    channels (at one position) with a uniformly random angle between them and correlates
    δ²⟨v, w⟩ with the metric's inner product of the decoded differences (polarization of Q).
    """
    rng = np.random.default_rng(seed)
    m = _float64_copy(model)
    x = _images_tensor(images)
    z = m.encode_latent(x)
    if channels is None:
        channels = channel_energy(model, images).order[:top]
    d_values = []
    for c in channels:
        per_sample = []
        for i in range(z.shape[0]):
            zi = z[i : i + 1]
            base = m.decode_latent(zi)
            for pos in _positions(zi, positions, rng):
                moved = m.decode_latent(zi + delta * _unit(c, zi, pos))
                per_sample.append(float(_q(metric, base, moved)[0]) / delta**2)
        d_values.append(float(np.mean(per_sample)))
    d = np.array(d_values)
    mean = float(d.mean())
    cv = float(d.std() / mean) if mean > 0 else math.inf

    latent_products, data_products = [], []
    for k in range(pairs):
        i = int(rng.integers(z.shape[0]))
        zi = z[i : i + 1]
        pos = _positions(zi, 1, rng)[0]
        basis = torch.cat([_unit(c, zi, pos) for c in channels])  # [k, ...]
        v = rng.normal(size=len(channels))
        v /= np.linalg.norm(v)
        u = rng.normal(size=len(channels))
        u -= u.dot(v) * v
        u /= np.linalg.norm(u)
        theta = rng.uniform(0, math.pi)
        w = math.cos(theta) * v + math.sin(theta) * u
        dv = torch.einsum("k,k...->...", torch.from_numpy(v), basis)[None] * delta
        dw = torch.einsum("k,k...->...", torch.from_numpy(w), basis)[None] * delta
        base = m.decode_latent(zi)
        a = m.decode_latent(zi + dv) - base
        b = m.decode_latent(zi + dw) - base
        inner = (_q(metric, base, base + a + b) - _q(metric, base, base + a - b)) / 4.0
        latent_products.append(delta**2 * float(np.dot(v, w)))
        data_products.append(float(inner[0]))
    corr = float(np.corrcoef(latent_products, data_products)[0, 1])
    predicted = predicted_d_prime(lambda2) if lambda2 else None
    return IsometryReport(
        metric, delta, list(channels), d_values, mean, cv, predicted, (mean / predicted) if predicted else None, corr
    )


def jacobian_gram(
    model, x, metric: str = "ssim", *, channels: list[int] | None = None, top: int = 9, step: float = 1e-3
) -> GramReport:
    """Jᵀ A(x) J on the given latent channels at the centre position, from JVPs (eq. 10).

    Columns J e_i are Jacobian–vector products of the decoder (``torch.autograd.functional.jvp``,
    which also works through the GDN layers' custom autograd functions); A's inner product is
    the polarization of Q at a small scale ``step`` (Q is quadratic to first order).
    """
    from torch.autograd.functional import jvp

    m = _float64_copy(model)
    xt = _images_tensor(x)[:1]
    with torch.no_grad():
        z = m.encode_latent(xt)
        base = m.decode_latent(z)
    if channels is None:
        channels = channel_energy(model, xt).order[:top]
    pos = (z.shape[2] // 2, z.shape[3] // 2) if z.dim() == 4 else None
    cols = []
    for c in channels:
        _, col = jvp(m.decode_latent, z, _unit(c, z, pos))
        cols.append(col.detach())
    k = len(cols)
    gram = np.zeros((k, k))
    with torch.no_grad():
        for i in range(k):
            for j in range(i, k):
                plus = _q(metric, base, base + step * (cols[i] + cols[j]))
                minus = _q(metric, base, base + step * (cols[i] - cols[j]))
                gram[i, j] = gram[j, i] = float((plus - minus)[0]) / (4 * step**2)
    diag = np.diag(gram)
    off = gram[~np.eye(k, dtype=bool)]
    diag_cv = float(diag.std() / diag.mean()) if diag.mean() > 0 else math.inf
    off_ratio = float(np.abs(off).mean() / diag.mean()) if k > 1 and diag.mean() > 0 else 0.0
    return GramReport(metric, list(channels), gram.tolist(), diag_cv, off_ratio)


@torch.no_grad()
def traverse(
    model, image, channels: list[int] | None = None, span: float = 2.0, steps: int = 5, top: int = 6, reference_images=None
) -> np.ndarray:
    """A grid of decodes (rows: channels, columns: −span·σ … +span·σ), as H'×W'×3 uint8 (Fig. 7).

    Each row moves one channel — at every latent position for conv latents — by multiples of
    its standard deviation over ``reference_images`` (default: the image itself).
    """
    m = _float64_copy(model)
    x = _images_tensor([image] if isinstance(image, np.ndarray) else image)[:1]
    z = m.encode_latent(x)
    energy = channel_energy(model, reference_images if reference_images is not None else x)
    if channels is None:
        channels = energy.order[:top]
    std = {c: math.sqrt(v) for c, v in zip(energy.order, energy.variance)}
    rows = []
    for c in channels:
        tiles = []
        for t in np.linspace(-span, span, steps):
            moved = z.clone()
            moved[:, c] += t * std.get(c, 0.0)
            tiles.append(to_pixels(m.decode_latent(moved)[:1]))
        rows.append(np.concatenate(tiles, axis=1))
    return np.concatenate(rows, axis=0)
