"""Format version 3: layers of nested bins, coarse to fine (docs/format.md, "Format version 3")."""

from __future__ import annotations

import dataclasses
import struct
import zlib

import numpy as np
import pytest
from conftest import synthetic_image

from rdcodec import codec
from rdcodec.codec_v2 import chunk_symbols, decode_stream_v2, encode_image_v2, encode_symbols_v2, grid_of
from rdcodec.format import container, layers
from rdcodec.format.errors import CodecError
from rdcodec.format.tables import TOTAL


@pytest.fixture(scope="module")
def model(grid_registry):
    return codec.load_model(registry=grid_registry)


def _row(rng, length=40):
    masses = rng.integers(1, 4000, size=length + 1)
    return layers.normalize_counts(masses)  # a valid frozen row: in-range counts, then the escape


# --- the layer arithmetic -----------------------------------------------------------------


def test_factor_rules():
    assert layers.check_factors([9, 3, 1]) == (9, 3, 1)
    assert layers.check_factors((1,)) == (1,)
    for bad in ((9, 3), (8, 4, 1), (9, 2, 1), (3, 9, 1), (9, 9, 1), (15, 9, 1), (), (257, 1), ("a", 1)):
        with pytest.raises(layers.LayerError):
            layers.check_factors(bad)


def test_bins_nest_and_are_centred():
    s = np.arange(-60, 61)
    k9, k3 = layers.bin_index(s, 9), layers.bin_index(s, 3)
    assert layers.bin_index(0, 9) == 0 and layers.bin_index(4, 9) == 0 and layers.bin_index(5, 9) == 1
    assert layers.bin_index(-4, 9) == 0 and layers.bin_index(-5, 9) == -1
    # every bin of 3 lies in one bin of 9, as sub-bin j = k3 − (3·k9 − 1) ∈ {0, 1, 2}
    j = k3 - (3 * k9 - 1)
    assert set(j.tolist()) == {0, 1, 2}
    for k in range(-5, 6):  # the bins wholly inside −60 … 60
        assert sorted(set(k3[k9 == k].tolist())) == [3 * k - 1, 3 * k, 3 * k + 1]
        assert s[k9 == k].tolist() == list(range(9 * k - 4, 9 * k + 5))


def test_normalize_counts_is_exact_positive_and_deterministic():
    rng = np.random.default_rng(0)
    for size in (1, 2, 3, 7, 300):
        masses = rng.integers(1, 1 << 20, size=size)
        counts = layers.normalize_counts(masses)
        assert counts.dtype == np.uint32 and int(counts.sum()) == TOTAL and (counts >= 1).all()
        np.testing.assert_array_equal(counts, layers.normalize_counts(masses.copy()))
    assert layers.normalize_counts([1, 1]).tolist() == [32768, 32768]
    assert layers.normalize_counts([1, 10**9]).tolist() == [1, TOTAL - 1]
    with pytest.raises(ValueError):
        layers.normalize_counts([0, 3])


def test_coarse_row_is_a_partition_of_the_row():
    rng = np.random.default_rng(1)
    row = _row(rng)
    lower, length = -17, 40
    for factor in (3, 9, 27, 81):
        k_lo, coarse = layers.coarse_row(row, lower, length, factor)
        assert int(coarse.sum()) == TOTAL and (coarse >= 1).all()
        assert coarse[-1] == row[length]  # the escape keeps its count
        k = layers.bin_index(lower + np.arange(length), factor) - k_lo
        np.testing.assert_array_equal(coarse[:-1], np.bincount(k, weights=row[:length]).astype(np.uint32))


def test_the_layers_cost_what_one_layer_costs():
    """Chain rule: −log₂ P(k_0) − Σ log₂ P(sub-bin) equals −log₂ P(s) up to the normalisation."""
    rng = np.random.default_rng(2)
    row = _row(rng)
    lower, length = -20, 40
    factors = (9, 3, 1)
    k_lo, coarse = layers.coarse_row(row, lower, length, 9)
    refinements = [layers.refinement_tables(row, lower, length, a, b) for a, b in zip(factors, factors[1:])]
    for s in range(lower, lower + length):
        bits = -np.log2(coarse[layers.bin_index(s, 9) - k_lo] / TOTAL)
        for (a, b), table in zip(zip(factors, factors[1:]), refinements):
            kp = int(layers.bin_index(s, a))
            j_lo, counts = table[kp]
            j = int(layers.bin_index(s, b)) - (3 * kp - 1) - j_lo
            if counts is None:
                assert j == 0  # a run of one sub-bin: nothing coded
            else:
                bits += -np.log2(counts[j] / TOTAL)
        assert bits == pytest.approx(-np.log2(row[s - lower] / TOTAL), abs=0.01)


