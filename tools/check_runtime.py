#!/usr/bin/env python
"""ONNX Runtime against torch for every shipped model: same symbols, same pixels, same figures.

    python tools/check_runtime.py ../shared/data/kodak [-o docs/bench/runtime-check.json] [--models ID,...]

For each model and image: the encoder's symbols under each runtime (the fraction that
differ), each stream decoded by both runtimes (max and mean absolute pixel difference, and
that every stream decodes with either), and per runtime the mean real bpp, PSNR and SSIM of
its own streams, which must agree to the third decimal.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("folder", type=Path)
    p.add_argument("-o", "--output", type=Path, default=ROOT / "docs" / "bench" / "runtime-check.json")
    p.add_argument("--models", default=None, help="comma-separated model ids (default: all installed)")
    p.add_argument("--threads", type=int, default=None)
    args = p.parse_args(argv)

    import numpy as np

    from rdcodec import codec
    from rdcodec.eval.quality import measure
    from rdcodec.image_io import list_images, read_image
    from rdcodec.zoo.registry import Registry

    registry = Registry()
    ids = args.models.split(",") if args.models else [e.id for e in registry.entries()]
    images = [(path.name, read_image(path).pixels) for path in list_images(args.folder)]
    record = {"folder": str(args.folder), "images": len(images), "started": time.strftime("%Y-%m-%dT%H:%M:%S"), "models": {}}
    for model_id in ids:
        runtimes = {name: codec.load_model(model_id, registry, runtime=name, threads=args.threads) for name in ("torch", "onnx")}
        differing = total = 0
        pixel_max, pixel_means, figures = 0, [], {name: {"bpp": [], "psnr": [], "ssim": []} for name in runtimes}
        for _, pixels in images:
            streams = {name: codec.encode_image(pixels, m) for name, m in runtimes.items()}
            differing += int((streams["torch"].symbols != streams["onnx"].symbols).sum())
            total += streams["torch"].symbols.size
            for name, result in streams.items():
                decoded = {other: codec.decode_stream(result.data, m).pixels for other, m in runtimes.items()}
                diff = np.abs(decoded["torch"].astype(np.int16) - decoded["onnx"].astype(np.int16))
                pixel_max = max(pixel_max, int(diff.max()))
                pixel_means.append(float(diff.mean()))
                q = measure(pixels, decoded[name])
                figures[name]["bpp"].append(result.bits_per_pixel)
                figures[name]["psnr"].append(q.psnr)
                figures[name]["ssim"].append(q.ssim)
        means = {name: {k: statistics.fmean(v) for k, v in f.items()} for name, f in figures.items()}
        same = all(round(means["torch"][k], 3) == round(means["onnx"][k], 3) for k in ("bpp", "psnr", "ssim"))
        record["models"][model_id] = {
            "symbols_differing": differing,
            "symbols": total,
            "symbols_differing_fraction": differing / total,
            "pixel_max_abs_difference": pixel_max,
            "pixel_mean_abs_difference": statistics.fmean(pixel_means),
            "means": means,
            "figures_equal_to_third_decimal": same,
        }
        print(f"{model_id}: symbols {differing}/{total}, pixels max {pixel_max}, same figures {same}", file=sys.stderr)
    record["all_figures_equal_to_third_decimal"] = all(m["figures_equal_to_third_decimal"] for m in record["models"].values())
    from rdcodec import atomic_file

    args.output.parent.mkdir(parents=True, exist_ok=True)
    atomic_file.write_json(args.output, record, replace=True)
    print(f"wrote {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
