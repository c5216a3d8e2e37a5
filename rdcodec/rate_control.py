"""Encoding to a target: ``--target-bpp``, ``--target-ssim``, ``--target-psnr`` (format version 2).

Two knobs, both encoder-only, so every table the decoder meets is one of the model's shipped
grid tables:

* the **grid step** g (Δ = 2^(k/8), 9 % apart: about 6 % of rate per step), found by bisection
  (rate falls and distortion grows with g);
* a **dead zone** θ ∈ [0.5, 1) for the finer adjustment between two grid steps: symbols are
  ``sign(v) · floor(|v| + 1 − θ)`` for ``v = (z − m) / Δ``, plain rounding at θ = 0.5, more
  small values to 0 as θ grows (fewer bits, a little more distortion), also by bisection.

The analysis transform runs once; each probe re-quantizes its output and codes it for real
(``--target-bpp``: the file size is measured, not estimated; the result has at most the target
bpp, as close to it as the search finds) or decodes it (``--target-ssim`` / ``--target-psnr``:
quality measured on the decoded image; the result meets the target at the lowest rate found).
Images of at most 2 latent positions across (which the encoder refines by search) are
re-encoded per grid step with θ = 0.5.
"""

from __future__ import annotations

import math
import time
from typing import NamedTuple

import numpy as np

from rdcodec.codec import (
    DEFAULT_MAX_PIXELS,
    Model,
    _as_pixels,
    _padded,
    is_small_image,
    latent_symbols,
    reconstruct,
)
from rdcodec.codec_v2 import DEFAULT_CHUNKS, EncodeResultV2, encode_symbols_v2, grid_of
from rdcodec.format.adaptive import DEFAULT_BLOCK
from rdcodec.format.errors import CodecError
from rdcodec.tiling import DEFAULT_TILE, analysis_tiled
from rdcodec.zoo.registry import Registry

TARGETS = ("bpp", "ssim", "psnr")
#: Bisection steps on the dead zone θ.
DEADZONE_STEPS = 6
#: Largest dead zone tried (θ = 1 would send every |v| < 1 to zero).
MAX_DEADZONE = 0.95


class TargetResult(NamedTuple):
    encoded: EncodeResultV2
    target: str  # "bpp", "ssim" or "psnr"
    requested: float
    achieved: float  # bpp of the file, or quality of its decoded image
    met: bool
    step_index: int
    deadzone: float
    probes: int  # streams coded (and, for quality targets, decoded)
    seconds: float


def _deadzone_round(v: np.ndarray, theta: float) -> np.ndarray:
    if theta == 0.5:
        return np.rint(v).astype(np.int32)  # exactly the plain encoder's rounding
    return (np.sign(v) * np.floor(np.abs(v) + (1.0 - theta))).astype(np.int32)


def encode_to_target(
    image,
    model: Model,
    registry: Registry | None = None,
    *,
    bpp: float | None = None,
    ssim: float | None = None,
    psnr: float | None = None,
    chunks=DEFAULT_CHUNKS,
    block: int = DEFAULT_BLOCK,
    tile: int | None = DEFAULT_TILE,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    factors: tuple[int, ...] | None = None,
) -> TargetResult:
    """A version 2 stream meeting one target (see the module docstring); with ``factors``, a
    version 3 stream (:mod:`rdcodec.format.layers`), its size measured as written."""
    given = {k: v for k, v in (("bpp", bpp), ("ssim", ssim), ("psnr", psnr)) if v is not None}
    if len(given) != 1:
        raise ValueError("give exactly one of bpp, ssim, psnr")
    ((target, requested),) = given.items()
    if not math.isfinite(requested) or requested <= 0 or (target == "ssim" and requested >= 1):
        raise ValueError(f"target {target} {requested} is out of range")
    t0 = time.perf_counter()
    registry = registry or Registry()
    grid = grid_of(model, registry).grid
    pixels = _as_pixels(image, max_pixels).pixels
    height, width = pixels.shape[:2]
    if height * width > max_pixels:
        raise CodecError(f"image is {width}×{height} = {height * width} pixels, over the limit of {max_pixels}")
    small = is_small_image(height, width)
    z = None if small else analysis_tiled(_padded(pixels), model.transforms.analysis, tile=tile or 1 << 30)
    probes = 0
    cache: dict[tuple[int, float], tuple[EncodeResultV2, float]] = {}

    def probe(g: int, theta: float = 0.5) -> tuple[EncodeResultV2, float]:
        """(stream, measured value: bpp or quality) at grid step g and dead zone θ."""
        nonlocal probes
        key = (g, theta)
        if key not in cache:
            step = float(grid.steps[g])
            if small:
                symbols = latent_symbols(model, pixels, step=step)
            else:
                symbols = _deadzone_round((z - model.medians[:, None, None]) / np.float32(step), theta)
            encoded = encode_symbols_v2(symbols, model, registry, g, width, height, chunks, block, factors=factors)
            probes += 1
            if target == "bpp":
                value = encoded.bits_per_pixel
            else:
                decoded = reconstruct(model, symbols, height, width, tile, step=step)
                value = _quality(target, pixels, decoded)
            cache[key] = (encoded, value)
        return cache[key]

    def ok(value: float) -> bool:
        return value <= requested if target == "bpp" else value >= requested

    # grid step: for bpp the smallest g within the target (most bits allowed); for quality the
    # largest g still meeting it (fewest bits); both monotone in g, so bisect
    lo, hi = 0, grid.size - 1
    if target == "bpp":
        if not ok(probe(hi)[1]):
            g = hi
        else:
            while lo < hi:
                mid = (lo + hi) // 2
                lo, hi = (lo, mid) if ok(probe(mid)[1]) else (mid + 1, hi)
            g = lo
    else:
        if not ok(probe(lo)[1]):
            g = lo
        else:
            while lo < hi:
                mid = (lo + hi + 1) // 2
                lo, hi = (mid, hi) if ok(probe(mid)[1]) else (lo, mid - 1)
            g = lo
    best_g, best_theta = g, 0.5
    encoded, value = probe(g)
    if not small:
        # dead zone: for bpp, spend the gap below the target at the next finer step; for
        # quality, shave bits at g as long as the target holds
        g_dz = g - 1 if target == "bpp" and g > 0 and ok(value) else g
        lo_t, hi_t = 0.5, MAX_DEADZONE
        for _ in range(DEADZONE_STEPS):
            mid = (lo_t + hi_t) / 2
            cand, cand_value = probe(g_dz, mid)
            if ok(cand_value):
                better = (
                    cand.bits_per_pixel > encoded.bits_per_pixel
                    if target == "bpp"
                    else cand.bits_per_pixel < encoded.bits_per_pixel
                )
                if better or not ok(value):
                    encoded, value, best_g, best_theta = cand, cand_value, g_dz, mid
                hi_t = mid if target == "bpp" else hi_t
                lo_t = lo_t if target == "bpp" else mid
            else:
                lo_t = mid if target == "bpp" else lo_t
                hi_t = hi_t if target == "bpp" else mid
    return TargetResult(encoded, target, requested, value, ok(value), best_g, best_theta, probes, time.perf_counter() - t0)


def _quality(target: str, reference: np.ndarray, decoded: np.ndarray) -> float:
    from rdcodec.eval.quality import psnr, ssim_only

    return psnr(reference, decoded) if target == "psnr" else ssim_only(reference, decoded)


__all__ = ["TARGETS", "TargetResult", "encode_to_target"]
