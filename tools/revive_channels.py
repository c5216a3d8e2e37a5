#!/usr/bin/env python
"""Re-initialise the idle latent channels of a training checkpoint, for a run to start from.

    python tools/revive_channels.py RUN/checkpoint.pt ../shared/data/val/cid22 -o revived.pt
    rdcodec train --config … --run-dir … --set init_from=revived.pt

The idle channels are those carrying at most ``--share`` of the estimated rate at Δ = ``--step``
on IMAGES (training images: never Kodak, which the codec is judged on). They get a random
encoder filter, a zero decoder filter and a fresh prior, fitted to their new latents on 128²
(``--crop``) centre crops of the same images (:mod:`rdcodec.train.revival`); the other channels keep their
weights. The output holds the float32 state dict (``state_dict``,
what ``init_from`` reads), the source checkpoint and step, and the revival record.

With ``--as-checkpoint`` the output is instead the source checkpoint itself with its weights
replaced (step, optimiser moments, sampler state and validation history kept): put it in a new
run directory as ``checkpoint.pt`` and ``rdcodec train`` continues the run with the channels
revived, on the same batches as the source run. The revived rows keep their Adam moments too,
near 0 after a long idle spell, so their first updates are a few times the learning rate.
``--record`` writes the revival record as JSON (the run's next checkpoint no longer holds it).

    python tools/revive_channels.py RUN/checkpoint.pt TRAIN_IMAGES… --as-checkpoint -o NEW_RUN/checkpoint.pt
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", help="a codec training checkpoint")
    parser.add_argument(
        "images",
        nargs="+",
        help="training image files or folders (never Kodak): they find the idle channels and fit their priors",
    )
    parser.add_argument("--step", type=float, default=1.0, help="the Δ the rates are measured at")
    parser.add_argument("--share", type=float, default=0.001, help="idle: at most this share of the rate")
    parser.add_argument("--prior-scale", type=float, default=None, help="init_scale of a revived prior")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--crop", type=int, help="side of the centre crops the priors are fitted on (default 128)")
    parser.add_argument("--as-checkpoint", action="store_true", help="write the source checkpoint, weights replaced")
    parser.add_argument("-o", "--output", type=Path, required=True)
    parser.add_argument("--record", type=Path, help="also write the revival record here as JSON")
    parser.add_argument("--force", action="store_true", help="replace existing files")
    args = parser.parse_args(argv)
    for path in (args.output, args.record):
        if path is not None and path.exists() and not args.force:
            parser.error(f"{path} exists (give --force to replace it)")

    import torch

    from rdcodec import atomic_file
    from rdcodec.analysis.rates import channel_rates
    from rdcodec.cli.files import expand_images
    from rdcodec.image_io import read_image
    from rdcodec.train.checkpoint import save_checkpoint, with_weights
    from rdcodec.train.revival import FIT_CROP, PRIOR_SCALE, fit_revived_prior, revive_channels, training_latents
    from rdcodec.zoo.export import load_trained_network

    torch.set_num_threads(1)
    # float32 weights: the run that starts from them trains those, not their bf16 rounding
    network, state = load_trained_network(args.checkpoint, as_trained=False)
    images = [read_image(path).pixels for path in expand_images(args.images)]
    (rates,) = channel_rates(network, images, [args.step])
    idle = rates.idle(args.share)
    prior_scale = PRIOR_SCALE if args.prior_scale is None else args.prior_scale
    if not idle:
        raise SystemExit(f"revive_channels: no channel carries ≤ {args.share:g} of the rate; nothing to revive")
    revival = revive_channels(network, idle, seed=args.seed, prior_scale=prior_scale)
    bits_before, bits_after = fit_revived_prior(network, training_latents(network, images, args.crop or FIT_CROP), idle)
    weights = {k: v.detach().clone() for k, v in network.state_dict().items()}
    record = dict(
        revival._asdict(),
        step=args.step,
        share=args.share,
        images=len(images),
        prior_fit_bits_per_latent=[bits_before, bits_after],
    )
    for path in (args.output, args.record):  # e.g. the new run directory
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
    if args.as_checkpoint:
        save_checkpoint(with_weights(state, weights, revival=record), args.output)
    else:
        source = {"checkpoint": str(args.checkpoint), "step": int(state["step"]), "objective": state.get("objective")}
        with atomic_file.replacing(args.output) as tmp:
            torch.save({"state_dict": weights, "source": source, "revival": record}, tmp)
    if args.record is not None:  # a continued run's next checkpoint no longer carries the record
        source = {"checkpoint": str(args.checkpoint), "step": int(state["step"])}
        atomic_file.write_json(
            args.record, dict(record, source=source), replace=True, indent=1
        )  # the check at the start covers both outputs
    print(
        f"{len(idle)} of {len(rates.bpp)} channels idle at Δ={args.step:g} ({rates.total_bpp:.4f} bpp on "
        f"{len(images)} images): re-initialised (encoder filter norm {revival.encoder_norm:.3f}, "
        f"prior scale {prior_scale:g}; prior fit {bits_before:.2f} → {bits_after:.2f} bits per latent) → {args.output}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
