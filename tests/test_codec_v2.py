"""Format version 2: adaptive prior, chunks, partial decoding (docs/format.md, "Format version 2")."""

from __future__ import annotations

import dataclasses
import zlib

import numpy as np
import pytest
from conftest import synthetic_image

from rdcodec import codec
from rdcodec.codec_v2 import chunk_plan, chunk_symbols, decode_stream_v2, encode_image_v2, grid_of
from rdcodec.format import adaptive, container
from rdcodec.format.errors import CodecError
from rdcodec.format.tables import GridTables


@pytest.fixture(scope="module")
def model(grid_registry):
    return codec.load_model(registry=grid_registry)


def _symbols_of(result, model, registry, partial=False, data=None):
    parsed = container.unpack_v2(data or result.data, partial=partial)
    out = chunk_symbols(parsed, grid_of(model, registry))
    symbols, decoded = out.values, out.channels_decoded
    return symbols.reshape(result.symbols.shape), decoded, parsed


@pytest.mark.parametrize(
    ("size", "block", "chunks"), [((64, 96), 2, (4, 4)), ((80, 48), 0, 3), ((33, 130), 1, 1), ((64, 64), 4, 16)]
)
def test_decode_gives_back_the_quantized_latent(model, grid_registry, size, block, chunks):
    """compress → decompress equals quantize, at the grid step, with any chunking and block side."""
    pixels = synthetic_image(*size, seed=sum(size))
    result = encode_image_v2(pixels, model, grid_registry, block=block, chunks=chunks)
    expected = codec.latent_symbols(model, pixels, step=result.step)
    np.testing.assert_array_equal(result.symbols, expected)
    symbols, decoded, parsed = _symbols_of(result, model, grid_registry)
    np.testing.assert_array_equal(symbols, expected)
    assert decoded == expected.shape[0] and parsed.complete
    assert [k for k, _ in parsed.header.chunks] == list(chunk_plan(expected.shape[0], chunks))
    out = decode_stream_v2(result.data, registry=grid_registry)
    np.testing.assert_array_equal(out.pixels, codec.reconstruct(model, expected, *size, step=result.step))
    # the generic entry point dispatches on the version byte
    np.testing.assert_array_equal(codec.decode_stream(result.data, registry=grid_registry).pixels, out.pixels)


