"""Range coding of one chunk of a format-version-2 stream (byte layout in docs/format.md).

A chunk codes a run of channels, in the model's importance order, with its own range coder,
so any prefix of whole chunks decodes without the rest. Its words hold, first in first out:

1. in chunk 0 only, when the stream has block offsets: the offset ``a_b`` of every block,
   b = 0 … nb−1, over :data:`~rdcodec.format.adaptive.OFFSET_COUNTS` (offset + 12 as index);
2. the offset ``o_c`` of each of the chunk's channels, in chunk order, over the same table;
3. for each channel c, in chunk order, its symbols grouped by table: for each table index
   ``t`` that occurs, ascending, the symbols of the positions coded with t, in raster order,
   each as ``s − lower`` in t's row of channel c (or the escape index);
4. every escaped symbol of the chunk, in the order of 3: zig-zag value, 6-bit length, raw
   bits in chunks of at most 16 (as in version 1).
"""

from __future__ import annotations

from typing import NamedTuple

import constriction
import numpy as np

from rdcodec.format.adaptive import OFFSET_COUNTS, OFFSET_RANGE, table_index
from rdcodec.format.range_coding import (
    CODER_SLACK_BITS,
    EntropyDecodeError,
    _categorical,
    _escape_chunks,
    _uniform,
    _zigzag,
    decode_escaped,
)
from rdcodec.format.tables import ESCAPE_LENGTH_ALPHABET, TOTAL, GridTables


class ChunkLayout(NamedTuple):
    """What both sides know before a chunk is coded."""

    channels: np.ndarray  # int [k]: the chunk's channel indices, in coding order
    step_index: int  # g
    blocks: np.ndarray  # int [n]: block number of each position (raster order)
    n_blocks: int
    first: bool  # chunk 0: carries the block offsets
    use_blocks: bool
    layer: int = 0  # format version 3: the layer the chunk refines to (version 2: always 0)


def _offset_model():
    return _categorical(OFFSET_COUNTS)


class _Groups(NamedTuple):
    order: np.ndarray  # coding order of the positions: grouped by table, ascending, raster within
    spans: tuple[tuple[int, int, int], ...]  # (table index, start, stop) into ``order``


def _grouping(layout: ChunkLayout, a_of_position: np.ndarray, grid_size: int):
    """Groups of positions by table, for one channel offset (cached: channels share offsets)."""
    cache: dict[int, _Groups] = {}

    def groups(offset: int) -> _Groups:
        if offset not in cache:
            t = table_index(layout.step_index, offset, a_of_position, grid_size)
            order = np.argsort(t, kind="stable")
            t = t[order]
            bounds = np.flatnonzero(np.diff(t)) + 1
            starts = np.concatenate([[0], bounds]).astype(np.int64)
            stops = np.concatenate([bounds, [t.size]]).astype(np.int64)
            cache[offset] = _Groups(order, tuple((int(t[a]), int(a), int(b)) for a, b in zip(starts, stops)))
        return cache[offset]

    return groups


def _encode_escapes(encoder, escaped_values: list[np.ndarray]) -> None:
    length_model = _uniform(ESCAPE_LENGTH_ALPHABET)
    for u in _zigzag(np.concatenate(escaped_values)) if escaped_values else ():
        u = int(u)
        encoder.encode(u.bit_length(), length_model)
        for value, nbits in _escape_chunks(u):
            encoder.encode(value, _uniform(1 << nbits))


def encode_side_information(encoder, layout: ChunkLayout, channel_offsets, block_offsets) -> None:
    """The offsets a chunk starts with: every block's (the stream's first chunk, with blocks),
    then each of its channels', over :data:`OFFSET_COUNTS`."""
    offset_model = _offset_model()
    if layout.first and layout.use_blocks:
        encoder.encode((np.asarray(block_offsets) + OFFSET_RANGE).astype(np.int32), offset_model)
    encoder.encode((np.asarray(channel_offsets) + OFFSET_RANGE).astype(np.int32), offset_model)


