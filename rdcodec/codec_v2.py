"""Format version 2 and 3 streams: the per-image adaptive prior and progressive chunks.

Encoding (docs/format.md, "Format version 2")::

    pixels ─► g_a ─► z [M,h,w] ─► round((z − median_c) / Δ_g)      (g: a step of the model's grid)
        ─► adaptive prior: offsets o_c per channel, a_b per block, chosen for the fewest bits
        ─► channels in importance order, cut into chunks ─► one range coder per chunk
        ─► container v2 (chunk table, a CRC per chunk)

Decoding a prefix of whole chunks (``partial``) gives the image from the most important
channels, the others at their medians (symbol 0): RaDOGAGA's latent is PCA-like, so the first
channels carry most of the picture.

Version 3 (``factors``, :mod:`rdcodec.format.layers`) codes the same symbols in layers, coarse
to fine (default bins of 9, then 3, then the symbols), each layer cut into chunks by the same
importance order::

    symbols ─► layer 0: bins of 9, every channel (one chunk)
            ─► layer 1: which third of its bin, channels in importance order (chunks)
            ─► layer 2: the symbol, channels in importance order (chunks)

so the first few per cent of the file already hold every channel coarsely, and a prefix
decodes each symbol at the centroid of the finest bin received.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import numpy as np

from rdcodec.codec import (
    DEFAULT_MAX_PIXELS,
    GridCoding,
    Model,
    _as_pixels,
    _entry_for,
    grid_coding,
    latent_symbols,
    load_entry,
    reconstruct,
)
from rdcodec.format import container
from rdcodec.format.adaptive import DEFAULT_BLOCK, block_ids, choose_offsets
from rdcodec.format.chunk_coding import ChunkLayout, decode_chunk, encode_chunk, minimum_chunk_bits
from rdcodec.format.container import ContainerV2, HeaderV2
from rdcodec.format.errors import CodecError
from rdcodec.format.layer_coding import (
    LayerChunk,
    LayerModels,
    decode_layer_chunk,
    encode_layer_chunk,
    layer_models,
    minimum_layer_chunk_bits,
    reconstruction_values,
)
from rdcodec.format.layers import DEFAULT_FACTORS, check_factors
from rdcodec.format.range_coding import CODER_SLACK_BITS, EntropyDecodeError
from rdcodec.tiling import DEFAULT_TILE
from rdcodec.zoo.registry import Registry

#: Channel counts of the chunks, most important first; the last chunk takes the rest.
DEFAULT_CHUNKS = (8, 8, 16, 32)
#: Version 3's default chunks after layer 0 hold about this share of the file each.
LAYER_CHUNK_FRACTION = 0.04


class EncodeResultV2(NamedTuple):
    data: bytes
    width: int
    height: int
    bits_per_pixel: float
    step_index: int
    step: float
    chunk_bytes: tuple[int, ...]  # bytes of each chunk with its CRC, in order
    symbols: np.ndarray  # int32 [M, h, w]
    channel_offsets: np.ndarray  # [M], by channel index
    block_offsets: np.ndarray  # [n_blocks]


class DecodeResultV2(NamedTuple):
    pixels: np.ndarray
    header: HeaderV2
    bits_per_pixel: float  # of the bytes decoded
    chunks_decoded: int
    channels_decoded: int  # version 3: channels decoded to their last layer
    bytes_decoded: int
    layers_decoded: int = 1  # version 3: layers every channel has (0 … L)


class ChunkSymbols(NamedTuple):
    """What the whole chunks of a stream say about its latent (integer parse, then values)."""

    values: np.ndarray  # [M, h·w]: int32 symbols (version 2, or version 3 complete), else float32
    channels_decoded: int  # channels known exactly (all their layers)
    layers_decoded: int  # layers complete for every channel


def chunk_plan(channels: int, chunks: tuple[int, ...] | int = DEFAULT_CHUNKS) -> tuple[int, ...]:
    """Channel counts of the chunks: ``chunks`` counts (the last chunk takes what is left), or
    an int K for K chunks whose sizes double (K = 1: one chunk of every channel)."""
    if isinstance(chunks, int):
        if not 1 <= chunks <= channels:
            raise ValueError(f"chunk count must be 1…{channels}")
        # boundaries at channels · (2^i − 1) / (2^K − 1), each chunk at least one channel
        bounds = [0]
        for i in range(1, chunks + 1):
            ideal = (channels * ((1 << i) - 1)) // ((1 << chunks) - 1)
            bounds.append(min(max(ideal, bounds[-1] + 1), channels - (chunks - i)))
        return tuple(b - a for a, b in zip(bounds, bounds[1:]))
    plan, left = [], channels
    for size in chunks:
        if left <= size:
            break
        plan.append(int(size))
        left -= size
    return (*plan, left)


def grid_of(model: Model, registry: Registry) -> GridCoding:
    """The grid tables of a model's network (read once and kept on the model)."""
    if model.grid is None:
        entry = registry.grid_for(model.entry)
        model.grid = grid_coding(entry, registry.read_file(entry, entry.tables))
        if not np.array_equal(model.grid.medians, model.medians):
            raise CodecError(f"model {model.id}: its grid tables were made from other weights (medians differ)")
    return model.grid


