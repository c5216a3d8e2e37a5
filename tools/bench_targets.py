#!/usr/bin/env python
"""``--target-bpp`` / ``--target-ssim`` / ``--target-psnr``: requested against achieved, and time.

    python tools/bench_targets.py ../shared/data/kodak -o docs/bench/targets.json [--limit N]

For five targets of each kind and every image (the first ``--limit``), one encode with
:func:`rdcodec.rate_control.encode_to_target` (default model's network, format version 2);
the file is then decoded from its bytes and measured independently: real bpp, PSNR and SSIM
of the decoded image, whether the target is met (bpp at most the target and within 3 % of
it; quality at least the target), the probes and the encode seconds.

Every result is written to ``-o`` as soon as it exists, and a rerun skips the (target, image)
pairs already there, so the measurement can run in the background over several sessions. A
record made with another model, thread count or folder is refused rather than mixed in.
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

SCHEMA = "rdcodec.bench-targets/2"
TARGETS = {"bpp": (0.15, 0.3, 0.5, 0.75, 1.0), "ssim": (0.75, 0.8, 0.85, 0.9, 0.93), "psnr": (24.0, 26.0, 27.0, 28.0, 29.0)}


def _key(kind: str, value: float, image: str) -> str:
    return f"{kind}|{value:g}|{image}"


def summarise(rows: dict) -> dict:
    """Per kind and target: the images measured, how many met it (and could), mean and median figures."""
    out = {}
    for kind, values in TARGETS.items():
        out[kind] = []
        for value in values:
            done = [r for k, r in rows.items() if k == _key(kind, value, r["image"])]
            if not done:
                continue
            out[kind].append(
                {
                    "requested": value,
                    "mean_achieved": statistics.fmean(r["achieved"] for r in done),
                    "met": sum(r["met"] for r in done),
                    "reachable": sum(r["reachable"] for r in done),
                    "images": len(done),
                    "mean_bpp": statistics.fmean(r["bpp"] for r in done),
                    "median_seconds": statistics.median(r["seconds"] for r in done),
                }
            )
    return out


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
    paths = list_images(args.folder)[: args.limit]
    record = json.loads(args.output.read_text()) if args.output.exists() else {}
    if record:
        if record.get("schema") != SCHEMA:
            p.error(f"{args.output} is not a {SCHEMA} record")
        if (record.get("model"), record.get("threads")) != (model.id, args.threads):
            p.error(
                f"{args.output} was measured with {record.get('model')} at {record.get('threads')} threads, not {model.id} at {args.threads}"
            )
        if Path(record.get("folder", args.folder)).resolve() != args.folder.resolve():
            p.error(f"{args.output} was measured on {record['folder']}, not {args.folder}")
    rows: dict = record.get("rows", {})

    def save():
        out = {
            "schema": SCHEMA,
            "folder": str(args.folder),
            "model": model.id,
            "images": len({r["image"] for r in rows.values()}),
            "threads": args.threads,
            "load_average_at_last_save": os.getloadavg(),
            "targets": summarise(rows),
            "rows": rows,
        }
        args.output.parent.mkdir(parents=True, exist_ok=True)
        atomic_file.write_json(args.output, out, replace=True)

    for kind, values in TARGETS.items():
        for value in values:
            for path in paths:
                key = _key(kind, value, path.name)
                if key in rows:
                    continue
                pixels = read_image(path).pixels
                r = encode_to_target(pixels, model, registry, **{kind: value})
                decoded = codec.decode_stream(r.encoded.data, registry=registry).pixels
                q = measure(pixels, decoded)
                achieved = {"bpp": r.encoded.bits_per_pixel, "ssim": q.ssim, "psnr": q.psnr}[kind]
                met = achieved <= value and achieved >= 0.97 * value if kind == "bpp" else achieved >= value
                rows[key] = {
                    "image": path.name,
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
                save()
                print(
                    f"{kind} {value}: {path.name} {achieved:.4f} met={met} ({r.probes} probes, {r.seconds:.1f} s)",
                    file=sys.stderr,
                    flush=True,
                )
    save()
    return 0


if __name__ == "__main__":
    sys.exit(main())
