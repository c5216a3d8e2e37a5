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
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("checkpoint", type=Path)
    p.add_argument("folder", type=Path)
    p.add_argument("--steps", required=True, help="comma-separated Δ values")
    p.add_argument("--quality", action="store_true", help="also decode and measure")
    p.add_argument("-o", "--output", type=Path, default=None)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = p.parse_args(argv)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)

    from rdcodec import codec
    from rdcodec.eval.quality import measure
    from rdcodec.image_io import list_images, read_image
    from rdcodec.zoo.export import export_trained, load_trained_network
    from rdcodec.zoo.registry import Registry

    images = [read_image(path).pixels for path in list_images(args.folder)]
    network, state = load_trained_network(args.checkpoint)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, step in enumerate(float(s) for s in args.steps.split(",")):
            registry = Registry(Path(tmp) / f"d{i}")
            export_trained(network, state, registry, f"sweep{i}", step=step)
            model = codec.load_model(registry=registry)
            bpps, quals = [], []
            for px in images:
                result = codec.encode_image(px, model)
                bpps.append(result.bits_per_pixel)
                if args.quality:
                    quals.append(measure(px, codec.decode(result.data, model)))
            row = {"step": step, "bpp": statistics.fmean(bpps)}
            if quals:
                row.update(
                    psnr=statistics.fmean(q.psnr for q in quals),
                    ssim=statistics.fmean(q.ssim for q in quals),
                    ms_ssim=statistics.fmean(q.ms_ssim for q in quals),
                )
            rows.append(row)
            print(json.dumps(row), file=sys.stderr)
    report = {"checkpoint": str(args.checkpoint), "folder": str(args.folder), "images": len(images), "sweep": rows}
    if args.output:
        from rdcodec import atomic_file

        atomic_file.write_text(args.output, json.dumps(report, indent=2) + "\n")
    else:
        print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
