"""Encoder-side rate–distortion search of the latent (optional, ``rdcodec encode --search N``).

The encoder f is amortised: z = f(x) is a good latent for typical images, not the best one for
this image. Like a classical encoder's RD search (cwebp ``-m``, x264 ``--trellis``), this
module looks, for one image, for symbols that lower the model's own objective

    J(v) = R(v) + λ1 · D(x, g(m + Δ·q(v)))          (eq. 5 without the λ2 training term)

starting from v₀ = (f(x) − m)/Δ, with Adam on v. R(v) is the rate in bits per pixel under P_ψ's
bin probability for step Δ, P(m + Δ(v − ½) < z < m + Δ(v + ½)) — the same function the frozen
tables were made from, so lowering it lowers the real code length. Two rounding relaxations q:

``"sga"`` (the default of ``--search``)
    Stochastic Gumbel annealing (Yang, Bamler & Mandt, NeurIPS 2020, "Improving Inference for
    Neural Image Compression", §3.2): each coordinate is a relaxed one-hot draw between
    ⌊v⌋ and ⌈v⌉ with logits −atanh(distance)/τ and Gumbel noise at temperature τ, so the
    search sees the rounding it will be judged by, and τ → 0 anneals the draw to hard
    rounding. The schedule is theirs, compressed to N iterations: τ = 0.5 for the first 35%,
    then τ = 0.5·exp(−1.3·(t − t₀)/(N − t₀)) (their 2000 iterations hold τ for 700, then
    decay at 10⁻³ per iteration, to 0.14). The noise comes from a generator seeded by
    ``seed``: the same image gives the same file.
``"ste"``
    Straight-through rounding: the distortion sees round(v), the gradient passes as if it
    were v (what the refinement of small images uses).

The decoder, the tables and the stream format are untouched: any decoder reads the result.
Every ``check_every`` iterations the search rounds its current v and scores it by the exact
objective (real rounded symbols, frozen-table rate); it returns the best of those, never worse
than round(v₀).

Data flow::

    x ─► f ─► v₀ ─► [ Adam on v: q(v; τ_t) ─► g ─► D ;  P_ψ bins(q(v)) ─► R ] × N ─► best round(v)
"""

from __future__ import annotations

import math
import numbers

import torch

from rdcodec.distortion import METRICS, distortion
from rdcodec.model.network import RDAutoencoder
from rdcodec.model.precision import bf16_autocast, bf16_is_native

#: The rounding relaxations :func:`search_symbols` knows (see the module docstring).
METHODS = ("sga", "ste")
#: SGA's temperature at the start and for the first ``SGA_HOLD`` of the iterations, and how
#: far (as a factor e^−SGA_DECAY) it has fallen by the last (Yang et al.'s code: 0.5, 700 of
#: 2000, then e^(−10⁻³·1300)).
SGA_TAU_MAX = 0.5
SGA_HOLD = 0.35
SGA_DECAY = 1.3


def sga_temperature(iteration: int, iterations: int) -> float:
    """τ for 0-based ``iteration`` of ``iterations`` (held at :data:`SGA_TAU_MAX`, then exponential decay)."""
    hold = int(round(SGA_HOLD * iterations))
    if iteration < hold or iterations <= hold:
        return SGA_TAU_MAX
    return SGA_TAU_MAX * math.exp(-SGA_DECAY * (iteration - hold) / (iterations - hold))


def sga_round(v: torch.Tensor, tau: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """A relaxed stochastic rounding of ``v`` at temperature ``tau`` (differentiable in v).

    ⌊v⌋ + w with w the ⌈v⌉-weight of a two-way Gumbel-softmax draw (temperature τ) whose logits
    are −atanh(v − ⌊v⌋)/τ for ⌊v⌋ and −atanh(⌈v⌉ − v)/τ for ⌈v⌉: the nearer integer is the
    likelier, and as τ → 0 the draw becomes round(v).
    """
    floor = torch.floor(v).detach()
    frac = (v - floor).clamp(0.0, 1.0)
    eps = 1e-5
    logit_floor = -torch.atanh(frac.clamp(max=1.0 - eps)) / tau
    logit_ceil = -torch.atanh((1.0 - frac).clamp(max=1.0 - eps)) / tau
    u = torch.rand((2, *v.shape), generator=generator, dtype=v.dtype, device=v.device).clamp(1e-10, 1.0 - 1e-7)
    gumbel = -torch.log(-torch.log(u))
    # two-way softmax((logits + g)/τ): the weight of ⌈v⌉ is a sigmoid of the difference
    w_ceil = torch.sigmoid(((logit_ceil + gumbel[1]) - (logit_floor + gumbel[0])) / tau)
    return floor + w_ceil


class SearchError(ValueError):
    """The search cannot run with these arguments (one line, says which)."""


def _is_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def _check_arguments(iterations, step, metric, lambda1, lr, check_every, method="ste") -> None:
    if method not in METHODS:
        raise SearchError(f"unknown search method {method!r} (known: {', '.join(METHODS)})")
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
    lr: float | None = None,
    table_bits=None,
    bf16: bool = True,
    check_every: int = 5,
    crop: tuple[int, int] | None = None,
    method: str = "sga",
    seed: int = 0,
) -> torch.Tensor:
    """Symbols (float tensor of integers, [1, M, h, w]) found by ``iterations`` steps of the search.

    ``x`` is the padded image in [0, 1] ([1, 3, H, W]); ``metric``/``lambda1`` are the model's
    training D and λ1. ``table_bits(symbols) -> float`` gives the exact rate in bits under the
    frozen tables; when given, it picks the best iterate (otherwise the P_ψ estimate does).
    ``bf16`` runs the decoder of the gradient steps under bfloat16 autocast (about twice as fast
    on CPUs with bf16 units); the best iterate is always chosen by the float32 objective,
    evaluated every ``check_every`` steps and at the last. ``crop = (height, width)`` measures
    D on the image's own top-left pixels only, not on the padding to a multiple of 16 (what
    matters for an image smaller than a few latent positions). ``method``: ``"sga"`` or
    ``"ste"`` (module docstring); ``lr``: Adam's step on v, in symbol units (default 5·10⁻³
    for SGA, as Yang et al., and 3·10⁻³ for STE); ``seed``: SGA's noise.

    Arguments out of range (negative ``iterations``, an unknown ``metric``, a step Δ ≤ 0, …)
    raise :class:`SearchError` before anything is computed.
    """
    if lr is None:
        lr = 0.005 if method == "sga" else 0.003
    _check_arguments(iterations, step, metric, lambda1, lr, check_every, method)
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
    generator = torch.Generator(device=x.device).manual_seed(int(seed)) if method == "sga" else None

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
        if method == "sga":
            relaxed = sga_round(v, sga_temperature(i, iterations), generator)
            rate_at = relaxed
        else:
            relaxed = v + (torch.round(v) - v).detach()
            rate_at = v
        with bf16_autocast(x, bf16):
            x_hat = network.decode_latent(relaxed * step + m)
        x_hat = x_hat.float()
        cost = network.bin_bits(rate_at, medians, step) / pixels + lambda1 * d_of(x_hat)
        cost.backward()
        opt.step()
        if (i + 1) % check_every and i + 1 < iterations:
            continue
        candidate = torch.round(v.detach())
        c = exact(candidate)
        if c < best_cost:
            best, best_cost = candidate, c
    return best