def encode_chunk(
    symbols: np.ndarray, layout: ChunkLayout, grid: GridTables, channel_offsets: np.ndarray, block_offsets: np.ndarray
) -> bytes:
    """Range-code ``symbols`` int [k, n] of the chunk's channels (in ``layout.channels`` order)."""
    encoder = constriction.stream.queue.RangeEncoder()
    encode_side_information(encoder, layout, channel_offsets, block_offsets)
    groups = _grouping(layout, np.asarray(block_offsets, dtype=np.int64)[layout.blocks], grid.size)
    escapes: list[np.ndarray] = []
    for row, (channel, offset) in enumerate(zip(layout.channels, channel_offsets)):
        order, spans = groups(int(offset))
        s = symbols[row].astype(np.int64)[order]
        for t, lo, hi in spans:
            table = grid.tables[t]
            lower, length = int(table.lower[channel]), int(table.length[channel])
            idx = s[lo:hi] - lower
            escaped = (idx < 0) | (idx >= length)
            encoder.encode(np.where(escaped, length, idx).astype(np.int32), _categorical(table.row(channel)))
            if escaped.any():
                escapes.append(s[lo:hi][escaped])
    _encode_escapes(encoder, escapes)
    return encoder.get_compressed().astype("<u4").tobytes()


def minimum_chunk_bits(layout: ChunkLayout, grid: GridTables, n: int) -> float:
    """The fewest bits the chunk can take: every offset 0 and every symbol at the most likely
    index of the most peaked table its channel has anywhere on the grid."""
    best_offset = float(OFFSET_COUNTS.max()) / TOTAL
    side = len(layout.channels) + (layout.n_blocks if layout.first and layout.use_blocks else 0)
    peaks = grid.peak_counts[np.asarray(layout.channels, dtype=np.int64)].astype(np.float64) / TOTAL
    return float(side * -np.log2(best_offset) + n * -np.log2(peaks).sum())


def decode_chunk(
    payload: bytes, layout: ChunkLayout, grid: GridTables, n: int, block_offsets: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(symbols int32 [k, n], channel offsets [k], block offsets [n_blocks]) of one chunk.

    ``block_offsets``: those read from chunk 0 (``None`` when decoding chunk 0 itself).
    Refused before decoding when the chunk is too short to hold its positions, and after
    decoding unless it is exactly the encoding of what it decoded to.
    """
    if len(payload) % 4:
        raise EntropyDecodeError("chunk length is not a multiple of 4 bytes")
    if minimum_chunk_bits(layout, grid, n) > 8 * len(payload) + CODER_SLACK_BITS:
        raise EntropyDecodeError(f"payload is damaged: a chunk of {len(payload)} bytes cannot hold {n} positions")
    decoder = constriction.stream.queue.RangeDecoder(np.frombuffer(payload, dtype="<u4").astype(np.uint32))
    offset_model = _offset_model()
    k = len(layout.channels)
    out = np.empty((k, n), dtype=np.int64)
    coded: list[tuple[np.ndarray, object]] = []  # (indices, model) in coding order, to re-encode
    try:
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
                table = grid.tables[t]
                lower, length = int(table.lower[channel]), int(table.length[channel])
                model = _categorical(table.row(int(channel)))
                idx = decoder.decode(model, hi - lo)
                coded.append((idx, model))
                values[lo:hi] = idx.astype(np.int64) + lower
                hits = np.flatnonzero(idx == length)
                if hits.size:
                    escaped_at.extend((row, int(order[lo + j])) for j in hits)
            out[row, order] = values
        for row, position in escaped_at:
            out[row, position] = decode_escaped(decoder)
    except (RuntimeError, ValueError, AssertionError, OverflowError) as exc:  # constriction on words it cannot parse
        raise EntropyDecodeError(f"payload is damaged: entropy decoding failed ({type(exc).__name__})") from None
    if np.abs(out).max(initial=0) > np.iinfo(np.int32).max:
        raise EntropyDecodeError("payload is damaged: a decoded symbol is out of range")
    symbols = out.astype(np.int32)
    # Accepted only if the chunk is exactly the encoding of what it decoded to (the range
    # decoder cannot tell where its data ends): re-encode the same indices with the same models.
    encoder = constriction.stream.queue.RangeEncoder()
    encode_side_information(encoder, layout, channel_offsets, block_offsets)
    for idx, model in coded:
        encoder.encode(idx, model)
    _encode_escapes(
        encoder, [np.array([out[row, position] for row, position in escaped_at], dtype=np.int64)] if escaped_at else []
    )
    if encoder.get_compressed().astype("<u4").tobytes() != bytes(payload):
        raise EntropyDecodeError(
            "payload is damaged: a chunk is not the exact encoding of the symbols it decodes to (truncated, padded or altered)"
        )
    return symbols, channel_offsets, np.asarray(block_offsets, dtype=np.int64)


__all__ = ["ChunkLayout", "decode_chunk", "encode_chunk", "minimum_chunk_bits"]
