"""Frozen integer probability tables: one categorical model per latent channel.

For channel ``c`` the alphabet is the integer symbols ``lower[c] … lower[c] + length[c] − 1``
followed by one **escape** symbol (index ``length[c]``) that stands for every symbol outside
that range; the escaped value itself is then coded in the bypass described in
:mod:`rdcodec.format.range_coding`.

``counts[c, :length[c] + 1]`` are positive integers summing to exactly ``2**PRECISION``; the
model's probability of index ``i`` is ``counts[c, i] / 2**PRECISION``. Tables are made from the
float prior exactly once (:func:`freeze`, at export) and then only stored and loaded: nothing
at load or decode time depends on floating-point arithmetic of the prior.
"""

from __future__ import annotations

import functools
import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: Bits of the table total: each channel's counts sum to 2**PRECISION.
PRECISION = 16
TOTAL = 1 << PRECISION

#: Escape payload: the bit length of the zig-zagged value, coded uniformly over 0…63.
ESCAPE_LENGTH_ALPHABET = 64
#: Escape payload chunks: at most this many bits per uniform symbol.
ESCAPE_CHUNK_BITS = 16


class TableError(ValueError):
    """Tables that break the invariants above."""


@dataclass(frozen=True)
class FrozenTables:
    """Per-channel integer tables; see the module docstring for the layout."""

    counts: np.ndarray  # uint32 [C, K]; row c uses the first length[c] + 1 entries
    lower: np.ndarray  # int32 [C]; smallest in-range symbol
    length: np.ndarray  # int32 [C]; number of in-range symbols (≥ 1)

    @property
    def channels(self) -> int:
        return int(self.length.shape[0])

    def validate(self) -> "FrozenTables":
        c = self.channels
        if self.counts.ndim != 2 or self.counts.shape[0] != c or self.lower.shape != (c,):
            raise TableError("table arrays have inconsistent shapes")
        if (self.length < 1).any() or (self.length + 1 > self.counts.shape[1]).any():
            raise TableError("table lengths out of range")
        for ch in range(c):
            row = self.counts[ch, : self.length[ch] + 1].astype(np.int64)
            if (row < 1).any() or row.sum() != TOTAL:
                raise TableError(f"channel {ch}: counts must be positive and sum to {TOTAL}")
        return self

    def row(self, channel: int) -> np.ndarray:
        """Counts of one channel: in-range symbols then the escape symbol."""
        return self.counts[channel, : self.length[channel] + 1]

    def to_bytes(self) -> bytes:
        buf = io.BytesIO()
        np.savez(
            buf,
            precision=np.array(PRECISION, dtype="<i4"),
            counts=self.counts.astype("<u4"),
            lower=self.lower.astype("<i4"),
            length=self.length.astype("<i4"),
        )
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> "FrozenTables":
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            if int(npz["precision"]) != PRECISION:
                raise TableError(f"tables have precision {int(npz['precision'])}, expected {PRECISION}")
            tables = cls(
                counts=npz["counts"].astype(np.uint32),
                lower=npz["lower"].astype(np.int32),
                length=npz["length"].astype(np.int32),
            )
        return tables.validate()

    @classmethod
    def load(cls, path: str | Path) -> "FrozenTables":
        return cls.from_bytes(Path(path).read_bytes())

    def digest(self) -> str:
        """SHA-256 of the canonical serialization of the integer arrays."""
        h = hashlib.sha256()
        for arr in (self.counts.astype("<u4"), self.lower.astype("<i4"), self.length.astype("<i4")):
            h.update(str(arr.shape).encode())
            h.update(arr.tobytes())
        return h.hexdigest()


def quantize_pmf(probabilities: np.ndarray) -> np.ndarray:
    """Integer counts ≥ 1 summing to ``TOTAL``, as close to ``probabilities`` as this rule gets.

    Each symbol gets 1 plus the floor of its share of the remaining mass; what is left over
    goes, one count each, to the largest fractional parts (ties to the lower index).
    """
    p = np.asarray(probabilities, dtype=np.float64)
    n = p.shape[0]
    if n < 2 or n > TOTAL // 2:
        raise TableError(f"alphabet of {n} symbols does not fit a {PRECISION}-bit table")
    p = np.where(np.isfinite(p) & (p > 0), p, 0.0)
    s = p.sum()
    p = p / s if s > 0 else np.full(n, 1.0 / n)
    share = p * (TOTAL - n)
    base = np.floor(share)
    counts = 1 + base.astype(np.int64)
    left = TOTAL - int(counts.sum())
    order = np.lexsort((np.arange(n), -(share - base)))
    counts[order[:left]] += 1
    return counts.astype(np.uint32)


