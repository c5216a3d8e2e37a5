"""The ``.rdc`` container, format version 1 (stdlib only; byte layout in docs/format.md).

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
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from rdcodec.format.errors import CodecError

MAGIC = b"\x89RDC"
FORMAT_VERSION = 1
#: Stride of the network: the latent grid is ceil(size / LATENT_STRIDE).
LATENT_STRIDE = 16
#: Default largest image (in pixels) the codec accepts, checked before anything is allocated
#: (8192 × 8192). Memory is bounded by the tiles plus a few bytes per pixel (docs/bench/README.md);
#: ``--max-pixels`` raises it.
DEFAULT_MAX_PIXELS = 1 << 26
DIGEST_BYTES = 16
MAX_MODEL_ID = 64

_FIXED = struct.Struct("<IIHIII")  # width, height, channels, latent h, latent w, payload length
_CRC = struct.Struct("<I")


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
    format_version: int = FORMAT_VERSION

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


def pack(header: Header, payload: bytes) -> bytes:
    model_id = header.model_id.encode("ascii")
    if not 1 <= len(model_id) <= MAX_MODEL_ID:
        raise ValueError(f"model id must be 1…{MAX_MODEL_ID} ASCII bytes")
    if len(header.model_digest) != DIGEST_BYTES:
        raise ValueError(f"model digest must be {DIGEST_BYTES} bytes")
    if len(payload) != header.payload_length or len(payload) % 4:
        raise ValueError("payload length does not match the header or is not a multiple of 4")
    head = (
        MAGIC
        + bytes([FORMAT_VERSION, 0, len(model_id)])
        + model_id
        + header.model_digest
        + _FIXED.pack(
            header.width,
            header.height,
            header.latent_channels,
            header.latent_height,
            header.latent_width,
            header.payload_length,
        )
    )
    head += _CRC.pack(zlib.crc32(head))
    return head + payload + _CRC.pack(zlib.crc32(payload))


def parse_header(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[Header, int]:
    """Header and its length in bytes; checks magic, version, CRC and sizes, not the payload."""
    if len(data) < 7:
        if MAGIC.startswith(bytes(data[:4])) and data:
            raise ContainerError("file is truncated (incomplete header)")
        raise ContainerError("not an rdcodec file (too short)")
    if data[:4] != MAGIC:
        raise ContainerError("not an rdcodec file (wrong magic bytes)")
    version, flags, id_len = data[4], data[5], data[6]
    if version > FORMAT_VERSION:
        raise ContainerError(
            f"file uses format version {version}, newer than this rdcodec supports ({FORMAT_VERSION}); upgrade rdcodec"
        )
    if version < 1:
        raise ContainerError(f"unknown format version {version}")
    end = 7 + id_len + DIGEST_BYTES + _FIXED.size
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
    width, height, channels, lat_h, lat_w, payload_length = _FIXED.unpack_from(data, 7 + id_len + DIGEST_BYTES)
    if width < 1 or height < 1:
        raise ContainerError("header declares an empty image")
    if width * height > max_pixels:
        raise ContainerError(f"header declares {width}×{height} = {width * height} pixels, over the limit of {max_pixels}")
    if (lat_h, lat_w) != latent_size(height, width) or channels < 1:
        raise ContainerError("header is corrupt (latent shape does not match the image size)")
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
