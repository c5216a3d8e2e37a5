#!/usr/bin/env python
"""Format version 2 against version 1 on a folder of images: the adaptive prior's BD-rate,
the cost of progressive chunks, and encode/decode time.

    python tools/bench_format_v2.py ../shared/data/kodak --metric ssim -o docs/bench/format-v2-ssim.json

For every point of the installed ``--metric`` ladder and every image, in one process, one
thread: the version 1 stream of the ladder point; the version 2 stream at the grid step
nearest the point's Δ without adaptation (``plain``: what the grid step alone changes), with
the adaptive prior in one chunk (``adaptive``), and with the adaptive prior in the default
chunks (``progressive``, what ``--format-version 2`` writes). The three version 2 streams
hold the same symbols, so they decode to the same pixels. Real file sizes; PSNR, SSIM and
MS-SSIM of the decoded images; BD-rates (SSIM-dB, PSNR, MS-SSIM-dB) of each version 2 curve
against version 1, and the medians of encode and whole-decode seconds per image.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

VARIANTS = ("v1", "plain", "adaptive", "progressive")


def _timed(fn, *args, **kwargs):
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("folder", type=Path)
    p.add_argument("--metric", default="ssim")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--limit", type=int, default=None, help="first N images only (a quick check)")
    p.add_argument("-o", "--output", type=Path, required=True)
    args = p.parse_args(argv)

    import torch

    from rdcodec import atomic_file, codec
    from rdcodec.codec_v2 import encode_image_v2
    from rdcodec.eval.bd_rate import bd_rate, to_db
    from rdcodec.eval.quality import measure
    from rdcodec.image_io import list_images, read_image
    from rdcodec.zoo.registry import Registry

    torch.set_num_threads(args.threads)
    registry = Registry()
    ladder = sorted((e for e in registry.entries() if e.quality is not None and e.metric == args.metric), key=lambda e: e.quality)
    images = list_images(args.folder)[: args.limit]
    pixels_of = {path.name: read_image(path).pixels for path in images}
    points = []
    for entry in ladder:
        model = codec.load_model(entry.id, registry, threads=args.threads)
        rows = []
        for name, pixels in pixels_of.items():
            n = pixels.shape[0] * pixels.shape[1]
            v1, t_enc1 = _timed(codec.encode_image, pixels, model)
            dec1, t_dec1 = _timed(codec.decode_stream, v1.data, model)
            plain = encode_image_v2(pixels, model, registry, adaptive=False, chunks=1)
            adaptive, t_enc2 = _timed(encode_image_v2, pixels, model, registry, chunks=1)
            progressive = encode_image_v2(pixels, model, registry)
            dec2, t_dec2 = _timed(codec.decode_stream, progressive.data, model)
            q1, q2 = measure(pixels, dec1.pixels), measure(pixels, dec2.pixels)
            row = {"image": name, "encode_s": {"v1": t_enc1, "v2": t_enc2}, "decode_s": {"v1": t_dec1, "v2": t_dec2}}
            for variant, data, q in (
                ("v1", v1.data, q1),
                ("plain", plain.data, q2),
                ("adaptive", adaptive.data, q2),
                ("progressive", progressive.data, q2),
            ):
                row[variant] = {
                    "bytes": len(data),
                    "bpp": len(data) * 8 / n,
                    "psnr": q.psnr,
                    "ssim": q.ssim,
                    "ms_ssim": q.ms_ssim,
                }
            rows.append(row)
            print(
                f"{entry.id} {name}: v1 {len(v1.data)} B, v2 plain {len(plain.data)}, adaptive {len(adaptive.data)}, "
                f"progressive {len(progressive.data)}",
                file=sys.stderr,
                flush=True,
            )
        mean = {v: {k: statistics.fmean(r[v][k] for r in rows) for k in ("bpp", "psnr", "ssim", "ms_ssim")} for v in VARIANTS}
        points.append(
            {
                "model": entry.id,
                "step": model.step,
                "grid_step": plain_step(model, registry),
                "mean": mean,
                "median_encode_s": {k: statistics.median(r["encode_s"][k] for r in rows) for k in ("v1", "v2")},
                "median_decode_s": {k: statistics.median(r["decode_s"][k] for r in rows) for k in ("v1", "v2")},
                "per_image": rows,
            }
        )

    def curve(variant, key):
        rates = [pt["mean"][variant]["bpp"] for pt in points]
        quality = [pt["mean"][variant][key] for pt in points]
        return rates, [to_db(q) for q in quality] if key != "psnr" else quality

    bd = {}
    for variant in ("plain", "adaptive", "progressive"):
        bd[variant] = {
            axis: bd_rate(*curve(variant, key), *curve("v1", key))
            for axis, key in (("ssim_db", "ssim"), ("psnr", "psnr"), ("ms_ssim_db", "ms_ssim"))
        }
    same_pixels = {
        variant: statistics.fmean(pt["mean"][variant]["bpp"] / pt["mean"]["plain"]["bpp"] - 1 for pt in points)
        for variant in ("adaptive", "progressive")
    }
    record = {
        "schema": "rdcodec.bench-format-v2/1",
        "folder": str(args.folder),
        "images": len(images),
        "metric": args.metric,
        "threads": args.threads,
        "load_average": os.getloadavg(),
        "bd_rate_against_v1": bd,
        "mean_rate_change_against_plain_v2": same_pixels,
        "decode_time_ratio_v2_v1": statistics.median(pt["median_decode_s"]["v2"] / pt["median_decode_s"]["v1"] for pt in points),
        "encode_time_ratio_v2_v1": statistics.median(pt["median_encode_s"]["v2"] / pt["median_encode_s"]["v1"] for pt in points),
        "points": points,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    atomic_file.write_json(args.output, record, replace=True)
    print(
        json.dumps(
            {k: record[k] for k in ("bd_rate_against_v1", "mean_rate_change_against_plain_v2", "decode_time_ratio_v2_v1")}
        ),
        file=sys.stderr,
    )
    return 0


def plain_step(model, registry) -> float:
    from rdcodec.codec_v2 import grid_of

    grid = grid_of(model, registry).grid
    return float(grid.steps[grid.nearest_index(model.step)])


if __name__ == "__main__":
    sys.exit(main())
