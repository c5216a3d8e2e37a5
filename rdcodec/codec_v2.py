"""Format version 2 streams: the per-image adaptive prior and progressive chunks.

Encoding (docs/format.md, "Format version 2")::

    pixels ─► g_a ─► z [M,h,w] ─► round((z − median_c) / Δ_g)      (g: a step of the model's grid)
        ─► adaptive prior: offsets o_c per channel, a_b per block, chosen for the fewest bits
        ─► channels in importance order, cut into chunks ─► one range coder per chunk
        ─► container v2 (chunk table, a CRC per chunk)

Decoding a prefix of whole chunks (``partial``) gives the image from the most important
channels, the others at their medians (symbol 0): RaDOGAGA's latent is PCA-like, so the first
channels carry most of the picture.
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
from rdcodec.format.range_coding import CODER_SLACK_BITS, EntropyDecodeError
from rdcodec.tiling import DEFAULT_TILE
from rdcodec.zoo.registry import Registry

#: Channel counts of the chunks, most important first; the last chunk takes the rest.
DEFAULT_CHUNKS = (8, 8, 16, 32)


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
    channels_decoded: int
    bytes_decoded: int


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
    layouts, start = [], 0
    for number, (count, _) in enumerate(header.chunks):
        channels = order[start : start + count].astype(np.int64)
        layouts.append(ChunkLayout(channels, header.step_index, blocks, n_blocks, number == 0, header.block > 0))
        start += count
    return layouts


def encode_image_v2(
    image,
    model: Model,
    registry: Registry | None = None,
    step_index: int | None = None,
    chunks: tuple[int, ...] | int = DEFAULT_CHUNKS,
    block: int = DEFAULT_BLOCK,
    adaptive: bool = True,
    search: int = 0,
    tile: int | None = DEFAULT_TILE,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> EncodeResultV2:
    """Encode an image as a version 2 stream of ``model``'s network.

    ``step_index``: the grid step (default: the one nearest the model's own Δ); ``chunks``:
    see :func:`chunk_plan`; ``block``: side of the adaptive prior's blocks in latent positions
    (0: channel offsets only); ``adaptive=False`` codes every symbol with the grid table of
    the step itself (all offsets 0).
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
    symbols = latent_symbols(model, pixels, search, tile, step=float(grid.steps[g]))
    return encode_symbols_v2(symbols, model, registry, g, width, height, chunks, block, adaptive)


def encode_symbols_v2(
    symbols: np.ndarray,
    model: Model,
    registry: Registry,
    step_index: int,
    width: int,
    height: int,
    chunks: tuple[int, ...] | int = DEFAULT_CHUNKS,
    block: int = DEFAULT_BLOCK,
    adaptive: bool = True,
) -> EncodeResultV2:
    """The version 2 stream of latent symbols int [M, h, w] quantized at grid step ``step_index``
    (the entropy-coding half of :func:`encode_image_v2`; the rate control codes many
    quantizations of one analysis through it)."""
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
    plan = chunk_plan(m, chunks)
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
    )
    payloads = []
    for layout in _layouts(header, coding):
        channels = layout.channels
        payloads.append(encode_chunk(flat[channels], layout, grid, offsets[channels], block_offsets))
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


def chunk_symbols(parsed: ContainerV2, coding: GridCoding) -> tuple[np.ndarray, int]:
    """(symbols int32 [M, h·w], channels decoded) of the chunks a stream holds; the channels of
    missing chunks are 0 (their medians). Integer-only: no network, no floating point."""
    header, grid = parsed.header, coding.grid
    n = header.latent_height * header.latent_width
    layouts = _layouts(header, coding)
    for layout, payload in zip(layouts, parsed.chunks):  # before allocating for the declared size
        if minimum_chunk_bits(layout, grid, n) > 8 * len(payload) + CODER_SLACK_BITS:
            raise CodecError(f"payload is damaged: a chunk of {len(payload)} bytes cannot hold the {n} latent positions declared")
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
    return symbols, channels_decoded


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
    symbols, channels_decoded = chunk_symbols(parsed, coding)
    if model is None:
        model = load_entry(coding.entry, registry, runtime=runtime, threads=threads)
        if cache is not None:
            cache[model.id] = model
    lat = symbols.reshape(header.latent_channels, header.latent_height, header.latent_width)
    pixels = reconstruct(model, lat, header.height, header.width, tile, step=float(grid.steps[header.step_index]))
    return DecodeResultV2(pixels, header, parsed.size * 8 / header.pixels, len(parsed.chunks), channels_decoded, parsed.size)


__all__ = [
    "DEFAULT_CHUNKS",
    "DecodeResultV2",
    "EncodeResultV2",
    "chunk_plan",
    "chunk_symbols",
    "decode_stream_v2",
    "encode_image_v2",
    "encode_symbols_v2",
    "grid_of",
]
