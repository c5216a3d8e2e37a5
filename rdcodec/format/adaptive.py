"""The per-image adaptive prior of format version 2: which frozen table codes each symbol.

A model ships its tables at every step of a geometric grid ``Δ_g`` (:class:`GridTables`;
the shipped grids step by 2^(1/8), 9 % a step). A stream quantizes at one grid step ``g``.
If a channel of this image is wider than the training set's by a factor s, its symbols
``round(z / Δ_g)`` are distributed like the training set's at step ``Δ_g / s``, so a
*coarser or finer grid table* is the better model for them. Version 2 sends, as side
information, one signed offset per channel (``o_c``) and one per block of ``B × B`` latent
positions (``a_b``, shared by all channels: how busy that part of the image is), and codes
the symbol of channel c at a position in block b with the table

    t(c, b) = clamp(g − o_c − a_b, 0, G − 1)

(a positive offset picks a finer table, for symbols spread wider than the frozen table of
``g`` expects). The decoder only selects tables; it computes no probability, so the parse
stays integer-only and identical on every machine. The offsets themselves are coded with the
fixed integer table :data:`OFFSET_COUNTS` (offset 0 costs one bit).

The encoder picks the offsets that minimise the exact coded size (side information
included) by coordinate descent, channel offsets then block offsets, a few rounds; an offset
stays 0 unless it pays for itself. On the 24 Kodak images with the default model this saved
5.7 % of the bits with 8 × 8 blocks and 6.6 % with 4 × 4 (channel offsets alone: 2.4 %).
"""

from __future__ import annotations

import numpy as np

from rdcodec.format.tables import ESCAPE_LENGTH_ALPHABET, TOTAL, FrozenTables, GridTables

#: Offsets run over −OFFSET_RANGE … OFFSET_RANGE.
OFFSET_RANGE = 12
#: Integer counts (sum 2¹⁶) of the offsets −12 … 12: offset 0 has 32776, ±d has 2^(14 − d).
OFFSET_COUNTS = np.array(
    [1 << (14 - abs(d)) for d in range(-OFFSET_RANGE, 0)] + [32776] + [1 << (14 - d) for d in range(1, OFFSET_RANGE + 1)],
    dtype=np.uint32,
)
assert int(OFFSET_COUNTS.sum()) == TOTAL
#: Code length in bits of each offset −12 … 12 under OFFSET_COUNTS.
OFFSET_BITS = -np.log2(OFFSET_COUNTS.astype(np.float64) / TOTAL)
#: Block side (latent positions) the encoder uses for block offsets by default.
DEFAULT_BLOCK = 4
#: Rounds of coordinate descent over (channel offsets, block offsets).
DESCENT_ROUNDS = 3


def block_ids(lat_h: int, lat_w: int, block: int) -> tuple[np.ndarray, int]:
    """(block number of each position in raster order, number of blocks); block 0 means none."""
    if block == 0:
        return np.zeros(lat_h * lat_w, dtype=np.int64), 1
    cols = -(-lat_w // block)
    rows = -(-lat_h // block)
    ids = (np.arange(lat_h)[:, None] // block) * cols + (np.arange(lat_w)[None, :] // block)
    return ids.reshape(-1).astype(np.int64), rows * cols


def table_index(step_index: int, channel_offset: int, block_offsets: np.ndarray, grid_size: int) -> np.ndarray:
    """t = clamp(g − o_c − a_b, 0, G − 1) for each block b."""
    return np.clip(step_index - channel_offset - np.asarray(block_offsets, dtype=np.int64), 0, grid_size - 1)


def symbol_bits(symbols: np.ndarray, table: FrozenTables, channel: int) -> np.ndarray:
    """Exact code length in bits of each symbol of one channel under one frozen table
    (escapes: the 6-bit length and the raw bits of the zig-zag value)."""
    s = symbols.astype(np.int64)
    lower, length = int(table.lower[channel]), int(table.length[channel])
    idx = s - lower
    escaped = (idx < 0) | (idx >= length)
    probs = table.row(channel).astype(np.float64) / TOTAL
    bits = -np.log2(probs[np.where(escaped, length, idx)])
    if escaped.any():
        u = np.where(s >= 0, 2 * s, -2 * s - 1)
        nbits = np.where(u > 0, np.floor(np.log2(np.maximum(u, 1))) + 1, 0)
        bits = bits + np.where(escaped, np.log2(ESCAPE_LENGTH_ALPHABET) + nbits, 0.0)
    return bits


def choose_offsets(
    symbols: np.ndarray, grid: GridTables, step_index: int, blocks: np.ndarray, n_blocks: int, use_blocks: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Channel offsets int64 [M] and block offsets int64 [n_blocks] minimising the coded size.

    ``symbols`` int [M, n] in channel index order, quantized at grid step ``step_index``.
    """
    m = symbols.shape[0]
    offsets = np.arange(-OFFSET_RANGE, OFFSET_RANGE + 1)
    # candidate tables: every table an offset pair can reach, t = g − o − a
    t_lo = max(0, step_index - 2 * OFFSET_RANGE)
    t_hi = min(grid.size - 1, step_index + 2 * OFFSET_RANGE)
    n_t = t_hi - t_lo + 1
    cost = np.zeros((n_t, m, n_blocks))  # bits of channel c's symbols in block b under table t_lo + i
    for c in range(m):
        for i in range(n_t):
            cost[i, c] = np.bincount(blocks, weights=symbol_bits(symbols[c], grid.tables[t_lo + i], c), minlength=n_blocks)
    o = np.zeros(m, dtype=np.int64)
    a = np.zeros(n_blocks, dtype=np.int64)
    b_idx = np.arange(n_blocks)
    c_idx = np.arange(m)

    def rows(t: np.ndarray) -> np.ndarray:
        return np.clip(t, 0, grid.size - 1) - t_lo

    for _ in range(DESCENT_ROUNDS if use_blocks else 1):
        for c in range(m):  # channel offsets: bits over all blocks, plus the offset's own code
            t = step_index - offsets[:, None] - a[None, :]  # [offset, block]
            total = cost[rows(t), c, b_idx[None, :]].sum(-1) + OFFSET_BITS
            o[c] = offsets[int(np.argmin(total))]
        if not use_blocks:
            break
        for b in range(n_blocks):
            t = step_index - o[None, :] - offsets[:, None]  # [offset, channel]
            total = cost[rows(t), c_idx[None, :], b].sum(-1) + OFFSET_BITS
            a[b] = offsets[int(np.argmin(total))]
    return o, a


__all__ = [
    "DEFAULT_BLOCK",
    "OFFSET_BITS",
    "OFFSET_COUNTS",
    "OFFSET_RANGE",
    "block_ids",
    "choose_offsets",
    "symbol_bits",
    "table_index",
]
