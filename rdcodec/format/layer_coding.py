"""Range coding of one chunk of a format-version-3 stream (layers: :mod:`rdcodec.format.layers`).

A version 3 chunk belongs to one layer ℓ and codes a run of channels (in the model's
importance order) with its own range coder, like a version 2 chunk. Its words hold, first in
first out:

layer 0
    1. in the stream's first chunk only, when it has block offsets: ``a_b`` of every block;
    2. ``o_c`` of each of the chunk's channels (both over ``OFFSET_COUNTS``, as in version 2);
    3. for each channel, in chunk order, its positions grouped by table t (ascending, raster
       within): the bin index ``k_0 − k_lo`` over the coarse row of t, or the coarse escape
       index for a symbol outside the row's range;
    4. every escaped symbol of the chunk, whole (zig-zag, length, bits; as in version 1).
layer ℓ ≥ 1
    for each channel, in chunk order; for each table t that occurs (ascending); for each bin
    k_{ℓ−1} that occurs among its non-escaped positions (ascending) and has more than one
    possible sub-bin: the sub-bin ``j − j_lo`` of those positions in raster order, over the
    bin's normalised refinement counts. Nothing else: the offsets came with layer 0.
"""

from __future__ import annotations

from typing import NamedTuple

import constriction
import numpy as np

from rdcodec.format.adaptive import OFFSET_RANGE
from rdcodec.format.chunk_coding import ChunkLayout, _encode_escapes, _grouping, _offset_model, encode_side_information
from rdcodec.format.layers import bin_centroids, bin_index, coarse_row, refinement_tables
from rdcodec.format.range_coding import CODER_SLACK_BITS, EntropyDecodeError, _categorical, decode_escaped
from rdcodec.format.tables import TOTAL, GridTables


def layer_models(grid: GridTables, factors: tuple[int, ...]) -> "LayerModels":
    """The :class:`LayerModels` of ``grid`` and ``factors``, built once per grid and kept in
    its :attr:`~rdcodec.format.tables.GridTables.derived` cache (every stream, probe and
    decode of that grid shares them)."""
    key = ("layer-models", tuple(factors))
    if key not in grid.derived:
        grid.derived[key] = LayerModels(grid, factors)
    return grid.derived[key]


class LayerModels:
    """The integer tables of every (grid table t, channel, layer) a stream meets, built on
    first use from the frozen rows and kept for the rest of the stream."""

    def __init__(self, grid: GridTables, factors: tuple[int, ...]):
        self.grid = grid
        self.factors = tuple(factors)
        self._coarse: dict = {}
        self._refine: dict = {}
        self._centroids: dict = {}
        self._peaks = None

    def _row(self, t: int, channel: int):
        table = self.grid.tables[t]
        return table.row(channel), int(table.lower[channel]), int(table.length[channel])

    def coarse(self, t: int, channel: int):
        """(k_lo, constriction model, bin count) of layer 0 for channel ``channel`` in table t."""
        key = (t, channel)
        if key not in self._coarse:
            row, lower, length = self._row(t, channel)
            k_lo, counts = coarse_row(row, lower, length, self.factors[0])
            self._coarse[key] = (k_lo, _categorical(counts), counts.size - 1)
        return self._coarse[key]

    def refine(self, t: int, channel: int, layer: int) -> dict:
        """bin k_{ℓ−1} → (j_lo, constriction model or None) for layer ``layer`` ≥ 1."""
        key = (t, channel, layer)
        if key not in self._refine:
            row, lower, length = self._row(t, channel)
            tables = refinement_tables(row, lower, length, self.factors[layer - 1], self.factors[layer])
            self._refine[key] = {k: (j_lo, None if c is None else _categorical(c)) for k, (j_lo, c) in tables.items()}
        return self._refine[key]

    def centroids(self, t: int, channel: int, layer: int):
        """(k_lo, mean symbol per bin) of layer ``layer``'s bins (reconstruction only)."""
        key = (t, channel, layer)
        if key not in self._centroids:
            row, lower, length = self._row(t, channel)
            self._centroids[key] = bin_centroids(row, lower, length, self.factors[layer])
        return self._centroids[key]

    def coarse_peaks(self) -> np.ndarray:
        """Per channel, the largest layer-0 count anywhere on the grid (for the length check)."""
        if self._peaks is None:
            peaks = np.zeros(self.grid.channels, dtype=np.int64)
            for table in self.grid.tables:
                for c in range(self.grid.channels):
                    _, counts = coarse_row(table.row(c), int(table.lower[c]), int(table.length[c]), self.factors[0])
                    peaks[c] = max(peaks[c], int(counts.max()))
            self._peaks = peaks
        return self._peaks


