"""Successive refinement of latent symbols (format version 3): nested bins, integer tables.

A version 3 stream codes every symbol in layers, coarse to fine, like JPEG's successive
approximation. The layer factors F_0 > F_1 > … > F_{L−1} = 1 are odd and each divides the one
before (the default is 9, 3, 1). After layer ℓ a symbol s is known to its **bin**

    k_ℓ(s) = floor((s + (F_ℓ − 1)/2) / F_ℓ),   the F_ℓ symbols k_ℓ·F_ℓ − (F_ℓ−1)/2 … k_ℓ·F_ℓ + (F_ℓ−1)/2,

so the bins are centred on multiples of F_ℓ (bin 0 is centred on the median) and each bin of
layer ℓ−1 splits into r = F_{ℓ−1}/F_ℓ bins of layer ℓ, the sub-bins j = 0 … r−1 with
k_ℓ = r·k_{ℓ−1} − (r−1)/2 + j.

Every probability comes from one frozen table row (the symbol's table in the adaptive prior,
:mod:`rdcodec.format.adaptive`), in integer arithmetic only:

- layer 0 codes k_0 over the **coarse row**: the sums of the row's counts over each bin that
  holds an in-range symbol, then the row's escape count. A partition of the row, so the coarse
  counts again sum to 2¹⁶ and are ≥ 1: nothing is rounded. An escaped symbol is an escape here
  and is sent whole, as in version 1; later layers skip it.
- layer ℓ ≥ 1 codes, for a symbol in bin k_{ℓ−1}, which of that bin's sub-bins holds it. Only
  the sub-bins that hold an in-range symbol are possible: a run j_lo … j_hi. A run of one
  costs nothing and is not coded; otherwise j − j_lo is coded over the run's masses (sums of
  counts) **normalised** to 2¹⁶ by :func:`normalize_counts`.

By the chain rule the layers together cost what the one-layer code costs (−log₂ P(s) =
−log₂ P(k_0) − Σ log₂ P(k_ℓ | k_{ℓ−1})), up to the normalisation's rounding and one range-coder
flush per chunk. A decoder that has only some layers of a channel reconstructs each symbol at
its bin's centroid under the row (:func:`bin_centroids`, floating point, used only for the
picture, never for the parse).
"""

from __future__ import annotations

import numpy as np

from rdcodec.format.tables import TOTAL

#: The layer factors the encoder uses unless told otherwise.
DEFAULT_FACTORS = (9, 3, 1)
#: Largest factor a stream may declare (an u8 in the header).
MAX_FACTOR = 255


class LayerError(ValueError):
    """Layer factors that break the rules (odd, decreasing, each dividing the previous, last 1)."""


def check_factors(factors) -> tuple[int, ...]:
    """The factors as a tuple of ints, or :class:`LayerError` saying which rule they break."""
    try:
        fs = tuple(int(f) for f in factors)
    except (TypeError, ValueError):
        raise LayerError(f"layer factors must be integers, not {factors!r}") from None
    if not fs or fs[-1] != 1:
        raise LayerError("the last layer factor must be 1 (the last layer gives the symbols exactly)")
    if any(f < 1 or f > MAX_FACTOR or f % 2 == 0 for f in fs):
        raise LayerError(f"layer factors must be odd numbers in 1…{MAX_FACTOR}, not {fs}")
    if any(a <= b or a % b for a, b in zip(fs, fs[1:])):
        raise LayerError(f"each layer factor must be a multiple of the next and larger than it, not {fs}")
    return fs


def bin_index(symbols, factor: int) -> np.ndarray:
    """k = floor((s + (F − 1)/2) / F), elementwise, as int64."""
    return np.floor_divide(np.asarray(symbols, dtype=np.int64) + (factor - 1) // 2, factor)


def normalize_counts(masses: np.ndarray) -> np.ndarray:
    """Positive integer masses → counts ≥ 1 summing to 2¹⁶, in integer arithmetic only.

    c_i = max(1, ⌊m_i · 2¹⁶ / S⌋) with S = Σ m_i; what is left over (or over-spent by the
    max) goes to the largest c_i (the first of equals). Needs at most 2¹⁶ masses.
    """
    m = np.asarray(masses, dtype=np.int64)
    if m.ndim != 1 or m.size < 1 or m.size > TOTAL or (m < 1).any():
        raise ValueError("masses must be 1…65536 positive integers")
    counts = np.maximum(1, (m * TOTAL) // int(m.sum()))
    counts[int(np.argmax(counts))] += TOTAL - int(counts.sum())
    return counts.astype(np.uint32)


def coarse_row(row: np.ndarray, lower: int, length: int, factor: int) -> tuple[int, np.ndarray]:
    """Layer 0's table of one row: (k_lo, counts [bins + escape]); sums to 2¹⁶ like ``row``."""
    symbols = lower + np.arange(length, dtype=np.int64)
    k = bin_index(symbols, factor)
    k_lo = int(k[0])
    counts = np.zeros(int(k[-1]) - k_lo + 1, dtype=np.int64)
    np.add.at(counts, k - k_lo, row[:length].astype(np.int64))
    return k_lo, np.concatenate([counts, row[length : length + 1].astype(np.int64)]).astype(np.uint32)


def refinement_tables(
    row: np.ndarray, lower: int, length: int, coarse: int, fine: int
) -> dict[int, tuple[int, np.ndarray | None]]:
    """For each bin k of factor ``coarse`` that holds an in-range symbol: (j_lo, counts) for its
    possible sub-bins of factor ``fine`` (counts ``None`` when only one is possible: not coded)."""
    r = coarse // fine
    symbols = lower + np.arange(length, dtype=np.int64)
    k_prev = bin_index(symbols, coarse)
    k_next = bin_index(symbols, fine)
    masses = row[:length].astype(np.int64)
    out: dict[int, tuple[int, np.ndarray | None]] = {}
    for kp in np.unique(k_prev):
        sel = k_prev == kp
        subs = k_next[sel] - (r * int(kp) - (r - 1) // 2)  # j of each in-range symbol of the bin
        j_lo, j_hi = int(subs.min()), int(subs.max())
        if j_lo == j_hi:
            out[int(kp)] = (j_lo, None)
            continue
        per_sub = np.zeros(j_hi - j_lo + 1, dtype=np.int64)
        np.add.at(per_sub, subs - j_lo, masses[sel])
        out[int(kp)] = (j_lo, normalize_counts(per_sub))
    return out


def bin_centroids(row: np.ndarray, lower: int, length: int, factor: int) -> tuple[int, np.ndarray]:
    """(k_lo, the mean symbol of each bin of ``factor`` under the row's in-range counts)."""
    symbols = lower + np.arange(length, dtype=np.int64)
    k = bin_index(symbols, factor)
    k_lo = int(k[0])
    w = row[:length].astype(np.float64)
    mass = np.bincount(k - k_lo, weights=w)
    first = np.bincount(k - k_lo, weights=w * symbols)
    centre = (k_lo + np.arange(mass.size)) * factor  # a bin without mass cannot occur; guard anyway
    return k_lo, np.where(mass > 0, first / np.maximum(mass, 1e-300), centre)


__all__ = [
    "DEFAULT_FACTORS",
    "LayerError",
    "bin_centroids",
    "bin_index",
    "check_factors",
    "coarse_row",
    "normalize_counts",
    "refinement_tables",
]