def freeze(pmf: np.ndarray, tail_mass: np.ndarray, lower: np.ndarray, length: np.ndarray) -> FrozenTables:
    """Make the integer tables from float bin probabilities (done once, at export).

    pmf: [C, K] probabilities of the in-range symbols (row c uses its first length[c]);
    tail_mass: [C] probability outside the range, given to the escape symbol.
    """
    pmf = np.asarray(pmf, dtype=np.float64)
    length = np.asarray(length, dtype=np.int32)
    channels = pmf.shape[0]
    width = int(length.max()) + 1
    counts = np.zeros((channels, width), dtype=np.uint32)
    for c in range(channels):
        n = int(length[c])
        probs = np.concatenate([pmf[c, :n], [float(tail_mass[c])]])
        counts[c, : n + 1] = quantize_pmf(probs)
    return FrozenTables(counts=counts, lower=np.asarray(lower, dtype=np.int32), length=length).validate()


@dataclass(frozen=True)
class GridTables:
    """One network's frozen tables at every step of a geometric grid of quantization steps,
    with its channel importance order: what format version 2 codes with (docs/format.md).

    ``tables[g]`` are the :class:`FrozenTables` of symbols ``round((z − median) / steps[g])``;
    ``steps`` are only used to dequantize (``ẑ = s · steps[g] + median``), never by the parse;
    ``channel_order`` lists the latent channels from most to least important (a permutation
    of ``0 … M−1``), the order in which version 2 codes them.
    """

    tables: tuple[FrozenTables, ...]
    steps: np.ndarray  # float32 [G], increasing
    channel_order: np.ndarray  # int32 [M], a permutation

    @property
    def size(self) -> int:
        return len(self.tables)

    @functools.cached_property
    def peak_counts(self) -> np.ndarray:
        """int64 [M]: each channel's largest count over every table of the grid."""
        return np.max([[int(t.row(c).max()) for c in range(t.channels)] for t in self.tables], axis=0).astype(np.int64)

    @functools.cached_property
    def derived(self) -> dict:
        """A cache of what is derived from these tables and needed again for every stream of
        the grid (format version 3's layer tables, :func:`rdcodec.format.layer_coding.layer_models`)."""
        return {}

    @property
    def channels(self) -> int:
        return self.tables[0].channels

    def validate(self) -> "GridTables":
        g, m = self.size, self.channels
        if not 1 <= g <= 255:
            raise TableError(f"a grid has 1…255 steps, not {g}")
        for t in self.tables:
            if t.channels != m:
                raise TableError("grid tables have different channel counts")
            t.validate()
        steps = np.asarray(self.steps, dtype=np.float64)
        if steps.shape != (g,) or not (np.isfinite(steps).all() and (steps > 0).all() and (np.diff(steps) > 0).all()):
            raise TableError("grid steps must be positive and increasing, one per table")
        if sorted(np.asarray(self.channel_order).tolist()) != list(range(m)):
            raise TableError("channel order is not a permutation of the channels")
        return self

    def nearest_index(self, step: float) -> int:
        """Index of the grid step closest to ``step`` on a log scale."""
        return int(np.argmin(np.abs(np.log(self.steps.astype(np.float64)) - np.log(step))))

    def to_bytes(self, medians: np.ndarray) -> bytes:
        """The ``.grid.npz`` file: every step's tables, the steps, the channel order and the medians."""
        arrays = {
            "precision": np.array(PRECISION, dtype="<i4"),
            "steps": self.steps.astype("<f4"),
            "channel_order": self.channel_order.astype("<i4"),
            "medians": np.asarray(medians).astype("<f4"),
            "lower": np.stack([t.lower for t in self.tables]).astype("<i4"),
            "length": np.stack([t.length for t in self.tables]).astype("<i4"),
        }
        for g, t in enumerate(self.tables):
            arrays[f"counts_{g:03d}"] = t.counts.astype("<u4")
        buf = io.BytesIO()
        np.savez_compressed(buf, **arrays)
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> tuple["GridTables", np.ndarray]:
        """(grid, medians float32 [M]) of a ``.grid.npz`` file."""
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            if int(npz["precision"]) != PRECISION:
                raise TableError(f"tables have precision {int(npz['precision'])}, expected {PRECISION}")
            lower, length = npz["lower"].astype(np.int32), npz["length"].astype(np.int32)
            tables = tuple(
                FrozenTables(npz[f"counts_{g:03d}"].astype(np.uint32), lower[g], length[g]) for g in range(lower.shape[0])
            )
            grid = cls(tables, npz["steps"].astype(np.float32), npz["channel_order"].astype(np.int32))
            medians = npz["medians"].astype(np.float32)
        if medians.shape != (grid.channels,):
            raise TableError("grid medians do not match the channel count")
        return grid.validate(), medians
