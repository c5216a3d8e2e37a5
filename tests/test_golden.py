"""Golden streams: every released container format version keeps decoding exactly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from rdcodec import codec
from rdcodec.format import entropy
from rdcodec.format.container import unpack
from rdcodec.zoo.registry import Registry

GOLDEN = Path(__file__).resolve().parent / "golden"
VERSIONS = sorted(p for p in GOLDEN.iterdir() if p.is_dir())
V1 = [p for p in VERSIONS if p.name == "v1"]
V2 = [p for p in VERSIONS if p.name == "v2"]


def test_there_is_a_golden_folder_per_format_version():
    from rdcodec.format.container import FORMAT_VERSION

    assert [p.name for p in VERSIONS] == [f"v{v}" for v in range(1, FORMAT_VERSION + 1)]


@pytest.mark.parametrize("folder", V1, ids=[p.name for p in V1])
def test_golden_stream_decodes_exactly(folder):
    registry = Registry(folder / "models")
    data = (folder / "image.rdc").read_bytes()
    expected_symbols = np.load(folder / "symbols.npy")
    model = codec.load_model(registry=registry)
    parsed = unpack(data)
    c, h, w = expected_symbols.shape
    symbols = entropy.decode(parsed.payload, model.tables, h * w).reshape(c, h, w)
    np.testing.assert_array_equal(symbols, expected_symbols)
    # Integer-only path: coding the stored symbols again gives the stored payload.
    assert entropy.encode(symbols.reshape(c, -1), model.tables).payload == parsed.payload
    decoded = codec.decode_stream(data, registry=registry).pixels
    np.testing.assert_array_equal(decoded, np.asarray(Image.open(folder / "decoded.png")))


def _grid_golden(folder: Path):
    """(registry, stream bytes, recorded symbols, grid coding) of a chunked-format golden folder."""
    registry = Registry(folder / "models")
    grid_entry = next(e for e in registry.entries() if e.kind == "grid")
    coding = codec.grid_coding(grid_entry, registry.read_file(grid_entry, grid_entry.tables))
    return registry, (folder / "image.rdc").read_bytes(), np.load(folder / "symbols.npy"), coding


@pytest.mark.parametrize("folder", V2, ids=[p.name for p in V2])
def test_golden_version_2_stream_decodes_exactly(folder):
    """Chunks, channel offsets and block offsets: the symbols, the re-encoded chunks, the
    pixels, and the image from the first chunk alone, exactly as recorded."""
    import json

    from rdcodec.codec_v2 import chunk_symbols, decode_stream_v2
    from rdcodec.format.chunk_coding import decode_chunk, encode_chunk
    from rdcodec.format.container import unpack_v2

    registry, data, expected, coding = _grid_golden(folder)
    parsed = unpack_v2(data)
    assert parsed.header.block > 0 and len(parsed.header.chunks) > 1
    symbols = chunk_symbols(parsed, coding).values
    np.testing.assert_array_equal(symbols.reshape(expected.shape), expected)
    # integer-only path: coding each chunk's symbols again gives its bytes
    from rdcodec.codec_v2 import _layouts

    n = parsed.header.latent_height * parsed.header.latent_width
    block_offsets = None
    for layout, payload in zip(_layouts(parsed.header, coding), parsed.chunks):
        values, offsets, block_offsets = decode_chunk(payload, layout, coding.grid, n, block_offsets)
        assert encode_chunk(values, layout, coding.grid, offsets, block_offsets) == payload
    decoded_pixels = decode_stream_v2(data, registry=registry).pixels
    np.testing.assert_array_equal(decoded_pixels, np.asarray(Image.open(folder / "decoded.png")))
    prefix = json.loads((folder / "partial.json").read_text())
    partial = decode_stream_v2(data[: prefix["bytes"]], registry=registry, partial=True)
    assert (partial.chunks_decoded, partial.channels_decoded) == (prefix["chunks"], prefix["channels"])
    np.testing.assert_array_equal(partial.pixels, np.asarray(Image.open(folder / "partial.png")))


V3 = [p for p in VERSIONS if p.name == "v3"]


@pytest.mark.parametrize("folder", V3, ids=[p.name for p in V3])
def test_golden_version_3_stream_decodes_exactly(folder):
    """Layers, chunks per layer, offsets: the symbols, each chunk re-encoded to its bytes, the
    pixels, and the image from layer 0 and the first chunk of layer 1, exactly as recorded."""
    import json

    from rdcodec.codec_v2 import _layouts, chunk_symbols, decode_stream_v2
    from rdcodec.format.container import unpack_v2
    from rdcodec.format.layer_coding import LayerChunk, LayerModels, decode_layer_chunk, encode_layer_chunk

    registry, data, expected, coding = _grid_golden(folder)
    parsed = unpack_v2(data)
    header = parsed.header
    assert header.format_version == 3 and header.factors == (9, 3, 1) and header.block > 0
    assert len(set(header.layers)) == 3 and len(header.chunks) > 3
    np.testing.assert_array_equal(chunk_symbols(parsed, coding).values.reshape(expected.shape), expected)
    # integer-only path: each chunk decoded and coded again gives its bytes
    models = LayerModels(coding.grid, header.factors)
    flat = expected.reshape(expected.shape[0], -1)
    n = flat.shape[1]
    block_offsets, offsets = None, np.zeros(flat.shape[0], dtype=np.int64)
    state: dict[int, tuple] = {}
    for layout, payload in zip(_layouts(header, coding), parsed.chunks):
        ch = layout.channels
        prev = None
        if layout.layer:
            prev = LayerChunk(
                np.stack([state[int(c)][0] for c in ch]), np.stack([state[int(c)][1] for c in ch]), offsets[ch], block_offsets
            )
        got = decode_layer_chunk(payload, layout, models, n, block_offsets, offsets[ch], prev)
        block_offsets, offsets[ch] = got.block_offsets, got.channel_offsets
        for row, c in enumerate(ch):
            state[int(c)] = (got.bins[row], got.escaped[row])
        assert encode_layer_chunk(flat[ch], layout, models, offsets[ch], block_offsets) == payload
    decoded_pixels = decode_stream_v2(data, registry=registry).pixels
    np.testing.assert_array_equal(decoded_pixels, np.asarray(Image.open(folder / "decoded.png")))
    prefix = json.loads((folder / "partial.json").read_text())
    partial = decode_stream_v2(data[: prefix["bytes"]], registry=registry, partial=True)
    assert (partial.chunks_decoded, partial.layers_decoded, partial.channels_decoded) == (
        prefix["chunks"],
        prefix["layers"],
        prefix["channels"],
    )
    np.testing.assert_array_equal(partial.pixels, np.asarray(Image.open(folder / "partial.png")))
