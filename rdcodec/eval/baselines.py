"""Classical codecs through Pillow, for rate–distortion comparisons.

Each baseline encodes an RGB uint8 array at an integer quality into real file bytes and
decodes them back; the bytes' length is the rate. Settings are the ones a user of the codec's
usual tool would get (4:2:0 chroma for JPEG as Pillow's default, WebP's default method 4,
AVIF's default speed 6), with the quality as the only knob.

AVIF's encoder speed is the one other setting people choose: ``avif-speedN`` (N = 0 … 10,
slower is smaller) is AVIF at speed N, a baseline of its own with its own curve name, so both
can be measured side by side (``rdcodec rd-curve --baselines avif,avif-speed4``).
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


_AVIF_SPEED = "avif-speed"
KNOWN = "jpeg, webp, avif, avif-speedN (N = 0…10)"


class BaselineResult(NamedTuple):
    data: bytes
    pixels: np.ndarray


def _codec(name: str) -> tuple[str, dict]:
    """(codec, extra Pillow save options) of a baseline name; ValueError for an unknown one."""
    if name in _FORMATS:
        return name, {}
    if name.startswith(_AVIF_SPEED):
        speed = name[len(_AVIF_SPEED) :]
        if speed.isascii() and speed.isdigit() and 0 <= int(speed) <= 10 and str(int(speed)) == speed:
            return "avif", {"speed": int(speed)}
    raise ValueError(f"unknown baseline {name!r} (known: {KNOWN})")


def is_known(name: str) -> bool:
    try:
        _codec(name)
    except ValueError:
        return False
    return True


def default_qualities(name: str) -> tuple[int, ...]:
    """The quality sweep of a baseline (a variant sweeps as its codec does)."""
    return DEFAULT_QUALITIES[_codec(name)[0]]


def available(name: str) -> bool:
    try:
        codec = _codec(name)[0]
    except ValueError:
        return False
    return bool(features.check(_FORMATS[codec][1] if codec != "jpeg" else "jpg"))


def encode_decode(name: str, pixels: np.ndarray, quality: int) -> BaselineResult:
    """Encode with Pillow's ``name`` codec at ``quality``, then decode to RGB uint8."""
    codec, options = _codec(name)
    fmt = _FORMATS[codec][0]
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format=fmt, quality=int(quality), **options)
    data = buf.getvalue()
    with Image.open(io.BytesIO(data)) as im:
        decoded = np.array(im.convert("RGB"), dtype=np.uint8)
    return BaselineResult(data, decoded)
