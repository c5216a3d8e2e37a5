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
    """The 71-byte bomb: a header declaring 16384 × 16384 pixels and no payload, read with the
    pixel limit raised to allow that size (the default limit refuses it from the header alone)."""
    import tracemalloc

    model, parsed = golden
    header = dataclasses.replace(
        parsed.header, width=16384, height=16384, latent_height=1024, latent_width=1024, payload_length=0
    )
    data = pack(header, b"")
    with pytest.raises(CodecError, match="over the limit"):
        codec.decode_stream(data, model)
    tracemalloc.start()
    with pytest.raises(CodecError, match="cannot hold"):
        codec.decode_stream(data, model, max_pixels=1 << 28)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 50 * 2**20  # refused without allocating the latent (it would be over 1 GB)


def test_minimum_bits_bounds_every_real_stream(golden):
    from rdcodec.format.range_coding import minimum_bits

    model, parsed = golden
    n = parsed.header.latent_height * parsed.header.latent_width
    assert minimum_bits(model.tables, n) <= 8 * len(parsed.payload)


def test_the_cli_refuses_the_bomb_without_importing_torch(tmp_path, tiny_registry):
    """`rdcodec decode` checks the bytes (header, CRCs, model, entropy bound) before it loads
    torch: a crafted 8192 × 8192 header with no payload is refused by a process that never
    imports torch or compressai."""
    import os
    import subprocess
    import sys

    from conftest import synthetic_image

    from rdcodec.format.container import latent_size

    model = codec.load_model(registry=tiny_registry)
    header = unpack(codec.encode(synthetic_image(40, 40), model)).header
    lat = latent_size(8192, 8192)
    bomb = tmp_path / "bomb.rdc"
    bomb.write_bytes(
        pack(
            dataclasses.replace(header, width=8192, height=8192, latent_height=lat[0], latent_width=lat[1], payload_length=0), b""
        )
    )
    code = (
        "import sys\nfrom rdcodec.cli import main\n"
        "try:\n    main(['decode', sys.argv[1], '-o', sys.argv[2]], prog_name='rdcodec')\n"
        "except SystemExit as e:\n    print(e.code, 'torch' in sys.modules, 'compressai' in sys.modules)\n"
    )
    env = dict(os.environ, RDCODEC_MODELS_DIR=str(tiny_registry.directory))
    out = subprocess.run(
        [sys.executable, "-c", code, str(bomb), str(tmp_path / "o.png")], capture_output=True, text=True, env=env
    )
    assert out.stdout.split() == ["2", "False", "False"], out.stderr
    assert out.stderr.startswith("rdcodec: error: payload is damaged") and out.stderr.count("\n") == 1
    assert not (tmp_path / "o.png").exists()


@pytest.mark.parametrize("kind", ["empty", "crc-damaged"])
def test_the_cli_refuses_a_damaged_file_before_importing_numpy(tmp_path, tiny_registry, kind):
    """Header, sizes and CRCs need only struct and zlib: an empty file and a file with a flipped
    payload byte are refused (one error line, exit 2, no output) by a process that never
    imports numpy, Pillow, onnxruntime or torch, which is what keeps the refusal fast."""
    import os
    import subprocess
    import sys

    from conftest import synthetic_image

    model = codec.load_model(registry=tiny_registry)
    data = bytearray(codec.encode(synthetic_image(40, 40), model))
    if kind == "empty":
        data = bytearray()
    else:
        data[-3] ^= 0x40
    bad = tmp_path / "bad.rdc"
    bad.write_bytes(bytes(data))
    code = (
        "import sys\nfrom rdcodec.cli import main\n"
        "try:\n    main(['decode', sys.argv[1], '-o', sys.argv[2]], prog_name='rdcodec')\n"
        "except SystemExit as e:\n"
        "    print(e.code, *(m in sys.modules for m in ('numpy', 'PIL', 'onnxruntime', 'torch')))\n"
    )
    env = dict(os.environ, RDCODEC_MODELS_DIR=str(tiny_registry.directory))
    out = subprocess.run([sys.executable, "-c", code, str(bad), str(tmp_path / "o.png")], capture_output=True, text=True, env=env)
    assert out.stdout.split() == ["2", "False", "False", "False", "False"], out.stderr
    assert out.stderr.startswith("rdcodec: error: ") and out.stderr.count("\n") == 1
    assert not (tmp_path / "o.png").exists()