def _layouts(header: HeaderV2, grid: GridCoding) -> list[ChunkLayout]:
    order = grid.grid.channel_order
    blocks, n_blocks = block_ids(header.latent_height, header.latent_width, header.block)
    layouts, start, current = [], 0, 0
    for number, ((count, _), layer) in enumerate(zip(header.chunks, header.layers)):
        if layer != current:  # each layer runs over the channels again, from the first
            current, start = layer, 0
        channels = order[start : start + count].astype(np.int64)
        layouts.append(ChunkLayout(channels, header.step_index, blocks, n_blocks, number == 0, header.block > 0, layer))
        start += count
    return layouts


def encode_image_v2(
    image,
    model: Model,
    registry: Registry | None = None,
    step_index: int | None = None,
    chunks: tuple[int, ...] | int | None = None,
    block: int = DEFAULT_BLOCK,
    adaptive: bool = True,
    search: int = 0,
    tile: int | None = DEFAULT_TILE,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    factors: tuple[int, ...] | None = None,
) -> EncodeResultV2:
    """Encode an image as a version 2 stream of ``model``'s network (version 3 with ``factors``).

    ``step_index``: the grid step (default: the one nearest the model's own Δ); ``chunks``:
    see :func:`chunk_plan`; ``block``: side of the adaptive prior's blocks in latent positions
    (0: channel offsets only); ``adaptive=False`` codes every symbol with the grid table of
    the step itself (all offsets 0); ``factors``: the layer factors of a version 3 stream
    (e.g. :data:`~rdcodec.format.layers.DEFAULT_FACTORS`; ``chunks`` then cuts every layer
    after the first, which is one chunk). ``chunks = None``: :data:`DEFAULT_CHUNKS` for
    version 2; for version 3, chunks of about :data:`LAYER_CHUNK_FRACTION` of the file each.
    """
    registry = registry or Registry()
    coding = grid_of(model, registry)
    grid = coding.grid
    g = grid.nearest_index(model.step) if step_index is None else int(step_index)
    if not 0 <= g < grid.size:
        raise CodecError(f"step index {g} is outside the model's grid (0…{grid.size - 1})")
    if not 0 <= block <= container.MAX_BLOCK:
        raise ValueError(f"block side must be 0…{container.MAX_BLOCK}")
    block = block if adaptive else 0
    pixels = _as_pixels(image, max_pixels).pixels
    height, width = pixels.shape[:2]
    if height * width > max_pixels:
        raise CodecError(f"image is {width}×{height} = {height * width} pixels, over the limit of {max_pixels}")
    if factors is not None:
        factors = check_factors(factors)
    symbols = latent_symbols(model, pixels, search, tile, step=float(grid.steps[g]))
    return encode_symbols_v2(symbols, model, registry, g, width, height, chunks, block, adaptive, factors)