def minimum_layer_chunk_bits(layout: ChunkLayout, models: LayerModels, n: int) -> float:
    """The fewest bits a layer-0 chunk can take (every offset 0, every bin at its most likely
    coarse count anywhere on the grid); 0 for a refinement chunk (a run of one costs nothing)."""
    if layout.layer:
        return 0.0
    from rdcodec.format.adaptive import OFFSET_COUNTS

    side = len(layout.channels) + (layout.n_blocks if layout.first and layout.use_blocks else 0)
    peaks = models.coarse_peaks()[np.asarray(layout.channels, dtype=np.int64)].astype(np.float64) / TOTAL
    return float(side * -np.log2(float(OFFSET_COUNTS.max()) / TOTAL) + n * -np.log2(peaks).sum())


class _Refinement(NamedTuple):
    model: object
    positions: np.ndarray  # indices into the channel's coding order
    base: np.ndarray  # r·k_{ℓ−1} − (r−1)/2 + j_lo of those positions


def _refinement_groups(models: LayerModels, layer: int, channel: int, t: int, prev_bins: np.ndarray, coded: np.ndarray):
    """The coded groups of one (channel, table) span: ``prev_bins`` of its positions, in coding
    order; ``coded``: which of them are not escaped."""
    r = models.factors[layer - 1] // models.factors[layer]
    tables = models.refine(t, channel, layer)
    groups = []
    live = np.flatnonzero(coded)
    if not live.size:
        return groups, np.zeros(0, dtype=np.int64), live
    kp = prev_bins[live]
    base = np.empty(live.size, dtype=np.int64)
    for k in np.unique(kp):
        sel = np.flatnonzero(kp == k)
        entry = tables.get(int(k))
        if entry is None:
            raise EntropyDecodeError("payload is damaged: a bin outside the table's range")
        j_lo, model = entry
        base[sel] = r * int(k) - (r - 1) // 2 + j_lo
        if model is not None:
            groups.append(_Refinement(model, live[sel], base[sel]))
    return groups, base, live


def encode_layer_chunk(
    symbols: np.ndarray,
    layout: ChunkLayout,
    models: LayerModels,
    channel_offsets: np.ndarray,
    block_offsets: np.ndarray,
) -> bytes:
    """Range-code layer ``layout.layer`` of ``symbols`` int [k, n] (the chunk's channels, in order)."""
    grid, layer = models.grid, layout.layer
    encoder = constriction.stream.queue.RangeEncoder()
    if layer == 0:
        encode_side_information(encoder, layout, channel_offsets, block_offsets)
    groups = _grouping(layout, np.asarray(block_offsets, dtype=np.int64)[layout.blocks], grid.size)
    escapes: list[np.ndarray] = []
    for row, (channel, offset) in enumerate(zip(layout.channels, channel_offsets)):
        order, spans = groups(int(offset))
        s = symbols[row].astype(np.int64)[order]
        for t, lo, hi in spans:
            table = grid.tables[t]
            lower, length = int(table.lower[channel]), int(table.length[channel])
            seg = s[lo:hi]
            escaped = (seg < lower) | (seg >= lower + length)
            if layer == 0:
                k_lo, model, escape = models.coarse(t, int(channel))
                idx = np.where(escaped, escape, bin_index(seg, models.factors[0]) - k_lo)
                encoder.encode(idx.astype(np.int32), model)
                if escaped.any():
                    escapes.append(seg[escaped])
                continue
            prev = bin_index(seg, models.factors[layer - 1])
            coded_groups, _, _ = _refinement_groups(models, layer, int(channel), t, prev, ~escaped)
            fine = bin_index(seg, models.factors[layer])
            for group in coded_groups:
                encoder.encode((fine[group.positions] - group.base).astype(np.int32), group.model)
    if layer == 0:
        _encode_escapes(encoder, escapes)
    return encoder.get_compressed().astype("<u4").tobytes()


class LayerChunk(NamedTuple):
    bins: np.ndarray  # int64 [k, n]: each symbol's bin at this layer (the symbol itself at F = 1)
    escaped: np.ndarray  # bool [k, n]: sent whole in layer 0 (``bins`` holds the symbol)
    channel_offsets: np.ndarray  # [k] (layer 0; the ones given, for a refinement)
    block_offsets: np.ndarray  # [n_blocks]


