"""Input conversions: every Pillow mode becomes H×W×3 uint8 with a note."""

from __future__ import annotations

import io

import numpy as np
import pytest
from conftest import synthetic_image
from PIL import Image

from rdcodec.image_io import ImageReadError, read_image


def _bytes(im: Image.Image, fmt: str = "PNG", **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **kw)
    return buf.getvalue()


def test_rgb_passes_through_without_notes():
    px = synthetic_image(9, 7)
    loaded = read_image(_bytes(Image.fromarray(px)))
    np.testing.assert_array_equal(loaded.pixels, px)
    assert loaded.notes == ()


def test_grayscale_is_repeated():
    gray = np.arange(30, dtype=np.uint8).reshape(5, 6)
    loaded = read_image(_bytes(Image.fromarray(gray, "L")))
    assert loaded.pixels.shape == (5, 6, 3)
    np.testing.assert_array_equal(loaded.pixels[:, :, 1], gray)
    assert any("grayscale" in n for n in loaded.notes)


def test_palette_and_rgba():
    px = synthetic_image(8, 8)
    pal = Image.fromarray(px).convert("P")
    loaded = read_image(_bytes(pal))
    assert loaded.pixels.shape == (8, 8, 3) and any("palette" in n for n in loaded.notes)
    rgba = Image.fromarray(np.dstack([px, np.zeros((8, 8), np.uint8)]), "RGBA")
    loaded = read_image(_bytes(rgba))
    np.testing.assert_array_equal(loaded.pixels, px)  # colour kept as stored, alpha dropped
    assert any("alpha" in n for n in loaded.notes)


def test_sixteen_bit_is_reduced():
    arr = (np.arange(12, dtype=np.uint16).reshape(3, 4) * 5000).astype(np.uint16)
    loaded = read_image(_bytes(Image.frombytes("I;16", (4, 3), arr.astype("<u2").tobytes())))
    assert loaded.pixels.dtype == np.uint8
    np.testing.assert_array_equal(loaded.pixels[:, :, 0], np.round(arr / 257).astype(np.uint8))
    assert any("16-bit" in n for n in loaded.notes)


@pytest.mark.parametrize("fmt", ["JPEG", "WEBP", "TIFF", "BMP"])
def test_other_formats(fmt):
    px = synthetic_image(16, 24)
    loaded = read_image(_bytes(Image.fromarray(px), fmt))
    assert loaded.pixels.shape == (16, 24, 3)


def test_limit_checked_from_header():
    with pytest.raises(ImageReadError, match="over the limit"):
        read_image(_bytes(Image.fromarray(synthetic_image(30, 30))), max_pixels=899)


def test_garbage_is_refused():
    with pytest.raises(ImageReadError, match="not a readable image"):
        read_image(b"nope")


def _png16(arr: np.ndarray, colour_type: int = 2) -> bytes:
    """A 16-bit RGB (2) or RGBA (6) PNG written by hand (Pillow cannot write one)."""
    import struct
    import zlib

    h, w, _ = arr.shape
    raw = b"".join(b"\x00" + arr[y].astype(">u2").tobytes() for y in range(h))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", w, h, 16, colour_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def test_16_bit_rgb_png_is_divided_by_257_and_rounded_with_a_note():
    values = np.array([[[65535, 32896, 383], [128, 255, 256]]], dtype=np.uint16)
    loaded = read_image(_png16(values))
    expected = np.round(values / 257.0).astype(np.uint8)  # Pillow alone gives values >> 8 (255 → 0)
    np.testing.assert_array_equal(loaded.pixels, expected)
    assert "16-bit input reduced to 8 bits" in loaded.notes


def test_16_bit_rgba_png_drops_alpha_with_both_notes():
    values = np.zeros((2, 3, 4), dtype=np.uint16)
    values[..., 0], values[..., 3] = 514, 1000
    loaded = read_image(_png16(values, colour_type=6))
    assert loaded.pixels.shape == (2, 3, 3) and (loaded.pixels[..., 0] == 2).all()
    assert len(loaded.notes) == 2 and any("alpha" in n for n in loaded.notes)


def test_animated_image_keeps_its_first_frame_with_a_note():
    frames = [Image.fromarray(np.full((8, 8, 3), v, dtype=np.uint8)) for v in (10, 200)]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:])
    loaded = read_image(buf.getvalue())
    assert any("first of 2 frames" in n for n in loaded.notes)
    assert abs(int(loaded.pixels.mean()) - 10) <= 2