def encode_symbols_v2(
    symbols: np.ndarray,
    model: Model,
    registry: Registry,
    step_index: int,
    width: int,
    height: int,
    chunks: tuple[int, ...] | int | None = None,
    block: int = DEFAULT_BLOCK,
    adaptive: bool = True,
    factors: tuple[int, ...] | None = None,
) -> EncodeResultV2:
    """The version 2 stream of latent symbols int [M, h, w] quantized at grid step ``step_index``
    (the entropy-coding half of :func:`encode_image_v2`; the rate control codes many
    quantizations of one analysis through it); with ``factors``, the version 3 stream."""
    coding = grid_of(model, registry)
    grid = coding.grid
    g = int(step_index)
    block = block if adaptive else 0
    m, lat_h, lat_w = symbols.shape
    flat = symbols.reshape(m, -1)
    blocks, n_blocks = block_ids(lat_h, lat_w, block)
    if adaptive:
        offsets, block_offsets = choose_offsets(flat, grid, g, blocks, n_blocks, use_blocks=block > 0)
    else:
        offsets, block_offsets = np.zeros(m, dtype=np.int64), np.zeros(n_blocks, dtype=np.int64)
    models = None
    if factors is None:
        plan, layers = chunk_plan(m, DEFAULT_CHUNKS if chunks is None else chunks), ()
    else:
        factors = check_factors(factors)
        models = layer_models(grid, factors)
        per_layer = (1,) * m if chunks is None else chunk_plan(m, chunks)  # None: one channel a chunk, merged below
        layer_plans = [(m,)] + [per_layer] * (len(factors) - 1) if len(factors) > 1 else [per_layer]
        plan = tuple(k for p in layer_plans for k in p)
        layers = tuple(ell for ell, p in enumerate(layer_plans) for _ in p)
    header = HeaderV2(
        coding.entry.id,
        bytes.fromhex(coding.entry.digest)[: container.DIGEST_BYTES],
        width,
        height,
        m,
        lat_h,
        lat_w,
        g,
        block,
        tuple((k, 0) for k in plan),
        3 if factors is not None else 2,
        factors or (1,),
        layers,
    )
    payloads = _payloads(header, coding, flat, offsets, block_offsets, models)
    if factors is not None and chunks is None and len(factors) > 1:
        plan, layers = _balanced_plan(header, payloads)
        header = dataclasses.replace(header, chunks=tuple((k, 0) for k in plan), chunk_layers=layers)
        payloads = _payloads(header, coding, flat, offsets, block_offsets, models)
    header = dataclasses.replace(header, chunks=tuple((k, len(p)) for k, p in zip(plan, payloads)))
    data = container.pack_v2(header, payloads)
    return EncodeResultV2(
        data,
        width,
        height,
        len(data) * 8 / (width * height),
        g,
        float(grid.steps[g]),
        tuple(len(p) + 4 for p in payloads),
        symbols,
        offsets,
        block_offsets,
    )


def _payloads(header: HeaderV2, coding: GridCoding, flat, offsets, block_offsets, models) -> list[bytes]:
    payloads = []
    for layout in _layouts(header, coding):
        channels = layout.channels
        if models is None:
            payloads.append(encode_chunk(flat[channels], layout, coding.grid, offsets[channels], block_offsets))
        else:
            payloads.append(encode_layer_chunk(flat[channels], layout, models, offsets[channels], block_offsets))
    return payloads