def test_centroids_lie_in_their_bins():
    rng = np.random.default_rng(3)
    row = _row(rng)
    k_lo, centre = layers.bin_centroids(row, -13, 40, 9)
    for i, c in enumerate(centre):
        k = k_lo + i
        assert 9 * k - 4 <= c <= 9 * k + 4


# --- streams --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "block", "chunks", "factors"),
    [
        ((64, 96), 2, (4, 4), (9, 3, 1)),
        ((80, 48), 0, 3, (3, 1)),
        ((33, 130), 1, None, (27, 9, 3, 1)),
        ((64, 64), 4, 1, (5, 1)),
        ((48, 48), 2, None, (1,)),
    ],
)
def test_decode_gives_back_the_quantized_latent(model, grid_registry, size, block, chunks, factors):
    """compress → decompress equals quantize, with any layers, chunking and block side."""
    pixels = synthetic_image(*size, seed=sum(size) + 1)
    result = encode_image_v2(pixels, model, grid_registry, block=block, chunks=chunks, factors=factors)
    expected = codec.latent_symbols(model, pixels, step=result.step)
    np.testing.assert_array_equal(result.symbols, expected)
    parsed = container.unpack_v2(result.data)
    assert parsed.header.format_version == 3 and parsed.header.factors == factors
    out = chunk_symbols(parsed, grid_of(model, grid_registry))
    assert out.values.dtype == np.int32 and out.layers_decoded == len(factors)
    np.testing.assert_array_equal(out.values.reshape(expected.shape), expected)
    decoded = decode_stream_v2(result.data, registry=grid_registry)
    np.testing.assert_array_equal(decoded.pixels, codec.reconstruct(model, expected, *size, step=result.step))
    np.testing.assert_array_equal(codec.decode_stream(result.data, registry=grid_registry).pixels, decoded.pixels)


def test_escaped_symbols_survive_every_layer(model, grid_registry):
    rng = np.random.default_rng(4)
    m = model.medians.size
    symbols = rng.integers(-3, 4, size=(m, 4, 6)).astype(np.int32)
    symbols[0, 0, 0], symbols[3, 2, 5], symbols[m - 1, 1, 1] = 5000, -7777, 123456
    g = grid_of(model, grid_registry).grid.nearest_index(1.0)
    result = encode_symbols_v2(symbols, model, grid_registry, g, 96, 64, chunks=(4,), factors=(9, 3, 1))
    parsed = container.unpack_v2(result.data)
    coding = grid_of(model, grid_registry)
    np.testing.assert_array_equal(chunk_symbols(parsed, coding).values.reshape(symbols.shape), symbols)
    head = container.header_size_v3(parsed.header.model_id, len(parsed.header.chunks), 3)
    base_only = container.unpack_v2(result.data[: head + parsed.header.chunks[0][1] + 4], partial=True)
    values = chunk_symbols(base_only, coding).values.reshape(symbols.shape)
    assert values[0, 0, 0] == 5000 and values[3, 2, 5] == -7777 and values[m - 1, 1, 1] == 123456  # sent whole


def test_every_prefix_of_whole_chunks_decodes_within_its_bins(model, grid_registry):
    pixels = synthetic_image(64, 96, seed=7)
    factors = (9, 3, 1)
    result = encode_image_v2(pixels, model, grid_registry, chunks=(2, 2, 4), factors=factors)
    header = container.unpack_v2(result.data).header
    coding = grid_of(model, grid_registry)
    order = coding.grid.channel_order
    full = result.symbols.reshape(result.symbols.shape[0], -1)
    end = container.header_size_v3(header.model_id, len(header.chunks), len(factors))
    depth = np.full(full.shape[0], -1)
    start = 0
    for number, ((count, length), layer) in enumerate(zip(header.chunks, header.layers)):
        if number and layer != header.layers[number - 1]:
            start = 0
        depth[order[start : start + count]] = layer
        start += count
        end += length + 4
        for cut in (end, end + 3):
            parsed = container.unpack_v2(result.data[:cut], partial=True)
            assert len(parsed.chunks) == number + 1
            out = chunk_symbols(parsed, coding)
            assert out.layers_decoded == int(depth.min()) + 1
            assert out.channels_decoded == int((depth == len(factors) - 1).sum())
            values = out.values.reshape(full.shape)
            for c in range(full.shape[0]):
                f = factors[depth[c]]
                centre = f * layers.bin_index(full[c], f)
                assert np.all(np.abs(values[c] - centre) <= (f - 1) / 2 + 1e-4), (number, c)  # inside the true bin
        partial = decode_stream_v2(result.data[:end], registry=grid_registry, partial=True)
        assert partial.chunks_decoded == number + 1 and partial.pixels.shape == (64, 96, 3)


