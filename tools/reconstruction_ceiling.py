#!/usr/bin/env python
"""How far can a codec network's quality go: PSNR of the unquantized g(f(x)) beside Δ points.

    python tools/reconstruction_ceiling.py RUN/checkpoint.pt [MODEL_ID …] --images ../shared/data/val/cid22 \
        --steps 0.4,1 -o ceiling.json

As Δ → 0 the coded image tends to g(f(x)), so the clean autoencoder's error is the ceiling of a
network's Δ ladder: no quantization step, and no λ that only re-weights the rate, can code above
it (docs/rd/campaign.md, session 22). Each network is a training checkpoint (loaded as trained)
or an installed model id. Images: the first ``--count`` of ``--images`` (sorted, as training
validation takes them), centre-cropped to ``--crop``: with the defaults, a run's own validation
crops. Per network: the mean per-crop PSNR (8-bit rounded, as training validation measures it) of
g(f(x)), and the estimated bpp and PSNR at each Δ of ``--steps``
(:func:`rdcodec.train.codec_task.validate`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def clean_psnr(network, images) -> float:
    """Mean over ``images`` ([1, 3, H, W] in [0, 1]) of the PSNR of g(f(x)), rounded to 8 bits."""
    import torch

    from rdcodec.train.codec_task import to_eight_bits, unit_range_psnr

    total = 0.0
    with torch.no_grad():
        for x in images:
            total += unit_range_psnr(x, to_eight_bits(network.decode_latent(network.encode_latent(x))))
    return total / len(images)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("networks", nargs="+", help="training checkpoints or installed model ids")
    parser.add_argument("--images", required=True, help="a folder of images (never Kodak for tuning)")
    parser.add_argument("--count", type=int, default=8, help="the first COUNT images")
    parser.add_argument("--crop", type=int, default=256, help="centre crop side")
    parser.add_argument("--steps", default="0.4,1", help="comma-separated Δ values")
    parser.add_argument("-o", "--output", type=Path, required=True)
    parser.add_argument("--force", action="store_true", help="replace an existing report")
    args = parser.parse_args(argv)
    if args.output.exists() and not args.force:
        parser.error(f"{args.output} exists (give --force to replace it)")

    import torch

    from rdcodec import atomic_file
    from rdcodec.image_tensor import to_tensor
    from rdcodec.train.codec_task import validate
    from rdcodec.train.data import center_crop, load_images
    from rdcodec.zoo.network_source import network_source_of

    torch.set_num_threads(1)
    images = [to_tensor(center_crop(im, args.crop)) for im in load_images([args.images])[: args.count]]
    steps = [float(s) for s in args.steps.split(",")]
    results = []
    for name in args.networks:
        source = network_source_of(name)
        metric = source.objective.get("metric", "mse")
        points = [{"step": s, **validate(source.network, images, metric, s)} for s in steps]
        results.append({**source.provenance, "clean_psnr": clean_psnr(source.network, images), "points": points})
        print(
            f"{name}: g(f(x)) {results[-1]['clean_psnr']:.2f} dB; "
            + ", ".join(f"Δ={p['step']:g} {p['psnr']:.2f} dB at {p['bpp']:.3f} bpp" for p in points),
            file=sys.stderr,
        )
    report = {
        "schema": "rdcodec.reconstruction-ceiling/1",
        "images": args.images,
        "count": len(images),
        "crop": args.crop,
        "networks": results,
    }
    try:
        atomic_file.write_json(args.output, report, replace=args.force, indent=1)
    except FileExistsError as exc:  # made while this ran: kept, as the check at the start promised
        print(f"reconstruction_ceiling: error: {exc} (it appeared while this ran; --force replaces it)", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
