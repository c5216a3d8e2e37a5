"""Classical codecs through Pillow, for rate–distortion comparisons.

Each baseline encodes an RGB uint8 array at an integer quality into real file bytes and
decodes them back; the bytes' length is the rate. Settings are the ones a user of the codec's
usual tool would get (4:2:0 chroma for JPEG as Pillow's default, WebP's default method 4,
AVIF's default speed), with the quality as the only knob.
"""

from __future__ import annotations

import io
from typing import NamedTuple

import numpy as np
from PIL import Image, features

#: Default quality sweeps (Pillow's 0…100 scales).
DEFAULT_QUALITIES = {
    "jpeg": (5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95),
    "webp": (5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95),
    "avif": (10, 20, 30, 40, 50, 60, 70, 80, 90),
}
_FORMATS = {"jpeg": ("JPEG", "jpg"), "webp": ("WEBP", "webp"), "avif": ("AVIF", "avif")}


class BaselineResult(NamedTuple):
    data: bytes
    pixels: np.ndarray


def available(name: str) -> bool:
    return name in _FORMATS and bool(features.check(_FORMATS[name][1] if name != "jpeg" else "jpg"))


def encode_decode(name: str, pixels: np.ndarray, quality: int) -> BaselineResult:
    """Encode with Pillow's ``name`` codec at ``quality``, then decode to RGB uint8."""
    if name not in _FORMATS:
        raise ValueError(f"unknown baseline {name!r} (known: {', '.join(_FORMATS)})")
    fmt = _FORMATS[name][0]
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format=fmt, quality=int(quality))
    data = buf.getvalue()
    with Image.open(io.BytesIO(data)) as im:
        decoded = np.array(im.convert("RGB"), dtype=np.uint8)
    return BaselineResult(data, decoded)
