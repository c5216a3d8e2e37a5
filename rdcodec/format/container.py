"""The ``.rdc`` container, format versions 1 and 2 (stdlib only; byte layout in docs/format.md).

Version 1 (one range-coded payload):

All integers are little-endian::

    offset      size  field
    0           4     magic            89 52 44 43  ("\\x89RDC")
    4           1     format version   1
    5           1     flags            0 (reserved; readers refuse other values)
    6           1     L = model id length, 1…64
    7           L     model id         ASCII
    7+L         16    model digest     first 16 bytes of the model's SHA-256 digest
    23+L        4     image width      u32, ≥ 1
    27+L        4     image height     u32, ≥ 1
    31+L        2     latent channels  u16
    33+L        4     latent height    u32 = ceil(height / 16)
    37+L        4     latent width     u32 = ceil(width / 16)
    41+L        4     payload length   u32, bytes, a multiple of 4
    45+L        4     header CRC32     of bytes 0 … 44+L
    49+L        P     payload          range-coder words (u32, little-endian)
    49+L+P      4     payload CRC32    of the payload bytes

Version 2 (chunks of channels in importance order, each with its own CRC; the adaptive
prior's step index and block side)::

    0 … 40+L          as version 1 (version byte 2), without the payload length
    41+L        1     step index g     into the model's grid of quantization steps
    42+L        1     block side B     latent positions per block offset; 0: none
    43+L        2     chunk count K    u16, 1 … M
    45+L        6K    chunk table      per chunk: u16 channel count, u32 byte length (×4)
    45+L+6K     4     header CRC32     of bytes 0 … 44+L+6K
    49+L+6K     …     chunks           per chunk: its bytes, then their CRC32
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from rdcodec.format.errors import CodecError

MAGIC = b"\x89RDC"
#: The newest version this reader decodes (and encoders can write).
FORMAT_VERSION = 3
#: Versions this reader decodes, forever (tests/golden/v1, tests/golden/v2, tests/golden/v3).
SUPPORTED_VERSIONS = (1, 2, 3)
#: Versions whose streams are cut into chunks (:class:`HeaderV2`; version 3 adds layers).
CHUNKED_VERSIONS = (2, 3)
#: Stride of the network: the latent grid is ceil(size / LATENT_STRIDE).
LATENT_STRIDE = 16
#: Default largest image (in pixels) the codec accepts, checked before anything is allocated
#: (8192 × 8192). Memory is bounded by the tiles plus a few bytes per pixel (docs/bench/README.md);
#: ``--max-pixels`` raises it.
DEFAULT_MAX_PIXELS = 1 << 26
DIGEST_BYTES = 16
MAX_MODEL_ID = 64

_FIXED = struct.Struct("<IIHIII")  # width, height, channels, latent h, latent w, payload length
_FIXED_V2 = struct.Struct("<IIHIIBBH")  # width, height, channels, latent h, latent w, step index, block, chunk count
_CHUNK = struct.Struct("<HI")  # channels, bytes
_FIXED_V3 = struct.Struct("<IIHIIBBHB")  # version 2's fixed fields, then the layer count
_CHUNK_V3 = struct.Struct("<BHI")  # layer, channels, bytes
_CRC = struct.Struct("<I")
#: Largest block side of the adaptive prior's block offsets (latent positions).
MAX_BLOCK = 64


class ContainerError(CodecError):
    """A file that is not a valid ``.rdc`` stream this reader can decode."""


@dataclass(frozen=True)
class Header:
    model_id: str
    model_digest: bytes  # DIGEST_BYTES
    width: int
    height: int
    latent_channels: int
    latent_height: int
    latent_width: int
    payload_length: int
    format_version: int = 1

    @property
    def pixels(self) -> int:
        return self.width * self.height


@dataclass(frozen=True)
class Container:
    header: Header
    payload: bytes
    size: int  # total bytes of the stream

    @property
    def bits_per_pixel(self) -> float:
        return self.size * 8 / self.header.pixels


def latent_size(height: int, width: int) -> tuple[int, int]:
    return -(-height // LATENT_STRIDE), -(-width // LATENT_STRIDE)


def header_size(model_id: str) -> int:
    return 49 + len(model_id.encode("ascii"))


def _identity(version: int, header) -> bytes:
    """Magic, version, flags, the model id and digest: the first 23 + L bytes of both versions."""
    model_id = header.model_id.encode("ascii")
    if not 1 <= len(model_id) <= MAX_MODEL_ID:
        raise ValueError(f"model id must be 1…{MAX_MODEL_ID} ASCII bytes")
    if len(header.model_digest) != DIGEST_BYTES:
        raise ValueError(f"model digest must be {DIGEST_BYTES} bytes")
    return MAGIC + bytes([version, 0, len(model_id)]) + model_id + header.model_digest


def pack(header: Header, payload: bytes) -> bytes:
    if len(payload) != header.payload_length or len(payload) % 4:
        raise ValueError("payload length does not match the header or is not a multiple of 4")
    head = _identity(1, header) + _FIXED.pack(
        header.width,
        header.height,
        header.latent_channels,
        header.latent_height,
        header.latent_width,
        header.payload_length,
    )
    head += _CRC.pack(zlib.crc32(head))
    return head + payload + _CRC.pack(zlib.crc32(payload))


def _checked_fields(data: bytes, fixed: struct.Struct, table_size, max_pixels: int) -> tuple[int, str, bytes, tuple]:
    """The checks both versions make after magic and version: (end of the CRC-covered bytes,
    model id, digest, the fixed fields), with the header CRC, flags, model id, pixel limit and
    latent shape checked. ``table_size(fields)``: bytes of what follows the fixed fields
    before the CRC (version 2's chunk table)."""
    flags, id_len = data[5], data[6]
    fixed_end = 7 + id_len + DIGEST_BYTES + fixed.size
    if len(data) < fixed_end:
        raise ContainerError("file is truncated (incomplete header)")
    fields = fixed.unpack_from(data, 7 + id_len + DIGEST_BYTES)
    end = fixed_end + table_size(fields)
    if len(data) < end + _CRC.size:
        raise ContainerError("file is truncated (incomplete header)")
    (stored_crc,) = _CRC.unpack_from(data, end)
    if zlib.crc32(bytes(data[:end])) != stored_crc:
        raise ContainerError("header is corrupt (CRC mismatch)")
    if flags != 0:
        raise ContainerError(f"unsupported header flags {flags:#04x}")
    if not 1 <= id_len <= MAX_MODEL_ID:
        raise ContainerError("header is corrupt (model id length)")
    try:
        model_id = bytes(data[7 : 7 + id_len]).decode("ascii")
    except UnicodeDecodeError:
        raise ContainerError("header is corrupt (model id is not ASCII)") from None
    digest = bytes(data[7 + id_len : 7 + id_len + DIGEST_BYTES])
    width, height, channels, lat_h, lat_w = fields[:5]
    if width < 1 or height < 1:
        raise ContainerError("header declares an empty image")
    if width * height > max_pixels:
        raise ContainerError(f"header declares {width}×{height} = {width * height} pixels, over the limit of {max_pixels}")
    if (lat_h, lat_w) != latent_size(height, width) or channels < 1:
        raise ContainerError("header is corrupt (latent shape does not match the image size)")
    return end, model_id, digest, fields


def parse_header(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[Header, int]:
    """Header and its length in bytes; checks magic, version, CRC and sizes, not the payload."""
    if len(data) < 7:
        if MAGIC.startswith(bytes(data[:4])) and data:
            raise ContainerError("file is truncated (incomplete header)")
        raise ContainerError("not an rdcodec file (too short)")
    if data[:4] != MAGIC:
        raise ContainerError("not an rdcodec file (wrong magic bytes)")
    version = data[4]
    if version in CHUNKED_VERSIONS:
        raise ContainerError(f"this is a format version {version} file: read it with parse_header_v2 / unpack_any")
    if version > FORMAT_VERSION:
        raise ContainerError(
            f"file uses format version {version}, newer than this rdcodec supports ({FORMAT_VERSION}); upgrade rdcodec"
        )
    if version < 1:
        raise ContainerError(f"unknown format version {version}")
    end, model_id, digest, fields = _checked_fields(data, _FIXED, lambda fields: 0, max_pixels)
    width, height, channels, lat_h, lat_w, payload_length = fields
    if payload_length % 4:
        raise ContainerError("header is corrupt (payload length)")
    header = Header(model_id, digest, width, height, channels, lat_h, lat_w, payload_length, version)
    return header, end + _CRC.size


def unpack(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> Container:
    """Parse and verify a whole ``.rdc`` stream."""
    header, start = parse_header(data, max_pixels)
    stop = start + header.payload_length
    if len(data) < stop + _CRC.size:
        raise ContainerError(f"file is truncated ({len(data)} of {stop + _CRC.size} bytes)")
    if len(data) > stop + _CRC.size:
        raise ContainerError(f"file has {len(data) - stop - _CRC.size} unexpected trailing bytes")
    payload = bytes(data[start:stop])
    (stored_crc,) = _CRC.unpack_from(data, stop)
    if zlib.crc32(payload) != stored_crc:
        raise ContainerError("payload is corrupt (CRC mismatch)")
    return Container(header, payload, len(data))


# --- version 2 ------------------------------------------------------------------------------


@dataclass(frozen=True)
class HeaderV2:
    model_id: str  # a grid model (docs/format.md, "Model files")
    model_digest: bytes  # DIGEST_BYTES
    width: int
    height: int
    latent_channels: int
    latent_height: int
    latent_width: int
    step_index: int  # g: the grid step the symbols are quantized at
    block: int  # side of the adaptive prior's blocks, in latent positions; 0: no block offsets
    chunks: tuple[tuple[int, int], ...]  # (channel count, byte length) per chunk
    format_version: int = 2
    factors: tuple[int, ...] = (1,)  # version 3: the layer factors F_0 > … > 1 (rdcodec.format.layers)
    chunk_layers: tuple[int, ...] = ()  # version 3: the layer of each chunk (version 2: none, all 0)

    @property
    def pixels(self) -> int:
        return self.width * self.height

    @property
    def layers(self) -> tuple[int, ...]:
        """The layer of each chunk (all 0 in version 2)."""
        return self.chunk_layers or (0,) * len(self.chunks)

    @property
    def size(self) -> int:
        """Bytes of the whole stream."""
        head = header_size_v2(self.model_id, len(self.chunks))
        if self.format_version == 3:
            head = header_size_v3(self.model_id, len(self.chunks), len(self.factors))
        return head + sum(n + _CRC.size for _, n in self.chunks)


@dataclass(frozen=True)
class ContainerV2:
    header: HeaderV2
    chunks: tuple[bytes, ...]  # the chunk payloads received: all of them, or a prefix (partial)
    size: int  # bytes of the stream that were read (the whole file, or the prefix decoded)

    @property
    def complete(self) -> bool:
        return len(self.chunks) == len(self.header.chunks)

    @property
    def bits_per_pixel(self) -> float:
        return self.size * 8 / self.header.pixels


def header_size_v2(model_id: str, chunk_count: int) -> int:
    return 49 + len(model_id.encode("ascii")) + _CHUNK.size * chunk_count


def header_size_v3(model_id: str, chunk_count: int, layer_count: int) -> int:
    return 50 + len(model_id.encode("ascii")) + layer_count + _CHUNK_V3.size * chunk_count


def _check_layered_chunks(channels: int, factors: tuple[int, ...], layers: tuple[int, ...], counts: tuple[int, ...]) -> bool:
    """Version 3's chunk table rules: layers 0 … L−1 in order, each covering every channel."""
    if not layers or layers[0] != 0 or any(b not in (a, a + 1) for a, b in zip(layers, layers[1:])):
        return False
    if layers[-1] != len(factors) - 1:
        return False
    return all(sum(k for k, layer in zip(counts, layers) if layer == ell) == channels for ell in range(len(factors)))


def _chunked_fields(header: HeaderV2, chunk_count: int) -> tuple[int, ...]:
    """The fixed fields versions 2 and 3 share, in their order (version 3 appends the layer count)."""
    return (
        header.width,
        header.height,
        header.latent_channels,
        header.latent_height,
        header.latent_width,
        header.step_index,
        header.block,
        chunk_count,
    )


def pack_v2(header: HeaderV2, chunks: list[bytes]) -> bytes:
    """A version 2 stream, or a version 3 one when ``header.format_version`` is 3."""
    if [n for _, n in header.chunks] != [len(c) for c in chunks] or any(len(c) % 4 for c in chunks):
        raise ValueError("chunk lengths do not match the header or are not multiples of 4")
    if header.format_version == 3:
        return _pack_v3(header, chunks)
    if sum(k for k, _ in header.chunks) != header.latent_channels or not 1 <= len(chunks) <= header.latent_channels:
        raise ValueError("chunks must cover the latent channels exactly")
    head = (
        _identity(2, header)
        + _FIXED_V2.pack(*_chunked_fields(header, len(chunks)))
        + b"".join(_CHUNK.pack(k, n) for k, n in header.chunks)
    )
    head += _CRC.pack(zlib.crc32(head))
    return head + b"".join(c + _CRC.pack(zlib.crc32(c)) for c in chunks)


def _pack_v3(header: HeaderV2, chunks: list[bytes]) -> bytes:
    from rdcodec.format.layers import check_factors

    factors = check_factors(header.factors)
    counts = tuple(k for k, _ in header.chunks)
    if len(header.chunk_layers) != len(chunks) or not _check_layered_chunks(
        header.latent_channels, factors, header.chunk_layers, counts
    ):
        raise ValueError("version 3 chunks must cover every channel once per layer, layers in order")
    if any(k < 1 for k in counts) or len(chunks) > 0xFFFF:
        raise ValueError("every chunk needs at least one channel")
    head = (
        _identity(3, header)
        + _FIXED_V3.pack(*_chunked_fields(header, len(chunks)), len(factors))
        + bytes(factors)
        + b"".join(_CHUNK_V3.pack(layer, k, n) for layer, (k, n) in zip(header.chunk_layers, header.chunks))
    )
    head += _CRC.pack(zlib.crc32(head))
    return head + b"".join(c + _CRC.pack(zlib.crc32(c)) for c in chunks)


def _parse_header_v3(data: bytes, max_pixels: int) -> tuple[HeaderV2, int]:
    from rdcodec.format.layers import LayerError, check_factors

    id_len = data[6]
    end, model_id, digest, fields = _checked_fields(
        data, _FIXED_V3, lambda fields: fields[-1] + _CHUNK_V3.size * fields[-2], max_pixels
    )
    width, height, channels, lat_h, lat_w, step_index, block, chunk_count, layer_count = fields
    fixed_end = 7 + id_len + DIGEST_BYTES + _FIXED_V3.size
    if block > MAX_BLOCK:
        raise ContainerError("header is corrupt (block side)")
    try:
        factors = check_factors(bytes(data[fixed_end : fixed_end + layer_count]))
    except LayerError:
        raise ContainerError("header is corrupt (layer factors)") from None
    table = fixed_end + layer_count
    rows = [_CHUNK_V3.unpack_from(data, table + _CHUNK_V3.size * i) for i in range(chunk_count)]
    layers = tuple(r[0] for r in rows)
    chunks = tuple((r[1], r[2]) for r in rows)
    if (
        not 1 <= chunk_count <= channels * len(factors)
        or any(k < 1 or n % 4 for k, n in chunks)
        or not _check_layered_chunks(channels, factors, layers, tuple(k for k, _ in chunks))
    ):
        raise ContainerError("header is corrupt (chunk table)")
    header = HeaderV2(model_id, digest, width, height, channels, lat_h, lat_w, step_index, block, chunks, 3, factors, layers)
    return header, end + _CRC.size


def parse_header_v2(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[HeaderV2, int]:
    """Header of a version 2 or 3 stream and its length; checks magic, CRC, sizes and chunk table."""
    if len(data) < 7:
        raise ContainerError("file is truncated (incomplete header)")
    if data[:4] != MAGIC:
        raise ContainerError("not an rdcodec file (wrong magic bytes)")
    version, id_len = data[4], data[6]
    if version == 3:
        return _parse_header_v3(data, max_pixels)
    if version != 2:
        raise ContainerError(f"not a format version 2 or 3 file (version {version})")
    end, model_id, digest, fields = _checked_fields(data, _FIXED_V2, lambda fields: _CHUNK.size * fields[-1], max_pixels)
    width, height, channels, lat_h, lat_w, step_index, block, chunk_count = fields
    fixed_end = 7 + id_len + DIGEST_BYTES + _FIXED_V2.size
    if block > MAX_BLOCK:
        raise ContainerError("header is corrupt (block side)")
    chunks = tuple(_CHUNK.unpack_from(data, fixed_end + _CHUNK.size * i) for i in range(chunk_count))
    if not 1 <= chunk_count <= channels or sum(k for k, _ in chunks) != channels or any(k < 1 or n % 4 for k, n in chunks):
        raise ContainerError("header is corrupt (chunk table)")
    header = HeaderV2(model_id, digest, width, height, channels, lat_h, lat_w, step_index, block, chunks)
    return header, end + _CRC.size


def unpack_v2(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS, partial: bool = False) -> ContainerV2:
    """Parse and verify a version 2 or 3 stream.

    Every chunk that is present must pass its CRC (damage is refused, never decoded). A stream
    shorter than its header declares is refused as truncated, unless ``partial``: then the
    whole chunks it holds are returned (at least the header must be there).
    """
    header, pos = parse_header_v2(data, max_pixels)
    chunks = []
    for number, (_, n) in enumerate(header.chunks):
        stop = pos + n
        if len(data) < stop + _CRC.size:
            if partial:
                break
            raise ContainerError(f"file is truncated ({len(data)} of {header.size} bytes)")
        payload = bytes(data[pos:stop])
        (stored_crc,) = _CRC.unpack_from(data, stop)
        if zlib.crc32(payload) != stored_crc:
            raise ContainerError(f"payload is corrupt (CRC mismatch in chunk {number})")
        chunks.append(payload)
        pos = stop + _CRC.size
    if len(chunks) == len(header.chunks) and len(data) > pos:
        raise ContainerError(f"file has {len(data) - pos} unexpected trailing bytes")
    return ContainerV2(header, tuple(chunks), pos)


def unpack_any(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS, partial: bool = False) -> "Container | ContainerV2":
    """:func:`unpack` or :func:`unpack_v2`, by the version byte (``partial``: versions 2 and 3 only)."""
    if len(data) > 4 and data[:4] == MAGIC and data[4] in CHUNKED_VERSIONS:
        return unpack_v2(data, max_pixels, partial)
    return unpack(data, max_pixels)
