"""Tiled analysis and synthesis: peak memory set by the tile, not by the image (numpy only).

Both transforms are stacks of 5 × 5 convolutions of stride 2 (four each) with GDN, which is
pointwise in space. A latent position therefore depends on input pixels within 30 of its
16 × 16 block, and an output pixel on latent positions within 1.875 of its own: a margin of
:data:`MARGIN` = 2 latent positions on each inner side of a tile is enough for every value a
tile keeps to be computed from exactly the same inputs as in one pass over the whole image
(the zero padding a tile sees at its own border never reaches its core)::

    image (padded to ×16)            latent
    ┌──────┬──────┬────┐            ┌────┬────┬──┐
    │core 0│core 1│ …  │  g_a per   │    │    │  │   each tile: core + MARGIN on inner
    ├──────┼──────┼────┤  tile ──►  ├────┼────┼──┤   sides; only the core is kept
    │  …   │      │    │            │    │    │  │
    └──────┴──────┴────┘            └────┴────┴──┘
                 g_s per latent tile (core + margin) ──► keep 16·core pixels

Tile origins are multiples of 16 pixels, so every tile's stride-2 grids line up with the
whole image's. Mathematically the tiled result equals the untiled one; in floating point a
convolution over a different extent may sum in another order, so values can differ in the
last bits (see ``docs/format.md``, "Determinism"). An image that fits in one tile is
processed in one pass, exactly as without tiling.

The transforms are passed in as callables on numpy arrays, so the same tiling serves any
runtime (:mod:`rdcodec.codec` passes those of :mod:`rdcodec.runtime`: ONNX Runtime or torch).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from rdcodec.format.container import LATENT_STRIDE

#: Latent positions of context on each inner side of a tile (exactness argument above).
MARGIN = 2
#: Default tile core, in latent positions (48 → 768 pixels: a Kodak image is one tile).
DEFAULT_TILE = 48


class Span(NamedTuple):
    """One tile along one axis, in latent positions: the core [start, stop) computed in
    [lo, hi) (the core plus the margin that lies inside the image)."""

    start: int
    stop: int
    lo: int
    hi: int


def spans(length: int, tile: int = DEFAULT_TILE, margin: int = MARGIN) -> list[Span]:
    """Cover latent positions [0, length) with cores of at most ``tile`` positions."""
    if tile < 1 or margin < 0:
        raise ValueError("tile must be ≥ 1 and margin ≥ 0")
    if length <= tile:
        return [Span(0, length, 0, length)]
    count = -(-length // tile)
    bounds = [round(i * length / count) for i in range(count + 1)]  # cores of near-equal size
    return [Span(a, b, max(0, a - margin), min(length, b + margin)) for a, b in zip(bounds, bounds[1:])]


def analysis_tiled(
    padded: np.ndarray,
    analysis: Callable[[np.ndarray], np.ndarray],
    tile: int = DEFAULT_TILE,
    margin: int = MARGIN,
) -> np.ndarray:
    """z = g_a(x) float32 [M, h, w] of uint8 pixels [16h, 16w, 3], one tile at a time.

    ``analysis`` maps uint8 pixels [16a, 16b, 3] to the latent float32 [M, a, b].
    """
    s = LATENT_STRIDE
    height, width = padded.shape[:2]
    if height % s or width % s:
        raise ValueError(f"padded image must be a multiple of {s} pixels, got {width}×{height}")
    rows, cols = spans(height // s, tile, margin), spans(width // s, tile, margin)
    if len(rows) == 1 and len(cols) == 1:
        return np.asarray(analysis(padded), dtype=np.float32)
    z = None
    for r in rows:
        for c in cols:
            part = np.asarray(analysis(padded[r.lo * s : r.hi * s, c.lo * s : c.hi * s]), dtype=np.float32)
            if z is None:
                z = np.empty((part.shape[0], height // s, width // s), dtype=np.float32)
            z[:, r.start : r.stop, c.start : c.stop] = part[:, r.start - r.lo : r.stop - r.lo, c.start - c.lo : c.stop - c.lo]
    return z


def synthesis_tiled(
    z_hat: np.ndarray,
    synthesis: Callable[[np.ndarray], np.ndarray],
    height: int,
    width: int,
    tile: int = DEFAULT_TILE,
    margin: int = MARGIN,
) -> np.ndarray:
    """x̂ = g_s(ẑ) as uint8 [height, width, 3] (cropped), one latent tile at a time.

    ``synthesis`` maps a latent float32 [M, a, b] to uint8 pixels [16a, 16b, 3].
    """
    s = LATENT_STRIDE
    _, lat_h, lat_w = z_hat.shape
    if height > lat_h * s or width > lat_w * s:
        raise ValueError("image is larger than its latent")
    rows, cols = spans(lat_h, tile, margin), spans(lat_w, tile, margin)
    if len(rows) == 1 and len(cols) == 1:
        return np.ascontiguousarray(np.asarray(synthesis(z_hat))[:height, :width])
    out = np.empty((height, width, 3), dtype=np.uint8)
    for r in rows:
        y0, y1 = r.start * s, min(r.stop * s, height)
        if y0 >= y1:
            continue
        for c in cols:
            x0, x1 = c.start * s, min(c.stop * s, width)
            if x0 >= x1:
                continue
            part = np.asarray(synthesis(np.ascontiguousarray(z_hat[:, r.lo : r.hi, c.lo : c.hi])))
            oy, ox = (r.start - r.lo) * s, (c.start - c.lo) * s
            out[y0:y1, x0:x1] = part[oy : oy + (y1 - y0), ox : ox + (x1 - x0)]
    return out


__all__ = ["DEFAULT_TILE", "MARGIN", "Span", "analysis_tiled", "spans", "synthesis_tiled"]
