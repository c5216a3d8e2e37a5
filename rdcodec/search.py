"""Encoder-side rate–distortion search of the latent (optional, ``rdcodec encode --search N``).

The encoder f is amortised: z = f(x) is a good latent for typical images, not the best one for
this image. Like a classical encoder's RD search (cwebp ``-m``, x264 ``--trellis``), this
module looks, for one image, for symbols that lower the model's own objective

    J(v) = R(v) + λ1 · D(x, g(m + Δ·round(v)))          (eq. 5 without the λ2 training term)

starting from v₀ = (f(x) − m)/Δ, with Adam on v. The distortion sees the rounded latent through
a straight-through estimator; R(v) is the rate in bits per pixel under P_ψ's bin probability
for step Δ, P(m + Δ(v − ½) < z < m + Δ(v + ½)) — the same function the frozen tables were
made from, so lowering it lowers the real code length. The decoder, the tables and the stream
format are untouched: any decoder reads the result. The search returns the best iterate by the
exact objective (real rounded symbols, frozen-table rate), never worse than v₀.

Data flow::

    x ─► f ─► v₀ ─► [ Adam on v: STE round ─► g ─► D ;  P_ψ bins(v) ─► R ] × N ─► best round(v)
"""

from __future__ import annotations

import math
import numbers

import torch

from rdcodec.distortion import METRICS, distortion
from rdcodec.model.network import RDAutoencoder
from rdcodec.model.precision import bf16_is_native


class SearchError(ValueError):
    """The search cannot run with these arguments (one line, says which)."""


def _is_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def _check_arguments(iterations, step, metric, lambda1, lr, check_every) -> None:
    if not isinstance(iterations, numbers.Integral) or isinstance(iterations, bool) or iterations < 0:
        raise SearchError(f"the search's iterations must be a non-negative integer, not {iterations!r}")
    if not isinstance(check_every, numbers.Integral) or isinstance(check_every, bool) or check_every < 1:
        raise SearchError(f"check_every must be a positive integer, not {check_every!r}")
    if metric not in METRICS:
        raise SearchError(f"unknown metric {metric!r} for the search (known: {', '.join(METRICS)})")
    if not _is_number(lambda1) or lambda1 < 0:
        raise SearchError(f"lambda1 must be a non-negative number, not {lambda1!r}")
    for name, value in (("step", step), ("lr", lr)):
        if not _is_number(value) or value <= 0:
            raise SearchError(f"{name} must be a positive number, not {value!r}")


def search_symbols(
    network: RDAutoencoder,
    x: torch.Tensor,
    medians: torch.Tensor,
    step: float,
    *,
    metric: str,
    lambda1: float,
    iterations: int,
    lr: float = 0.003,
    table_bits=None,
    bf16: bool = True,
    check_every: int = 5,
    crop: tuple[int, int] | None = None,
) -> torch.Tensor:
    """Symbols (float tensor of integers, [1, M, h, w]) found by ``iterations`` steps of the search.

    ``x`` is the padded image in [0, 1] ([1, 3, H, W]); ``metric``/``lambda1`` are the model's
    training D and λ1. ``table_bits(symbols) -> float`` gives the exact rate in bits under the
    frozen tables; when given, it picks the best iterate (otherwise the P_ψ estimate does).
    ``bf16`` runs the decoder of the gradient steps under bfloat16 autocast (about twice as fast
    on CPUs with bf16 units); the best iterate is always chosen by the float32 objective,
    evaluated every ``check_every`` steps and at the last. ``crop = (height, width)`` measures
    D on the image's own top-left pixels only, not on the padding to a multiple of 16 (what
    matters for an image smaller than a few latent positions).

    Arguments out of range (negative ``iterations``, an unknown ``metric``, a step Δ ≤ 0, …)
    raise :class:`SearchError` before anything is computed.
    """
    _check_arguments(iterations, step, metric, lambda1, lr, check_every)
    pixels = x.shape[-1] * x.shape[-2]
    rows, cols = crop if crop is not None else x.shape[-2:]
    target = x[..., :rows, :cols]

    def d_of(x_hat: torch.Tensor) -> torch.Tensor:
        return distortion(metric, target, x_hat[..., :rows, :cols])

    with torch.no_grad():
        v0 = (network.encode_latent(x) - medians.view(1, -1, 1, 1)) / step
    bf16 = bf16 and bf16_is_native(x.device.type)  # emulated bf16 would be slower, not faster
    v = v0.clone().requires_grad_(True)
    opt = torch.optim.Adam([v], lr=lr)
    m = medians.view(1, -1, 1, 1)

    def exact(symbols: torch.Tensor) -> float:
        with torch.no_grad():
            x_hat = network.decode_latent(symbols * step + m).clamp(0, 1)
            d = d_of(x_hat).item()
            bits = table_bits(symbols) if table_bits is not None else network.bin_bits(symbols, medians, step).item()
        return bits / pixels + lambda1 * d

    best = torch.round(v0)
    best_cost = exact(best)
    for i in range(iterations):
        opt.zero_grad(set_to_none=True)
        rounded = v + (torch.round(v) - v).detach()
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=bf16):
            x_hat = network.decode_latent(rounded * step + m)
        x_hat = x_hat.float()
        cost = network.bin_bits(v, medians, step) / pixels + lambda1 * d_of(x_hat)
        cost.backward()
        opt.step()
        if (i + 1) % check_every and i + 1 < iterations:
            continue
        candidate = torch.round(v.detach())
        c = exact(candidate)
        if c < best_cost:
            best, best_cost = candidate, c
    return best
