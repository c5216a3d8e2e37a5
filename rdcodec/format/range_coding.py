"""Range coding of integer latent symbols with frozen per-channel tables (constriction).

Input is an int array ``symbols[C, n]`` (channel c, position in raster order). The stream,
a queue (first in, first out), holds in this order:

1. for c = 0 … C−1: the n table indices of channel c, each ``symbol − lower[c]`` when in range,
   else the escape index ``length[c]``;
2. for each escaped symbol, in the same channel-major order: its zig-zag value
   ``u = 2s`` (s ≥ 0) or ``−2s − 1`` (s < 0) as ``bit_length(u)`` over a uniform alphabet of 64,
   then the bits of ``u`` from least significant, in chunks of at most 16 bits, each uniform.

The compressed words are 32-bit, written little-endian.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import constriction
import numpy as np

from rdcodec.format.errors import CodecError
from rdcodec.format.tables import ESCAPE_CHUNK_BITS, ESCAPE_LENGTH_ALPHABET, TOTAL, FrozenTables


class EntropyDecodeError(CodecError):
    """The payload does not decode to the declared number of symbols."""


class CodedSymbols(NamedTuple):
    payload: bytes
    estimated_bits: float  # −Σ log₂ P under the frozen tables, escapes included
    escapes: int


def _categorical(counts: np.ndarray) -> "constriction.stream.model.Categorical":
    # Counts sum to 2**16, so counts / 2**16 are exact dyadic floats: no rounding happens here.
    return constriction.stream.model.Categorical(counts.astype(np.float64) / TOTAL, perfect=False)


def _zigzag(values: np.ndarray) -> np.ndarray:
    v = values.astype(np.int64)
    return np.where(v >= 0, 2 * v, -2 * v - 1).astype(np.uint64)


def _unzigzag(u: int) -> int:
    return u >> 1 if u % 2 == 0 else -((u + 1) >> 1)


def _escape_chunks(u: int) -> list[tuple[int, int]]:
    """(chunk value, chunk bit count) pieces of u, least significant first."""
    nbits = int(u).bit_length()
    return [
        ((u >> k) & ((1 << min(ESCAPE_CHUNK_BITS, nbits - k)) - 1), min(ESCAPE_CHUNK_BITS, nbits - k))
        for k in range(0, nbits, ESCAPE_CHUNK_BITS)
    ]


def _uniform(size: int) -> "constriction.stream.model.Uniform":
    return constriction.stream.model.Uniform(max(size, 2))


def table_indices(symbols: np.ndarray, tables: FrozenTables) -> tuple[np.ndarray, np.ndarray]:
    """(indices [C, n] int32, escaped mask [C, n])."""
    lower = tables.lower.astype(np.int64)[:, None]
    length = tables.length.astype(np.int64)[:, None]
    idx = symbols.astype(np.int64) - lower
    escaped = (idx < 0) | (idx >= length)
    idx = np.where(escaped, length, idx)
    return idx.astype(np.int32), escaped


def estimate_bits(symbols: np.ndarray, tables: FrozenTables) -> float:
    """−Σ log₂ P of ``symbols`` under the frozen tables, escape payload included."""
    idx, escaped = table_indices(symbols, tables)
    bits = 0.0
    for c in range(tables.channels):
        probs = tables.row(c).astype(np.float64) / TOTAL
        bits -= float(np.log2(probs[idx[c]]).sum())
    for u in _zigzag(symbols[escaped]):
        bits += math.log2(ESCAPE_LENGTH_ALPHABET) + int(u).bit_length()
    return bits


def encode(symbols: np.ndarray, tables: FrozenTables) -> CodedSymbols:
    """Range-code ``symbols[C, n]`` (any integers) with the frozen tables."""
    symbols = np.asarray(symbols)
    if symbols.ndim != 2 or symbols.shape[0] != tables.channels:
        raise ValueError(f"symbols must be [{tables.channels}, n], got {symbols.shape}")
    idx, escaped = table_indices(symbols, tables)
    encoder = constriction.stream.queue.RangeEncoder()
    for c in range(tables.channels):
        encoder.encode(idx[c], _categorical(tables.row(c)))
    length_model = _uniform(ESCAPE_LENGTH_ALPHABET)
    for u in _zigzag(symbols[escaped]):
        u = int(u)
        encoder.encode(u.bit_length(), length_model)
        for value, nbits in _escape_chunks(u):
            encoder.encode(value, _uniform(1 << nbits))
    payload = encoder.get_compressed().astype("<u4").tobytes()
    return CodedSymbols(payload, estimate_bits(symbols, tables), int(escaped.sum()))


def decode_escaped(decoder) -> int:
    """One escaped symbol from the bypass: its 6-bit length, then its bits in chunks of ≤ 16."""
    nbits = int(decoder.decode(_uniform(ESCAPE_LENGTH_ALPHABET)))
    u = 0
    for k in range(0, nbits, ESCAPE_CHUNK_BITS):
        size = min(ESCAPE_CHUNK_BITS, nbits - k)
        u |= int(decoder.decode(_uniform(1 << size))) << k
    return _unzigzag(u)


def minimum_bits(tables: FrozenTables, n: int) -> float:
    """The fewest bits any ``n`` positions can cost: every symbol at its channel's most likely index."""
    best = np.array([tables.row(c).max() for c in range(tables.channels)], dtype=np.float64) / TOTAL
    return float(n * -np.log2(best).sum())