def _balanced_plan(header: HeaderV2, payloads: list[bytes]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Version 3's default chunks, from a first pass of one channel a chunk after layer 0:
    consecutive channels of a layer are merged until a chunk holds at least
    :data:`LAYER_CHUNK_FRACTION` of the file (a rest under half of that joins the chunk before it)."""
    total = sum(len(p) + 4 for p in payloads)
    target = LAYER_CHUNK_FRACTION * total
    plan, layers = [header.latent_channels], [0]
    for layer in range(1, len(header.factors)):
        sizes = [len(p) + 4 for p, ell in zip(payloads, header.layers) if ell == layer]
        count, acc = 0, 0
        for size in sizes:
            count, acc = count + 1, acc + size
            if acc >= target:
                plan.append(count)
                layers.append(layer)
                count, acc = 0, 0
        if count and acc < target / 2 and layers[-1] == layer:  # a small rest joins the chunk before it
            plan[-1] += count
        elif count:
            plan.append(count)
            layers.append(layer)
    return tuple(plan), tuple(layers)


def chunk_symbols(parsed: ContainerV2, coding: GridCoding) -> ChunkSymbols:
    """The latent [M, h·w] the whole chunks of a stream give. Version 2: int32 symbols, the
    channels of missing chunks 0 (their medians). Version 3: the symbols when every layer is
    there, else float32 values: each symbol at the centroid of the finest bin received (0 where
    no layer of its channel arrived). The parse is integer-only; no network is run."""
    header, grid = parsed.header, coding.grid
    n = header.latent_height * header.latent_width
    layouts = _layouts(header, coding)
    models = layer_models(grid, header.factors) if header.format_version == 3 else None
    for layout, payload in zip(layouts, parsed.chunks):  # before allocating for the declared size
        least = minimum_chunk_bits(layout, grid, n) if models is None else minimum_layer_chunk_bits(layout, models, n)
        if least > 8 * len(payload) + CODER_SLACK_BITS:
            raise CodecError(f"payload is damaged: a chunk of {len(payload)} bytes cannot hold the {n} latent positions declared")
    if models is not None:
        return _layered_symbols(parsed, layouts, models, n)
    symbols = np.zeros((header.latent_channels, n), dtype=np.int32)
    block_offsets = None
    channels_decoded = 0
    try:
        for layout, payload in zip(layouts, parsed.chunks):
            values, _, block_offsets = decode_chunk(payload, layout, grid, n, block_offsets)
            symbols[layout.channels] = values
            channels_decoded += len(layout.channels)
    except EntropyDecodeError as exc:
        raise CodecError(str(exc)) from None
    return ChunkSymbols(symbols, channels_decoded, int(channels_decoded == header.latent_channels))


def _layered_symbols(parsed: ContainerV2, layouts: list[ChunkLayout], models: LayerModels, n: int) -> ChunkSymbols:
    header = parsed.header
    m, last = header.latent_channels, len(header.factors) - 1
    bins = np.zeros((m, n), dtype=np.int64)  # each symbol's bin after the deepest layer of its channel received
    escaped = np.zeros((m, n), dtype=bool)
    depth = np.full(m, -1, dtype=np.int64)
    offsets = np.zeros(m, dtype=np.int64)
    block_offsets = None
    try:
        for layout, payload in zip(layouts, parsed.chunks):
            channels = layout.channels
            prev = LayerChunk(bins[channels], escaped[channels], offsets[channels], block_offsets) if layout.layer else None
            state = decode_layer_chunk(payload, layout, models, n, block_offsets, offsets[channels], prev)
            block_offsets = state.block_offsets
            offsets[channels] = state.channel_offsets
            bins[channels], escaped[channels] = state.bins, state.escaped
            depth[channels] = layout.layer
    except EntropyDecodeError as exc:
        raise CodecError(str(exc)) from None
    channels_decoded = int((depth == last).sum())
    if channels_decoded == m:
        return ChunkSymbols(bins.astype(np.int32), m, last + 1)
    values = np.zeros((m, n), dtype=np.float32)
    for layer in range(last + 1):
        channels = np.flatnonzero(depth == layer)
        if not channels.size:
            continue
        layout = layouts[0]._replace(channels=channels, layer=layer)
        state = LayerChunk(bins[channels], escaped[channels], offsets[channels], np.asarray(block_offsets, dtype=np.int64))
        values[channels] = reconstruction_values(models, layout, state, layer)
    return ChunkSymbols(values, channels_decoded, int(depth.min()) + 1)


def decode_stream_v2(
    data: bytes,
    model: Model | None = None,
    registry: Registry | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    tile: int | None = DEFAULT_TILE,
    runtime: str = "auto",
    threads: int | None = None,
    cache: dict | None = None,
    partial: bool = False,
) -> DecodeResultV2:
    """Decode a version 2 stream; with ``partial``, a stream cut short decodes from its whole
    chunks (the missing channels at their medians). Damage is refused either way: a chunk
    that is present must pass its CRC and decode exactly."""
    parsed: ContainerV2 = container.unpack_v2(data, max_pixels=max_pixels, partial=partial)
    header = parsed.header
    if not parsed.chunks:
        raise CodecError(f"not even the first chunk is complete ({len(data)} of {header.size} bytes); nothing to decode")
    if model is None and cache is not None and header.model_id in cache:
        model = cache[header.model_id]
    if model is None:
        registry = registry or Registry()
        entry = _entry_for(header, registry)
        coding = grid_coding(entry, registry.read_file(entry, entry.tables))
    else:
        if model.grid is None or model.grid.entry.id != header.model_id:
            raise CodecError(f"file was written with model {header.model_id!r}, not {model.id!r}")
        coding = model.grid
        if bytes.fromhex(coding.entry.digest)[: container.DIGEST_BYTES] != header.model_digest:
            raise CodecError(f"file was written with different weights of model {header.model_id!r} (digest mismatch)")
    grid = coding.grid
    if header.latent_channels != grid.channels:
        raise CodecError("file's latent channel count does not match the model")
    if header.step_index >= grid.size:
        raise CodecError(f"file's step index {header.step_index} is outside the model's grid (0…{grid.size - 1})")
    decoded = chunk_symbols(parsed, coding)
    if model is None:
        model = load_entry(coding.entry, registry, runtime=runtime, threads=threads)
        if cache is not None:
            cache[model.id] = model
    lat = decoded.values.reshape(header.latent_channels, header.latent_height, header.latent_width)
    pixels = reconstruct(model, lat, header.height, header.width, tile, step=float(grid.steps[header.step_index]))
    return DecodeResultV2(
        pixels,
        header,
        parsed.size * 8 / header.pixels,
        len(parsed.chunks),
        decoded.channels_decoded,
        parsed.size,
        decoded.layers_decoded,
    )


__all__ = [
    "DEFAULT_CHUNKS",
    "DEFAULT_FACTORS",
    "ChunkSymbols",
    "DecodeResultV2",
    "EncodeResultV2",
    "chunk_plan",
    "chunk_symbols",
    "decode_stream_v2",
    "encode_image_v2",
    "encode_symbols_v2",
    "grid_of",
]
