#!/usr/bin/env python
"""The encoder-side search (``rdcodec encode --search N``, SGA) against the plain encoder:
BD-rate and encode seconds per image, on a folder of images, resumable across sessions.

    python tools/bench_sga.py ../shared/data/kodak --iterations 100,300 -o docs/bench/sga-ssim.json
    python tools/bench_sga.py ../shared/data/kodak --iterations 1000 -o docs/bench/sga-ssim.json  # adds N = 1000

For each N of ``--iterations``, each image (in file order) and each point of the installed
``--metric`` ladder named by ``--qualities``, in one process and ``--threads`` threads: the real
version 1 file of ``codec.encode_image(pixels, model, search=N)`` (N = 0: the plain encoder),
its size, the decoded image's PSNR / SSIM / MS-SSIM, and the encode seconds. Every result is
written to ``-o`` as soon as it exists and a rerun skips what is there, so a long measurement
can run in the background over several sessions and be stopped at any point.

The summary, per N, uses the images that have every ladder point both at N and plain (a paired
comparison on the same images): mean bpp and mean quality per point, the BD-rate of the
searched curve against the plain one (SSIM-dB, PSNR, MS-SSIM-dB; bjontegaard, pchip), the
SSIM-dB BD-rate of every other N measured on all of those images (so N = 1000 on a few images
is read against N = 100 and 300 on the same ones), the median encode seconds per image and
point, and the number of images it rests on.
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

SCHEMA = "rdcodec.bench-sga/1"
AXES = (("ssim_db", "ssim"), ("psnr", "psnr"), ("ms_ssim_db", "ms_ssim"))


def _key(image: str, quality: int, iterations: int) -> str:
    return f"{image}|q{quality}|N{iterations}"


def summarise(rows: dict, images: list[str], qualities: list[int], iterations: list[int]) -> dict:
    """Per N: paired means over the images complete at N and at 0, and the BD-rates."""
    from rdcodec.eval.bd_rate import bd_rate, to_db

    def curve(n, names, key):
        rates, quality = [], []
        for q in qualities:
            rs = [rows[_key(name, q, n)] for name in names]
            rates.append(statistics.fmean(r["bpp"] for r in rs))
            mean_q = statistics.fmean(r[key] for r in rs)
            quality.append(mean_q if key == "psnr" else to_db(mean_q))
        return rates, quality

    out = {}
    for n in iterations:
        if n == 0:
            continue
        names = [m for m in images if all(_key(m, q, k) in rows for q in qualities for k in (0, n))]
        if not names:
            out[str(n)] = {"images": 0}
            continue
        entry = {
            "images": len(names),
            "image_names": names,
            "bd_rate_against_plain": {axis: bd_rate(*curve(n, names, key), *curve(0, names, key)) for axis, key in AXES},
            # every other N measured on all of these images, so a short N = 1000 record can be
            # read against N = 100 and N = 300 on the same images (a paired comparison)
            "ssim_db_bd_rate_on_these_images": {
                str(k): bd_rate(*curve(k, names, "ssim"), *curve(0, names, "ssim"))
                for k in iterations
                if k and all(_key(m, q, k) in rows for m in names for q in qualities)
            },
            "median_encode_s": statistics.median(rows[_key(m, q, n)]["encode_s"] for m in names for q in qualities),
            "median_encode_s_plain": statistics.median(rows[_key(m, q, 0)]["encode_s"] for m in names for q in qualities),
            "points": [],
        }
        for q in qualities:
            point = {"quality": q}
            for label, k in (("plain", 0), ("searched", n)):
                rs = [rows[_key(m, q, k)] for m in names]
                point[label] = {f: statistics.fmean(r[f] for r in rs) for f in ("bpp", "psnr", "ssim", "ms_ssim")}
            entry["points"].append(point)
        out[str(n)] = entry
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("folder", type=Path)
    p.add_argument("--metric", default="ssim")
    p.add_argument("--qualities", default="1,3,5,7", help="ladder points (quality numbers), comma-separated")
    p.add_argument("--iterations", default="100,300,1000", help="search lengths N, comma-separated")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--limit", type=int, default=None, help="first N images only")
    p.add_argument("-o", "--output", type=Path, required=True)
    args = p.parse_args(argv)

    import torch

    from rdcodec import atomic_file, codec
    from rdcodec.eval.quality import measure
    from rdcodec.image_io import list_images, read_image
    from rdcodec.zoo.registry import Registry

    torch.set_num_threads(args.threads)
    qualities = [int(q) for q in args.qualities.split(",")]
    iterations = [int(n) for n in args.iterations.split(",")]
    registry = Registry()
    by_quality = {e.quality: e for e in registry.entries() if e.quality is not None and e.metric == args.metric}
    missing = [q for q in qualities if q not in by_quality]
    if missing:
        p.error(f"no {args.metric} ladder point of quality {missing}")
    images = list_images(args.folder)[: args.limit]

    record = json.loads(args.output.read_text()) if args.output.exists() else {}
    if record and record.get("schema") != SCHEMA:
        p.error(f"{args.output} is not a {SCHEMA} record")
    rows = record.get("rows", {})
    done_n = sorted({int(k.rsplit("|N", 1)[1]) for k in rows} | set(iterations) | {0})

    def save():
        names = [path.name for path in images]
        known = sorted({k.split("|")[0] for k in rows} | set(names))
        out = {
            "schema": SCHEMA,
            "folder": str(args.folder),
            "metric": args.metric,
            "qualities": qualities,
            "models": {q: by_quality[q].id for q in qualities},
            "search": "sga (rdcodec.search, default lr and schedule)",
            "threads": args.threads,
            "load_average": os.getloadavg(),
            "summary": summarise(rows, known, qualities, done_n),
            "rows": rows,
        }
        args.output.parent.mkdir(parents=True, exist_ok=True)
        atomic_file.write_json(args.output, out, replace=True)

    models = {}
    for n in iterations:
        for path in images:
            pixels = None
            for q in qualities:
                for k in (0, n) if n else (0,):
                    key = _key(path.name, q, k)
                    if key in rows:
                        continue
                    if pixels is None:
                        pixels = read_image(path).pixels
                    model = models.get(q) or models.setdefault(
                        q, codec.load_model(by_quality[q].id, registry, threads=args.threads)
                    )
                    t0 = time.perf_counter()
                    result = codec.encode_image(pixels, model, search=k)
                    seconds = time.perf_counter() - t0
                    decoded = codec.decode_stream(result.data, model)
                    quality = measure(pixels, decoded.pixels)
                    rows[key] = {
                        "bytes": len(result.data),
                        "bpp": len(result.data) * 8 / (pixels.shape[0] * pixels.shape[1]),
                        "psnr": quality.psnr,
                        "ssim": quality.ssim,
                        "ms_ssim": quality.ms_ssim,
                        "encode_s": seconds,
                    }
                    save()
                    print(
                        f"{key}: {len(result.data)} B, SSIM {quality.ssim:.4f}, {seconds:.1f} s",
                        file=sys.stderr,
                        flush=True,
                    )
    save()
    summary = json.loads(args.output.read_text())["summary"]
    print(
        json.dumps(
            {
                n: {k: v for k, v in s.items() if k in ("images", "bd_rate_against_plain", "median_encode_s")}
                for n, s in summary.items()
            }
        ),
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