def test_a_truncated_file_is_damage_unless_partial(model, grid_registry):
    data = encode_image_v2(synthetic_image(64, 64, seed=5), model, grid_registry, chunks=3, factors=(9, 3, 1)).data
    with pytest.raises(container.ContainerError, match="truncated"):
        decode_stream_v2(data[:-1], registry=grid_registry)
    assert decode_stream_v2(data[:-1], registry=grid_registry, partial=True).layers_decoded == 2


def test_a_flipped_bit_in_any_chunk_is_reported_by_that_chunks_crc(model, grid_registry):
    data = encode_image_v2(synthetic_image(64, 96, seed=8), model, grid_registry, chunks=(4, 4), factors=(9, 3, 1)).data
    header = container.unpack_v2(data).header
    pos = container.header_size_v3(header.model_id, len(header.chunks), 3)
    for number, (_, length) in enumerate(header.chunks):
        if length:
            bad = bytearray(data)
            bad[pos + length // 2] ^= 0x10
            for partial in (False, True):
                with pytest.raises(container.ContainerError, match=f"CRC mismatch in chunk {number}"):
                    decode_stream_v2(bytes(bad), registry=grid_registry, partial=partial)
        pos += length + 4


def test_a_changed_chunk_with_a_valid_crc_is_refused(model, grid_registry):
    data = encode_image_v2(synthetic_image(64, 96, seed=9), model, grid_registry, chunks=(4, 4), factors=(9, 3, 1)).data
    header = container.unpack_v2(data).header
    pos = container.header_size_v3(header.model_id, len(header.chunks), 3)
    for number, (_, length) in enumerate(header.chunks):
        if length >= 8:
            bad = bytearray(data)
            bad[pos + 1] ^= 0x5A
            bad[pos + length : pos + length + 4] = struct.pack("<I", zlib.crc32(bytes(bad[pos : pos + length])))
            with pytest.raises(CodecError, match="damaged"):
                decode_stream_v2(bytes(bad), registry=grid_registry)
        pos += length + 4


def test_a_corrupt_layer_table_is_refused(model, grid_registry):
    data = encode_image_v2(synthetic_image(48, 48, seed=10), model, grid_registry, chunks=2, factors=(9, 3, 1)).data
    header = container.unpack_v2(data).header

    def rewritten(**changes):
        h = dataclasses.replace(header, **changes)
        blob = bytearray(container._pack_v3(h, list(container.unpack_v2(data).chunks)))
        return bytes(blob)

    # a valid stream re-packed from its own header is byte-identical
    assert rewritten() == data
    fixed = 7 + len(header.model_id) + container.DIGEST_BYTES + container._FIXED_V3.size
    for offset, value, message in ((fixed + 1, 4, "layer factors"), (fixed + 3, 2, "chunk table")):
        bad = bytearray(data)
        bad[offset] = value  # second factor 4 (even); first chunk's layer 2
        end = container.header_size_v3(header.model_id, len(header.chunks), 3) - 4
        bad[end : end + 4] = struct.pack("<I", zlib.crc32(bytes(bad[:end])))
        with pytest.raises(container.ContainerError, match=message):
            container.unpack_v2(bytes(bad))
    with pytest.raises(ValueError):
        rewritten(chunk_layers=(0, 2, 2, 1, 1))


def test_layers_cost_little_over_one_layer(model, grid_registry):
    """The chain rule makes layers nearly free: a few bytes per chunk, not a share of the rate."""
    pixels = synthetic_image(128, 160, seed=11)
    one = encode_image_v2(pixels, model, grid_registry, chunks=1)
    layered = encode_image_v2(pixels, model, grid_registry, chunks=1, factors=(9, 3, 1))
    np.testing.assert_array_equal(one.symbols, layered.symbols)
    overhead = len(layered.data) - len(one.data)
    assert overhead <= 0.03 * len(one.data) + 3 * (7 + 4 + 8)


def test_the_default_chunks_are_balanced_by_bytes(model, grid_registry):
    pixels = synthetic_image(256, 256, seed=12)
    result = encode_image_v2(pixels, model, grid_registry, factors=(9, 3, 1))
    header = container.unpack_v2(result.data).header
    assert header.layers[0] == 0 and header.layers.count(0) == 1  # layer 0: one chunk
    total = len(result.data)
    sizes = [n + 4 for _, n in header.chunks]
    for i, (size, layer) in enumerate(zip(sizes, header.layers)):
        last_of_layer = i + 1 == len(sizes) or header.layers[i + 1] != layer
        if layer and not last_of_layer:
            assert size >= 0.04 * total * 0.9  # each at least about the target share
