"""rdcodec.format.container: the .rdc byte layout, format version 1."""

from __future__ import annotations

import struct
import zlib

import pytest

from rdcodec.format.container import (
    DEFAULT_MAX_PIXELS,
    FORMAT_VERSION,
    MAGIC,
    ContainerError,
    Header,
    header_size,
    pack,
    parse_header,
    unpack,
)


def _header(**kw):
    fields = dict(
        model_id="m1",
        model_digest=bytes(range(16)),
        width=17,
        height=23,
        latent_channels=8,
        latent_height=2,
        latent_width=2,
        payload_length=8,
    )
    fields.update(kw)
    return Header(**fields)


def _stream(**kw):
    return pack(_header(**kw), b"\x01\x02\x03\x04\x05\x06\x07\x08")


def test_round_trip_and_layout():
    data = _stream()
    assert data[:4] == MAGIC == b"\x89RDC"
    assert data[4] == 1 and FORMAT_VERSION == 3
    assert len(data) == header_size("m1") + 8 + 4
    parsed = unpack(data)
    assert parsed.header == _header()
    assert parsed.payload == b"\x01\x02\x03\x04\x05\x06\x07\x08"
    assert parsed.bits_per_pixel == len(data) * 8 / (17 * 23)
    # Explicit little-endian fields at their documented offsets (L = 2).
    assert struct.unpack_from("<I", data, 23 + 2)[0] == 17
    assert struct.unpack_from("<I", data, 27 + 2)[0] == 23
    assert struct.unpack_from("<I", data, 41 + 2)[0] == 8
    assert struct.unpack_from("<I", data, 45 + 2)[0] == zlib.crc32(data[: 45 + 2])


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: b"PNG\x00" + d[4:], "not an rdcodec file"),
        (lambda d: d[:3], "truncated"),
        (lambda d: b"ab", "not an rdcodec file"),
        (lambda d: b"", "not an rdcodec file"),
        (lambda d: d[:20], "truncated"),
        (lambda d: d[:-5], "truncated"),
        (lambda d: d + b"\x00", "trailing"),
        (lambda d: d[:4] + bytes([4]) + d[5:], "newer than this rdcodec supports"),
        (lambda d: d[:10] + bytes([d[10] ^ 0xFF]) + d[11:], "header is corrupt"),
        (lambda d: d[:-6] + bytes([d[-6] ^ 0x01]) + d[-5:], "payload is corrupt"),
    ],
)
def test_bad_streams_are_refused_with_a_reason(mutate, message):
    with pytest.raises(ContainerError, match=message):
        unpack(mutate(_stream()))


def test_declared_size_over_limit_is_refused_before_allocation():
    data = pack(_header(width=1 << 15, height=1 << 14, latent_height=1 << 10, latent_width=1 << 11), b"\x00" * 8)
    assert (1 << 15) * (1 << 14) > DEFAULT_MAX_PIXELS
    with pytest.raises(ContainerError, match="over the limit"):
        parse_header(data)
    with pytest.raises(ContainerError, match="over the limit"):
        unpack(data, max_pixels=1000)


def test_inconsistent_latent_shape_is_refused():
    with pytest.raises(ContainerError, match="latent shape"):
        unpack(_stream(latent_height=5))
