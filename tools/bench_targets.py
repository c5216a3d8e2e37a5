#!/usr/bin/env python
"""``--target-bpp`` / ``--target-ssim`` / ``--target-psnr``: requested against achieved, and time.

    python tools/bench_targets.py ../shared/data/kodak -o docs/bench/targets.json [--limit N]

For five targets of each kind and every image (the first ``--limit``), one encode with
:func:`rdcodec.rate_control.encode_to_target` (default model's network, format version 2);
the file is then decoded from its bytes and measured independently: real bpp, PSNR and SSIM
of the decoded image, whether the target is met (bpp at most the target and within 3 % of
it; quality at least the target), the probes and the encode seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGETS = {"bpp": (0.15, 0.3, 0.5, 0.75, 1.0), "ssim": (0.75, 0.8, 0.85, 0.9, 0.93), "psnr": (24.0, 26.0, 27.0, 28.0, 29.0)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("folder", type=Path)
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("-o", "--output", type=Path, required=True)
    args = p.parse_args(argv)

    import torch

    from rdcodec import atomic_file, codec
    from rdcodec.eval.quality import measure
    from rdcodec.image_io import list_images, read_image
    from rdcodec.rate_control import encode_to_target
    from rdcodec.zoo.registry import Registry

    torch.set_num_threads(args.threads)
    registry = Registry()
    model = codec.load_model(registry=registry, threads=args.threads)
    images = [(path.name, read_image(path).pixels) for path in list_images(args.folder)[: args.limit]]
    results = {}
    for kind, values in TARGETS.items():
        results[kind] = []
        for value in values:
            rows = []
            for name, pixels in images:
                r = encode_to_target(pixels, model, registry, **{kind: value})
                decoded = codec.decode_stream(r.encoded.data, registry=registry).pixels
                q = measure(pixels, decoded)
                achieved = {"bpp": r.encoded.bits_per_pixel, "ssim": q.ssim, "psnr": q.psnr}[kind]
                met = achieved <= value and achieved >= 0.97 * value if kind == "bpp" else achieved >= value
                rows.append(
                    {
                        "image": name,
                        "achieved": achieved,
                        "met": bool(met),
                        "reachable": bool(r.met),
                        "bpp": r.encoded.bits_per_pixel,
                        "psnr": q.psnr,
                        "ssim": q.ssim,
                        "step": r.encoded.step,
                        "deadzone": r.deadzone,
                        "probes": r.probes,
                        "seconds": r.seconds,
                    }
                )
                print(
                    f"{kind} {value}: {name} {achieved:.4f} met={met} ({r.probes} probes, {r.seconds:.1f} s)",
                    file=sys.stderr,
                    flush=True,
                )
            results[kind].append(
                {
                    "requested": value,
                    "mean_achieved": statistics.fmean(r["achieved"] for r in rows),
                    "met": sum(r["met"] for r in rows),
                    "reachable": sum(r["reachable"] for r in rows),
                    "images": len(rows),
                    "mean_bpp": statistics.fmean(r["bpp"] for r in rows),
                    "median_seconds": statistics.median(r["seconds"] for r in rows),
                    "per_image": rows,
                }
            )
    record = {
        "schema": "rdcodec.bench-targets/1",
        "model": model.id,
        "images": len(images),
        "threads": args.threads,
        "load_average": os.getloadavg(),
        "targets": results,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    atomic_file.write_text(args.output, json.dumps(record, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