#: Bits the range coder may write beyond the information content: its final state (two words).
CODER_SLACK_BITS = 64


def decode(payload: bytes, tables: FrozenTables, n: int) -> np.ndarray:
    """Inverse of :func:`encode`: int32 symbols [C, n].

    Refused before any allocation when the payload is too short to hold ``n`` positions even if
    every symbol were its channel's most likely one (a header cannot ask for a huge latent with
    an empty payload); after decoding, refused unless the payload is exactly the encoding of the
    decoded symbols.
    """
    if len(payload) % 4:
        raise EntropyDecodeError("payload length is not a multiple of 4 bytes")
    if minimum_bits(tables, n) > 8 * len(payload) + CODER_SLACK_BITS:
        raise EntropyDecodeError(
            f"payload is damaged: {len(payload)} bytes cannot hold the {n} latent positions the header declares"
        )
    words = np.frombuffer(payload, dtype="<u4").astype(np.uint32)
    decoder = constriction.stream.queue.RangeDecoder(words)
    out = np.empty((tables.channels, n), dtype=np.int64)
    try:
        for c in range(tables.channels):
            idx = decoder.decode(_categorical(tables.row(c)), n).astype(np.int64)
            out[c] = idx + int(tables.lower[c])
        length = tables.length.astype(np.int64)[:, None]
        escaped = np.argwhere(out - tables.lower.astype(np.int64)[:, None] == length)
        for c, i in escaped:
            out[c, i] = decode_escaped(decoder)
    except (RuntimeError, ValueError, AssertionError, OverflowError) as exc:  # constriction on words it cannot parse
        raise EntropyDecodeError(f"payload is damaged: entropy decoding failed ({type(exc).__name__})") from None
    if np.abs(out).max(initial=0) > np.iinfo(np.int32).max:
        raise EntropyDecodeError("payload is damaged: a decoded symbol is out of range")
    symbols = out.astype(np.int32)
    # The range decoder cannot tell where its data ends (it reads past the end as if more words
    # followed). A stream is accepted only if it is exactly the encoding of what it decodes to:
    # a truncated, padded or altered payload is refused instead of decoding silently wrong.
    if encode(symbols, tables).payload != bytes(payload):
        raise EntropyDecodeError(
            "payload is damaged: it is not the exact encoding of the symbols it decodes to (truncated, padded or altered)"
        )
    return symbols
