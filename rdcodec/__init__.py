"""rdcodec: a learned image codec built on RaDOGAGA (rate-distortion optimization guided autoencoder).

Public API (torch is imported on first use, not by ``import rdcodec``)::

    model = rdcodec.load_model()            # shipped default model
    data = rdcodec.encode("img.png", model)  # .rdc bytes
    pixels = rdcodec.decode(data)            # H×W×3 uint8

Typed variants: :func:`rdcodec.codec.encode_image` → ``EncodeResult``,
:func:`rdcodec.codec.decode_stream` → ``DecodeResult``.
"""

__version__ = "0.1.0"

_LAZY = {
    "load_model": "rdcodec.codec",
    "encode": "rdcodec.codec",
    "decode": "rdcodec.codec",
    "encode_image": "rdcodec.codec",
    "decode_stream": "rdcodec.codec",
    "EncodeResult": "rdcodec.codec",
    "DecodeResult": "rdcodec.codec",
    "Model": "rdcodec.codec",
    "Registry": "rdcodec.zoo.registry",
}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'rdcodec' has no attribute {name!r}")


__all__ = sorted(_LAZY) + ["__version__"]
