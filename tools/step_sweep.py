#!/usr/bin/env python
"""Rate (and optionally quality) of one trained network at several quantization steps Δ.

    python tools/step_sweep.py runs/NAME/checkpoint.pt ../shared/data/kodak --steps 0.8,1,1.25 [--quality] [-o sweep.json]

For each Δ the checkpoint is exported into a temporary registry (tables frozen at that Δ) and
every image is encoded through the codec: mean real bpp from the stream sizes, and with
``--quality`` also the decoded PSNR / SSIM / MS-SSIM. Rate depends only on the encoder, the
prior and Δ, so a sweep without ``--quality`` is quick. Used to pick a model's Δ and to test
whether Δ works as a distortion knob (the isometry argument of the paper).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _rates_only(checkpoint: Path, images: dict[str, bytes], steps: list[float], threads: int | None) -> list[dict]:
    """Mean real bpp per Δ without decoding (rate depends only on the encoder, the prior and Δ)."""
    from rdcodec import codec
    from rdcodec.eval.step_sweep import exported_models
    from rdcodec.image_io import read_image
    from rdcodec.zoo.export import load_trained_network

    network, state = load_trained_network(checkpoint)
    pixels = [read_image(data, name=name) for name, data in images.items()]
    rows = []
    for x in exported_models(network, state, steps, threads):
        rows.append({"step": x.step, "bpp": statistics.fmean(codec.encode_image(px, x.model).bits_per_pixel for px in pixels)})
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("checkpoint", type=Path)
    p.add_argument("folder", type=Path)
    p.add_argument("--steps", required=True, help="comma-separated Δ values")
    p.add_argument("--quality", action="store_true", help="also decode and measure")
    p.add_argument("-o", "--output", type=Path, default=None)
    p.add_argument("--threads", type=int, default=0, help="threads of torch and of the transforms (0: all cores)")
    args = p.parse_args(argv)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)

    from rdcodec.eval import rd_curve
    from rdcodec.eval.step_sweep import read_folder, sweep_checkpoint
    from rdcodec.train.checkpoint import CheckpointError

    threads = args.threads or None
    try:
        steps = [float(s) for s in args.steps.split(",")]
        if not all(s > 0 for s in steps):
            raise ValueError(f"--steps must be positive, not {args.steps!r}")
        images = read_folder(args.folder)
        if not args.quality:  # rate only: the encoder, the prior and Δ; no decode
            rows = _rates_only(args.checkpoint, images, steps, threads)
        else:
            bar = rd_curve.progress_bar(len(steps) * len(images), True)
            points, _ = sweep_checkpoint(args.checkpoint, images, steps, threads, progress=bar)
            bar.close()
            rows = [
                {"step": step, "bpp": p.bpp, "psnr": p.psnr, "ssim": p.ssim, "ms_ssim": p.ms_ssim}
                for step, p in zip(steps, points)
            ]
    except (OSError, ValueError, CheckpointError) as exc:
        print(f"step_sweep: error: {exc}", file=sys.stderr)
        return 2
    report = {"checkpoint": str(args.checkpoint), "folder": str(args.folder), "images": len(images), "sweep": rows}
    if args.output:
        from rdcodec import atomic_file

        atomic_file.write_json(args.output, report, replace=True)
    else:
        print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
