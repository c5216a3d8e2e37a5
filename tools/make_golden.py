#!/usr/bin/env python
"""Write the golden files of a container format version (run once per new format version).

    python tools/make_golden.py tests/golden/v1
    python tools/make_golden.py tests/golden/v2
    python tools/make_golden.py tests/golden/v3

Creates a tiny seeded model (its own registry), a source image, the ``.rdc`` stream, the
decoded PNG and the latent symbols. For version 2 (the folder's name says which) the model
also gets its grid entry, the stream has several chunks and block offsets, and
``partial.png``/``partial.json`` hold the image decoded from the first chunk alone. For
version 3 the stream has three layers (9, 3, 1), several chunks per refinement layer and block
offsets, and the partial image is that of layer 0 and the first chunk of layer 1.
tests/test_golden.py then checks forever that the stream
still decodes to exactly those symbols and pixels. Refuses to overwrite an existing folder.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))


def main(target: str) -> int:
    out = Path(target)
    if out.exists():
        print(f"{out} exists; golden files are never regenerated", file=sys.stderr)
        return 2
    from conftest import export_tiny, synthetic_image

    from rdcodec import codec
    from rdcodec.format import container
    from rdcodec.image_io import encode_png

    if out.name == "v2":
        return _version_2(out)
    if out.name == "v3":
        return _version_3(out)
    registry = export_tiny(out / "models", model_id="golden-v1")
    model = codec.load_model(registry=registry)
    pixels = synthetic_image(24, 40, seed=11)
    Image.fromarray(pixels).save(out / "source.png")
    data = codec.encode(pixels, model)
    (out / "image.rdc").write_bytes(data)
    symbols = codec.latent_symbols(model, pixels)
    np.save(out / "symbols.npy", symbols)
    (out / "decoded.png").write_bytes(encode_png(codec.decode(data, model)))
    print(f"wrote {out}: {len(data)} bytes, format {container.FORMAT_VERSION}", file=sys.stderr)
    return 0


def _version_2(out: Path) -> int:
    import json

    from conftest import export_tiny, synthetic_image

    from rdcodec import codec
    from rdcodec.codec_v2 import decode_stream_v2, encode_image_v2
    from rdcodec.format import container
    from rdcodec.image_io import encode_png

    registry = export_tiny(out / "models", model_id="golden-v2", grid=True, M=16)
    model = codec.load_model(registry=registry)
    pixels = synthetic_image(72, 104, seed=12)
    Image.fromarray(pixels).save(out / "source.png")
    result = encode_image_v2(pixels, model, registry, chunks=(2, 4, 4), block=2)
    data = result.data
    (out / "image.rdc").write_bytes(data)
    np.save(out / "symbols.npy", result.symbols)
    (out / "decoded.png").write_bytes(encode_png(decode_stream_v2(data, registry=registry).pixels))
    header = container.unpack_v2(data).header
    first = container.header_size_v2(header.model_id, len(header.chunks)) + header.chunks[0][1] + 4
    (out / "partial.png").write_bytes(encode_png(decode_stream_v2(data[:first], registry=registry, partial=True).pixels))
    (out / "partial.json").write_text(json.dumps({"bytes": first, "chunks": 1, "channels": header.chunks[0][0]}) + "\n")
    print(f"wrote {out}: {len(data)} bytes, format 2, chunks {header.chunks}", file=sys.stderr)
    return 0


def _version_3(out: Path) -> int:
    import json

    from conftest import export_tiny, synthetic_image

    from rdcodec import codec
    from rdcodec.codec_v2 import decode_stream_v2, encode_image_v2
    from rdcodec.format import container
    from rdcodec.image_io import encode_png

    registry = export_tiny(out / "models", model_id="golden-v3", grid=True, M=16)
    model = codec.load_model(registry=registry)
    pixels = synthetic_image(72, 104, seed=13)
    Image.fromarray(pixels).save(out / "source.png")
    result = encode_image_v2(pixels, model, registry, chunks=(4, 4), block=2, factors=(9, 3, 1))
    data = result.data
    (out / "image.rdc").write_bytes(data)
    np.save(out / "symbols.npy", result.symbols)
    (out / "decoded.png").write_bytes(encode_png(decode_stream_v2(data, registry=registry).pixels))
    header = container.unpack_v2(data).header
    head = container.header_size_v3(header.model_id, len(header.chunks), len(header.factors))
    first = head + sum(n + 4 for _, n in header.chunks[:2])
    partial = decode_stream_v2(data[:first], registry=registry, partial=True)
    (out / "partial.png").write_bytes(encode_png(partial.pixels))
    record = {"bytes": first, "chunks": 2, "layers": partial.layers_decoded, "channels": partial.channels_decoded}
    (out / "partial.json").write_text(json.dumps(record) + "\n")
    print(f"wrote {out}: {len(data)} bytes, format 3, layers {header.factors}, chunks {header.chunks}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
