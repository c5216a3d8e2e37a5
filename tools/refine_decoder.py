#!/usr/bin/env python
"""Fine-tune a checkpoint's decoder on quantized latents (see rdcodec/decoder_refinement.py).

    python tools/refine_decoder.py runs/NAME/checkpoint.pt runs/NAME/refined.pt \
        --data ../shared/data/train/cid22 ../shared/data/train/bsds500 --steps 1500 [--bf16]

Resumable: running it again continues from OUTPUT. Export OUTPUT like any checkpoint.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("checkpoint", type=Path)
    p.add_argument("output", type=Path)
    p.add_argument("--data", nargs="+", required=True)
    p.add_argument("--steps", type=int, required=True)
    p.add_argument("--metric", default="ssim")
    p.add_argument("--lr", type=float, default=3e-5)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--crop", type=int, default=128)
    p.add_argument("--step-size", type=float, default=1.0, help="quantization step Δ the model will be exported with")
    p.add_argument("--bf16", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    from rdcodec.train.decoder_refinement import refine_decoder

    refine_decoder(args.checkpoint, args.output, args.data, steps=args.steps, metric=args.metric, lr=args.lr,
                   batch_size=args.batch_size, crop=args.crop, step_size=args.step_size, bf16=args.bf16, seed=args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
