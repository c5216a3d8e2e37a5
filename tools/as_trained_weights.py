#!/usr/bin/env python
"""Float32 master weights against the bfloat16 weights a bf16-autocast run trained with.

    python tools/as_trained_weights.py CHECKPOINT ../shared/data/val/cid22 --steps 0.4,1,4 \
        -o docs/rd/campaign/long/as-trained-weights-step74000.json

Validation operating points (:func:`rdcodec.train.codec_task.validate`: estimated bpp, PSNR,
SSIM of the quantized latent on centre crops) of one codec checkpoint with its transforms'
weights as stored (float32 masters), rounded to bfloat16 as the autocast used them
(:func:`rdcodec.model.precision.round_to_autocast_weights`), rounded in ``g_a`` only, in
``g_s`` only, in the first encoder layer only, and rounded plus uniform random offsets of up
to half an ulp (how much offsets of that size cost when they are not coherent). Writes JSON.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def variants(network):
    """{name: function(network) that changes it in place}."""
    import torch

    from rdcodec.model.precision import round_to_autocast_weights

    def first_layer(net):
        conv = net.g_a[0]
        with torch.no_grad():
            for t in (conv.weight, conv.bias):
                t.copy_(t.to(torch.bfloat16).float())

    def random_offsets(net):
        round_to_autocast_weights(net.g_a), round_to_autocast_weights(net.g_s)
        gen = torch.Generator().manual_seed(0)
        with torch.no_grad():
            for m in list(net.g_a.modules()) + list(net.g_s.modules()):
                if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)):
                    for t in (m.weight, m.bias):
                        _, exponent = torch.frexp(t)  # |t| in [2^(e-1), 2^e): bfloat16's ulp there is 2^(e-8)
                        ulp = torch.ldexp(torch.ones_like(t), exponent - 8)
                        t.add_((torch.rand(t.shape, generator=gen) - 0.5) * ulp)

    return {
        "float32 master weights": lambda net: None,
        "bfloat16 (as trained)": lambda net: (round_to_autocast_weights(net.g_a), round_to_autocast_weights(net.g_s)),
        "bfloat16 in g_a only": lambda net: round_to_autocast_weights(net.g_a),
        "bfloat16 in g_s only": lambda net: round_to_autocast_weights(net.g_s),
        "bfloat16 in the first encoder layer only": first_layer,
        "bfloat16 + uniform offsets below half an ulp": random_offsets,
    }


def offset_coherence(weight) -> float:
    """Mean over output filters of |Σ (w − bf16(w))| / √(Σ (w − bf16(w))²)."""
    import torch

    offsets = (weight - weight.to(torch.bfloat16).float()).flatten(1)
    return float((offsets.sum(1).abs() / offsets.pow(2).sum(1).sqrt().clamp_min(1e-30)).mean())


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("checkpoint", type=Path)
    p.add_argument("val_dir", type=Path)
    p.add_argument("--steps", default="1", help="comma-separated Δ")
    p.add_argument("--images", type=int, default=8, help="validation crops (the training's val_images)")
    p.add_argument("--crop", type=int, default=256)
    p.add_argument("--metric", default=None, help="D of the distortion column (default: the checkpoint's)")
    p.add_argument("-o", "--output", type=Path, required=True)
    p.add_argument("--force", action="store_true", help="replace an existing report")
    args = p.parse_args(argv)
    if args.output.exists() and not args.force:
        print(f"as_trained_weights: error: {args.output} exists (--force replaces it)", file=sys.stderr)
        return 2

    import copy

    import torch

    from rdcodec import atomic_file
    from rdcodec.image_tensor import to_tensor
    from rdcodec.train.checkpoint import trained_under_bf16
    from rdcodec.train.codec_task import validate
    from rdcodec.train.data import center_crop, load_images
    from rdcodec.zoo.export import load_trained_network

    try:
        master, state = load_trained_network(args.checkpoint, as_trained=False)
        images = [to_tensor(center_crop(im, args.crop)) for im in load_images([str(args.val_dir)])[: args.images]]
        steps = [float(s) for s in args.steps.split(",")]
    except (OSError, ValueError) as exc:
        print(f"as_trained_weights: error: {exc}", file=sys.stderr)
        return 2
    metric = args.metric or (state.get("objective") or {}).get("metric", "mse")
    rows = []
    for name, change in variants(master).items():
        net = copy.deepcopy(master)
        change(net)
        with torch.no_grad():
            for step in steps:
                rows.append({"weights": name, "quant_step": step, **validate(net, images, metric, step)})
                print(
                    f"{name:45s} Δ={step:g}: {rows[-1]['bpp']:.4f} bpp, {rows[-1]['psnr']:.3f} dB, SSIM {rows[-1]['ssim']:.4f}",
                    file=sys.stderr,
                )
    report = {
        "checkpoint": str(args.checkpoint),
        "step": int(state["step"]),
        "trained_bf16": trained_under_bf16(state),
        "val_dir": str(args.val_dir),
        "images": len(images),
        "crop": args.crop,
        "first_layer_offset_coherence": offset_coherence(master.g_a[0].weight.detach()),
        "independent_offset_coherence": (2 / 3.141592653589793) ** 0.5,
        "rows": rows,
    }
    try:
        atomic_file.write_json(args.output, report, replace=args.force)
    except FileExistsError as exc:  # made while this ran: kept, as the check at the start promised
        print(f"as_trained_weights: error: {exc} (it appeared while this ran; --force replaces it)", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
