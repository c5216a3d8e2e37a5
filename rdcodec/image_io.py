"""Reading and writing images with Pillow, as H×W×3 uint8 RGB arrays.

What is converted, and how (each conversion adds one note for the user):

* grayscale (L, 1, I;16 …) → RGB by repeating the channel;
* palette (P) → RGB through the palette (a transparent palette entry is treated like alpha);
* alpha (RGBA, LA, PA) → **alpha is dropped**: the colour channels are kept as stored,
  not composited onto a background, and the decoded image is opaque RGB;
* CMYK / YCbCr / LAB → RGB with Pillow's conversion;
* 16-bit and 32-bit integer or float inputs → 8 bits (16-bit values are divided by 257,
  rounded — 16-bit colour PNGs, which Pillow would truncate, are decoded at full depth with
  pypng; 32-bit modes are clipped to 0…255 as Pillow converts them).

Only the first frame of animated or multi-page files is read, with a note.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import NamedTuple

import numpy as np
from PIL import Image, UnidentifiedImageError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".ppm", ".pgm", ".gif")


class ImageReadError(ValueError):
    """The input is not an image Pillow can decode."""


class LoadedImage(NamedTuple):
    pixels: np.ndarray  # H×W×3 uint8
    notes: tuple[str, ...]  # one line per conversion that was applied


def list_images(folder: Path) -> list[Path]:
    """Image files directly or recursively under ``folder``, sorted by path."""
    return sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def _to_rgb(im: Image.Image) -> LoadedImage:
    notes: list[str] = []
    mode = im.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N"):
        arr = np.asarray(im, dtype=np.uint16).astype(np.float64)
        arr = np.clip(np.round(arr / 257.0), 0, 255).astype(np.uint8)
        notes.append("16-bit input reduced to 8 bits")
        notes.append("grayscale input converted to RGB")
        return LoadedImage(np.repeat(arr[:, :, None], 3, axis=2), tuple(notes))
    if mode in ("I", "F"):
        notes.append(f"32-bit ({mode}) input clipped to 8 bits")
        arr = np.clip(np.asarray(im, dtype=np.float64), 0, 255).round().astype(np.uint8)
        notes.append("grayscale input converted to RGB")
        return LoadedImage(np.repeat(arr[:, :, None], 3, axis=2), tuple(notes))
    if mode == "P":
        has_alpha = "transparency" in im.info
        im = im.convert("RGBA" if has_alpha else "RGB")
        notes.append("palette input converted to RGB")
        mode = im.mode
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        notes.append("alpha channel dropped (colour kept as stored, not composited)")
        im = im.convert("RGB") if mode != "LA" else im.convert("L")
        mode = im.mode
    if mode in ("L", "1"):
        notes.append("grayscale input converted to RGB")
        im = im.convert("RGB")
    elif mode != "RGB":
        notes.append(f"{mode} input converted to RGB")
        im = im.convert("RGB")
    return LoadedImage(np.asarray(im, dtype=np.uint8).copy(), tuple(notes))


def _is_png16_colour(handle) -> bool:
    """A 16-bit RGB or RGBA PNG (IHDR bit depth 16, colour type 2 or 6), which Pillow truncates to 8 bits."""
    handle.seek(24)
    depth, colour = handle.read(2)[:2] or (0, 0)
    return depth == 16 and colour in (2, 6)


def _read_png16(handle) -> LoadedImage:
    """A 16-bit colour PNG decoded with pypng at full depth, then ÷ 257 rounded to 8 bits."""
    import png

    handle.seek(0)
    width, height, rows, info = png.Reader(file=handle).asDirect()
    arr = np.vstack([np.asarray(row, dtype=np.uint16) for row in rows]).reshape(height, width, info["planes"])
    notes = ["16-bit input reduced to 8 bits"]
    if info["planes"] == 4:
        notes.append("alpha channel dropped (colour kept as stored, not composited)")
    rgb = np.clip(np.round(arr[:, :, :3].astype(np.float64) / 257.0), 0, 255).astype(np.uint8)
    return LoadedImage(np.ascontiguousarray(rgb), tuple(notes))


def read_image(source: str | Path | bytes, max_pixels: int | None = None, name: str | None = None) -> LoadedImage:
    """Decode an image file (path or bytes) to RGB uint8, noting conversions.

    ``max_pixels`` refuses larger images from their header, before pixels are decoded;
    ``name`` is what error messages call the input (default: the path, or "input" for bytes).
    """
    name = name or ("input" if isinstance(source, (bytes, bytearray)) else str(source))
    try:
        handle = io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else open(source, "rb")
    except OSError as exc:
        raise ImageReadError(f"cannot open {name}: {exc.strerror or exc}") from None
    with handle:
        try:
            with Image.open(handle) as im:
                w, h = im.size
                if max_pixels is not None and w * h > max_pixels:
                    raise ImageReadError(f"{name}: image is {w}×{h} = {w * h} pixels, over the limit of {max_pixels}")
                frames = getattr(im, "n_frames", 1)
                im.seek(0)
                im.load()
                loaded = _read_png16(handle) if im.format == "PNG" and _is_png16_colour(handle) else _to_rgb(im)
                if frames > 1:
                    loaded = loaded._replace(notes=loaded.notes + (f"only the first of {frames} frames is coded",))
                return loaded
        except ImageReadError:
            raise
        except UnidentifiedImageError:
            raise ImageReadError(f"{name} is not a readable image (not a format Pillow recognises)") from None
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
            raise ImageReadError(f"{name} is not a readable image ({exc})") from None


def read_rgb_array(path: str | Path) -> np.ndarray:
    """H×W×3 uint8 pixels of an image file, conversions applied silently."""
    return read_image(path).pixels


def encode_png(pixels: np.ndarray) -> bytes:
    """PNG bytes of an H×W×3 uint8 array."""
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    return buf.getvalue()
