"""Crafted streams with valid CRCs are refused with one error type, never decoded silently wrong.

Regression cases of issue 16: a valid header with a random, truncated, empty or padded payload
(CRCs recomputed so the container accepts it) must raise :class:`rdcodec.format.errors.CodecError`
— not an ``AssertionError`` from the range coder, and not an image.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from rdcodec import codec
from rdcodec.format.container import ContainerError, pack, unpack
from rdcodec.format.errors import CodecError
from rdcodec.format.range_coding import EntropyDecodeError
from rdcodec.zoo.registry import Registry

GOLDEN = Path(__file__).resolve().parent / "golden" / "v1"


@pytest.fixture(scope="module")
def golden():
    model = codec.load_model(registry=Registry(GOLDEN / "models"))
    data = (GOLDEN / "image.rdc").read_bytes()
    return model, unpack(data)


def _repacked(parsed, payload: bytes) -> bytes:
    """The golden header with the crafted payload's length, and fresh CRCs over both."""
    return pack(dataclasses.replace(parsed.header, payload_length=len(payload)), payload)


def test_every_error_type_is_a_codec_error():
    assert issubclass(ContainerError, CodecError) and issubclass(EntropyDecodeError, CodecError)
    assert codec.CodecError is CodecError


@pytest.mark.parametrize("kind", ["empty", "truncated-half", "truncated-one-word", "padded", "random"])
def test_crafted_payload_with_valid_crcs_is_refused(golden, kind):
    model, parsed = golden
    payload = parsed.payload
    rng = np.random.default_rng(0)
    crafted = {
        "empty": b"",
        "truncated-half": payload[: len(payload) // 8 * 4],
        "truncated-one-word": payload[:-4],
        "padded": payload + b"\x00\x00\x00\x00",
        "random": rng.integers(0, 256, len(payload), dtype=np.uint8).tobytes(),
    }[kind]
    with pytest.raises(CodecError, match="damaged"):
        codec.decode_stream(_repacked(parsed, crafted), model)


def test_random_payloads_never_escape_as_another_error(golden):
    """The assertion inside constriction's decoder surfaced on ~40% of such files before."""
    model, parsed = golden
    rng = np.random.default_rng(1)
    for trial in range(60):
        n = int(rng.integers(0, len(parsed.payload) // 2 + 2)) * 4
        crafted = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
        with pytest.raises(CodecError):
            codec.decode_stream(_repacked(parsed, crafted), model)


def test_the_genuine_payload_still_decodes(golden):
    model, parsed = golden
    decoded = codec.decode_stream(_repacked(parsed, parsed.payload), model)
    assert decoded.pixels.shape == (parsed.header.height, parsed.header.width, 3)


def test_a_huge_declared_size_with_an_empty_payload_is_refused_before_allocating(golden):
    """The 71-byte bomb: a header declaring 16384 × 16384 pixels and no payload."""
    import tracemalloc

    model, parsed = golden
    header = dataclasses.replace(
        parsed.header, width=16384, height=16384, latent_height=1024, latent_width=1024, payload_length=0
    )
    data = pack(header, b"")
    tracemalloc.start()
    with pytest.raises(CodecError, match="cannot hold"):
        codec.decode_stream(data, model)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 50 * 2**20  # refused without allocating the latent (it would be over 1 GB)


def test_minimum_bits_bounds_every_real_stream(golden):
    from rdcodec.format.range_coding import minimum_bits

    model, parsed = golden
    n = parsed.header.latent_height * parsed.header.latent_width
    assert minimum_bits(model.tables, n) <= 8 * len(parsed.payload)
