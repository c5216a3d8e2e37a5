"""rdcodec.format.entropy: frozen tables and range coding (numpy only)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from rdcodec.format.entropy import (
    PRECISION,
    EntropyDecodeError,
    FrozenTables,
    TableError,
    decode,
    encode,
    estimate_bits,
    freeze,
    quantize_pmf,
)


def _tables(seed=0, channels=6, max_len=12, tail=1e-3):
    rng = np.random.default_rng(seed)
    length = rng.integers(1, max_len + 1, channels)
    pmf = rng.random((channels, max_len)) ** 3
    lower = -(length // 2)
    return freeze(pmf, np.full(channels, tail), lower, length)


def test_quantize_pmf_sums_and_is_positive():
    rng = np.random.default_rng(1)
    for n in (2, 3, 17, 300):
        p = rng.random(n) ** 8
        p[0] = 0.0
        counts = quantize_pmf(p)
        assert counts.sum() == 1 << PRECISION
        assert counts.min() >= 1
        assert counts.dtype == np.uint32


def test_quantize_pmf_tracks_probabilities():
    p = np.array([0.5, 0.25, 0.125, 0.125])
    counts = quantize_pmf(p)
    np.testing.assert_allclose(counts / counts.sum(), p, atol=1e-4)


def test_quantize_pmf_refuses_tiny_alphabet():
    with pytest.raises(TableError):
        quantize_pmf(np.array([1.0]))


def test_tables_validate_rejects_bad_counts():
    t = _tables()
    bad = t.counts.copy()
    bad[0, 0] += 1
    with pytest.raises(TableError):
        FrozenTables(bad, t.lower, t.length).validate()


def test_tables_serialization_round_trip():
    t = _tables()
    back = FrozenTables.from_bytes(t.to_bytes())
    assert back.digest() == t.digest()
    np.testing.assert_array_equal(back.counts, t.counts)


@pytest.mark.parametrize("n", [1, 7, 1000])
def test_round_trip_equals_input(n):
    t = _tables()
    rng = np.random.default_rng(n)
    symbols = rng.integers(-8, 9, (t.channels, n))
    coded = encode(symbols, t)
    np.testing.assert_array_equal(decode(coded.payload, t, n), symbols)


def test_escape_path_codes_far_symbols_without_clipping():
    t = _tables()
    symbols = np.zeros((t.channels, 5), dtype=np.int64)
    symbols[0, 0] = 2**31 - 1
    symbols[1, 1] = -(2**31) + 1
    symbols[2, 2] = 1000
    symbols[3, 3] = -1000
    coded = encode(symbols, t)
    assert coded.escapes >= 4
    np.testing.assert_array_equal(decode(coded.payload, t, 5), symbols)


def test_real_bits_match_estimate():
    t = _tables(tail=1e-2)
    rng = np.random.default_rng(3)
    # Draw symbols from the tables' own distributions so the estimate is meaningful.
    symbols = np.empty((t.channels, 20000), dtype=np.int64)
    for c in range(t.channels):
        row = t.row(c).astype(np.float64)
        idx = rng.choice(len(row), size=20000, p=row / row.sum())
        symbols[c] = np.where(idx == t.length[c], t.lower[c] + t.length[c] + 50, t.lower[c] + idx)
    coded = encode(symbols, t)
    est = estimate_bits(symbols, t)
    assert coded.estimated_bits == pytest.approx(est)
    real = len(coded.payload) * 8
    assert est <= real <= est * 1.001 + 64


def test_golden_bytes():
    """Fixed tables and symbols must keep producing these exact bytes (format 1)."""
    counts = np.array([[30000, 20000, 15535, 1], [1, 65534, 1, 0]], dtype=np.uint32)
    t = FrozenTables(counts, np.array([-1, 0], dtype=np.int32), np.array([3, 2], dtype=np.int32)).validate()
    symbols = np.array([[-1, 0, 1, 5, -1, -1], [1, 1, 0, 1, 1, -3]])
    coded = encode(symbols, t)
    assert coded.escapes == 2
    assert coded.payload.hex() == "e800685915668d998f115651"
    np.testing.assert_array_equal(decode(coded.payload, t, 6), symbols)


def test_decode_rejects_ragged_payload():
    with pytest.raises(EntropyDecodeError):
        decode(b"\x00\x01\x02", _tables(), 3)


def test_entropy_and_container_do_not_import_torch():
    code = "import sys, rdcodec.format.entropy, rdcodec.format.container, rdcodec.zoo.registry; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
