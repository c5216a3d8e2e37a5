#!/usr/bin/env python
"""Write the golden files of a container format version (run once per new format version).

    python tools/make_golden.py tests/golden/v1

Creates a tiny seeded model (its own registry), a source image, the ``.rdc`` stream, the
decoded PNG and the latent symbols. tests/test_golden.py then checks forever that the stream
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


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