def decode_layer_chunk(
    payload: bytes,
    layout: ChunkLayout,
    models: LayerModels,
    n: int,
    block_offsets: np.ndarray | None,
    channel_offsets: np.ndarray | None = None,
    prev: LayerChunk | None = None,
) -> LayerChunk:
    """Decode one chunk. Layer 0: ``block_offsets`` from the stream's first chunk (``None`` when
    decoding that chunk). Layer ℓ ≥ 1: ``channel_offsets`` of the chunk's channels and ``prev``,
    the state of those channels after layer ℓ − 1. Refused unless the chunk is exactly the
    encoding of what it decodes to."""
    if len(payload) % 4:
        raise EntropyDecodeError("chunk length is not a multiple of 4 bytes")
    if minimum_layer_chunk_bits(layout, models, n) > 8 * len(payload) + CODER_SLACK_BITS:
        raise EntropyDecodeError(f"payload is damaged: a chunk of {len(payload)} bytes cannot hold {n} positions")
    grid, layer = models.grid, layout.layer
    words = np.frombuffer(payload, dtype="<u4").astype(np.uint32)
    decoder = constriction.stream.queue.RangeDecoder(words)
    k = len(layout.channels)
    bins = np.empty((k, n), dtype=np.int64)
    escaped_mask = np.zeros((k, n), dtype=bool) if prev is None else prev.escaped.copy()
    coded: list[tuple[np.ndarray, object]] = []
    try:
        if layer == 0:
            offset_model = _offset_model()
            if layout.first:
                if layout.use_blocks:
                    block_offsets = decoder.decode(offset_model, layout.n_blocks).astype(np.int64) - OFFSET_RANGE
                else:
                    block_offsets = np.zeros(layout.n_blocks, dtype=np.int64)
            channel_offsets = decoder.decode(offset_model, k).astype(np.int64) - OFFSET_RANGE
        groups = _grouping(layout, np.asarray(block_offsets, dtype=np.int64)[layout.blocks], grid.size)
        escaped_at: list[tuple[int, int]] = []
        for row, (channel, offset) in enumerate(zip(layout.channels, channel_offsets)):
            order, spans = groups(int(offset))
            values = np.empty(n, dtype=np.int64)
            for t, lo, hi in spans:
                if layer == 0:
                    k_lo, model, escape = models.coarse(t, int(channel))
                    idx = decoder.decode(model, hi - lo)
                    coded.append((idx, model))
                    values[lo:hi] = idx.astype(np.int64) + k_lo
                    for j in np.flatnonzero(idx == escape):
                        escaped_at.append((row, int(order[lo + j])))
                    continue
                prev_seg = prev.bins[row][order[lo:hi]]
                live = ~prev.escaped[row][order[lo:hi]]
                coded_groups, base, live_at = _refinement_groups(models, layer, int(channel), t, prev_seg, live)
                seg = prev_seg.copy()  # escaped positions keep their whole symbol
                seg[live_at] = base  # runs of one sub-bin: j = j_lo
                for group in coded_groups:
                    j = decoder.decode(group.model, group.positions.size)
                    coded.append((j, group.model))
                    seg[group.positions] = group.base + j.astype(np.int64)
                values[lo:hi] = seg
            bins[row, order] = values
        for row, position in escaped_at:
            bins[row, position] = decode_escaped(decoder)
            escaped_mask[row, position] = True
    except EntropyDecodeError:
        raise
    except (RuntimeError, ValueError, AssertionError, OverflowError) as exc:  # constriction on words it cannot parse
        raise EntropyDecodeError(f"payload is damaged: entropy decoding failed ({type(exc).__name__})") from None
    if np.abs(bins).max(initial=0) > np.iinfo(np.int32).max:
        raise EntropyDecodeError("payload is damaged: a decoded symbol is out of range")
    encoder = constriction.stream.queue.RangeEncoder()
    if layer == 0:
        encode_side_information(encoder, layout, channel_offsets, block_offsets)
    for idx, model in coded:
        encoder.encode(idx, model)
    if layer == 0:
        _encode_escapes(
            encoder, [np.array([bins[row, position] for row, position in escaped_at], dtype=np.int64)] if escaped_at else []
        )
    if encoder.get_compressed().astype("<u4").tobytes() != bytes(payload):
        raise EntropyDecodeError(
            "payload is damaged: a chunk is not the exact encoding of the symbols it decodes to (truncated, padded or altered)"
        )
    return LayerChunk(bins, escaped_mask, np.asarray(channel_offsets, dtype=np.int64), np.asarray(block_offsets, dtype=np.int64))


def reconstruction_values(
    models: LayerModels,
    layout: ChunkLayout,
    state: LayerChunk,
    layer: int,
) -> np.ndarray:
    """float32 [k, n]: the chunk's channels as far as layer ``layer`` tells: the symbol itself
    at the last layer or where it was escaped, else the centroid of its bin under its table."""
    grid = models.grid
    if layer == len(models.factors) - 1:
        return state.bins.astype(np.float32)
    groups = _grouping(layout, np.asarray(state.block_offsets, dtype=np.int64)[layout.blocks], grid.size)
    out = np.empty(state.bins.shape, dtype=np.float32)
    for row, (channel, offset) in enumerate(zip(layout.channels, state.channel_offsets)):
        order, spans = groups(int(offset))
        b = state.bins[row][order]
        esc = state.escaped[row][order]
        values = np.empty(b.size, dtype=np.float64)
        for t, lo, hi in spans:
            k_lo, centre = models.centroids(t, int(channel), layer)
            seg = b[lo:hi]
            idx = np.clip(seg - k_lo, 0, centre.size - 1)
            values[lo:hi] = np.where(esc[lo:hi], seg, centre[idx])
        out[row, order] = values
    return out


__all__ = [
    "LayerChunk",
    "LayerModels",
    "decode_layer_chunk",
    "encode_layer_chunk",
    "layer_models",
    "minimum_layer_chunk_bits",
    "reconstruction_values",
]