def test_every_prefix_of_whole_chunks_decodes(model, grid_registry):
    pixels = synthetic_image(64, 96, seed=3)
    result = encode_image_v2(pixels, model, grid_registry, chunks=(2, 2, 4, 4))
    header = container.unpack_v2(result.data).header
    order = grid_of(model, grid_registry).grid.channel_order
    end = container.header_size_v2(header.model_id, len(header.chunks))
    full = result.symbols.reshape(result.symbols.shape[0], -1)
    seen = 0
    for number, (count, length) in enumerate(header.chunks):
        end += length + 4
        seen += count
        for cut in (end, end + 1, end + length // 2 if number + 1 < len(header.chunks) else end):
            symbols, decoded, parsed = _symbols_of(result, model, grid_registry, partial=True, data=result.data[:cut])
            assert len(parsed.chunks) == number + 1 and decoded == seen
            flat = symbols.reshape(full.shape)
            kept = order[:seen]
            np.testing.assert_array_equal(flat[kept], full[kept])
            assert not flat[order[seen:]].any()  # the rest at their medians
        out = decode_stream_v2(result.data[:end], registry=grid_registry, partial=True)
        assert out.chunks_decoded == number + 1 and out.channels_decoded == seen


def test_a_truncated_file_is_damage_unless_partial(model, grid_registry):
    data = encode_image_v2(synthetic_image(64, 64, seed=5), model, grid_registry, chunks=3).data
    with pytest.raises(container.ContainerError, match="truncated"):
        decode_stream_v2(data[:-1], registry=grid_registry)
    first = container.header_size_v2("tiny-grid", 3)
    with pytest.raises(CodecError, match="not even the first chunk"):
        decode_stream_v2(data[: first + 2], registry=grid_registry, partial=True)


def test_a_flipped_bit_in_any_chunk_is_reported_by_that_chunks_crc(model, grid_registry):
    data = encode_image_v2(synthetic_image(64, 96, seed=7), model, grid_registry, chunks=(2, 2, 4)).data
    header = container.unpack_v2(data).header
    start = container.header_size_v2(header.model_id, len(header.chunks))
    rng = np.random.default_rng(0)
    for number, (_, length) in enumerate(header.chunks):
        for _ in range(4):
            damaged = bytearray(data)
            damaged[start + int(rng.integers(length + 4))] ^= 1 << int(rng.integers(8))
            for partial in (False, True):
                with pytest.raises(container.ContainerError, match=f"CRC mismatch in chunk {number}"):
                    container.unpack_v2(bytes(damaged), partial=partial)
        start += length + 4


def test_a_changed_chunk_with_a_valid_crc_is_refused(model, grid_registry):
    """Bytes that pass the CRC but are not an exact encoding (crafted) never decode."""
    data = encode_image_v2(synthetic_image(64, 96, seed=8), model, grid_registry, chunks=2).data
    header = container.unpack_v2(data).header
    start = container.header_size_v2(header.model_id, len(header.chunks))
    length = header.chunks[0][1]
    damaged = bytearray(data)
    damaged[start + length // 2] ^= 0x10
    damaged[start + length : start + length + 4] = zlib.crc32(bytes(damaged[start : start + length])).to_bytes(4, "little")
    with pytest.raises(CodecError, match="damaged"):
        decode_stream_v2(bytes(damaged), registry=grid_registry)


def test_a_huge_header_with_tiny_chunks_is_refused_before_allocating(model, grid_registry):
    result = encode_image_v2(synthetic_image(64, 64, seed=9), model, grid_registry, chunks=1)
    parsed = container.unpack_v2(result.data)
    lat = container.latent_size(8192, 8192)
    bomb = dataclasses.replace(parsed.header, width=8192, height=8192, latent_height=lat[0], latent_width=lat[1])
    with pytest.raises(CodecError, match="cannot hold"):
        decode_stream_v2(container.pack_v2(bomb, list(parsed.chunks)), registry=grid_registry)


def test_the_adaptive_prior_pays_for_itself(model, grid_registry):
    """The encoder keeps an offset only where it saves bits: the adaptive stream is never
    larger than the plain one by more than the range coder's final words, and every table it
    picks is one of the shipped grid's."""
    for seed, size in enumerate([(64, 96), (96, 64), (128, 128)]):
        pixels = synthetic_image(*size, seed=seed)
        plain = encode_image_v2(pixels, model, grid_registry, adaptive=False, chunks=1)
        adapted = encode_image_v2(pixels, model, grid_registry, chunks=1)
        assert len(adapted.data) <= len(plain.data) + 8
        assert not plain.channel_offsets.any() and not plain.block_offsets.any()
        assert np.abs(adapted.channel_offsets).max(initial=0) <= adaptive.OFFSET_RANGE


def test_real_bits_are_at_least_the_estimate(model, grid_registry):
    """Each chunk's payload holds at least −Σ log₂ P of what it codes (offsets included)."""
    pixels = synthetic_image(96, 96, seed=4)
    result = encode_image_v2(pixels, model, grid_registry, chunks=(4, 4))
    grid = grid_of(model, grid_registry).grid
    header = container.unpack_v2(result.data).header
    flat = result.symbols.reshape(result.symbols.shape[0], -1)
    blocks, _ = adaptive.block_ids(header.latent_height, header.latent_width, header.block)
    estimate = float(adaptive.OFFSET_BITS[result.block_offsets + adaptive.OFFSET_RANGE].sum())
    for c in range(flat.shape[0]):
        estimate += adaptive.OFFSET_BITS[result.channel_offsets[c] + adaptive.OFFSET_RANGE]
        t = adaptive.table_index(header.step_index, int(result.channel_offsets[c]), result.block_offsets[blocks], grid.size)
        for table in np.unique(t):
            estimate += adaptive.symbol_bits(flat[c][t == table], grid.tables[int(table)], c).sum()
    payload_bits = 8 * sum(n for _, n in header.chunks)
    assert payload_bits >= estimate
    assert payload_bits <= estimate * 1.01 + 64 * len(header.chunks)


def test_offsets_table_is_a_valid_16_bit_table():
    assert adaptive.OFFSET_COUNTS.sum() == 1 << 16 and (adaptive.OFFSET_COUNTS > 0).all()
    assert adaptive.OFFSET_BITS[adaptive.OFFSET_RANGE] < 1.0001  # offset 0: one bit


def test_the_grid_file_round_trips_and_orders_channels(model, grid_registry):
    coding = grid_of(model, grid_registry)
    entry = coding.entry
    blob = grid_registry.read_file(entry, entry.tables)
    grid, medians = GridTables.from_bytes(blob)
    assert grid.size == coding.grid.size and sorted(grid.channel_order) == list(range(grid.channels))
    np.testing.assert_array_equal(medians, model.medians)
    assert grid.nearest_index(1.0) == int(np.argmin(np.abs(np.log(grid.steps))))
    assert GridTables.from_bytes(grid.to_bytes(medians))[0].channel_order.tolist() == grid.channel_order.tolist()


def test_chunk_plans():
    assert chunk_plan(128) == (8, 8, 16, 32, 64)
    assert chunk_plan(16, 1) == (16,)
    assert chunk_plan(16, 3) == (2, 4, 10)
    assert chunk_plan(8, (8, 8)) == (8,)
    assert sum(chunk_plan(128, 7)) == 128
    with pytest.raises(ValueError):
        chunk_plan(8, 9)


def test_version_1_encoding_with_a_grid_model_is_refused(grid_registry):
    grid_model = codec.load_model("tiny-grid", grid_registry)
    with pytest.raises(CodecError, match="format version 2"):
        codec.encode_image(synthetic_image(32, 32), grid_model)
    with pytest.raises(CodecError, match="format version 2"):  # nor through the entropy-coding half
        codec.encode_symbols(np.zeros((grid_model.medians.shape[0], 2, 2), dtype=np.int32), grid_model, 32, 32)
    # but it writes version 2 at its unit step
    result = encode_image_v2(synthetic_image(64, 64), grid_model, grid_registry)
    assert result.step_index == grid_model.grid.grid.nearest_index(1.0)
    assert decode_stream_v2(result.data, grid_model).pixels.shape == (64, 64, 3)
