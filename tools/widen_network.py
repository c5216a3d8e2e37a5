#!/usr/bin/env python
"""Widen a trained codec network's hidden or latent layers without changing what it computes.

    python tools/widen_network.py RUN/checkpoint.pt --hidden 128 -o wide.pt
    rdcodec train --config … --run-dir … --set network.N=128 --set init_from=wide.pt

    python tools/widen_network.py RUN/checkpoint.pt TRAIN_IMAGES… --latent 192 --as-checkpoint -o NEW_RUN/checkpoint.pt
    rdcodec train --config … --run-dir NEW_RUN --set network.M=192

A network whose clean reconstruction g(f(x)) has stopped improving — the ceiling of its Δ
ladder (tools/reconstruction_ceiling.py) — needs capacity, and training a wider one from its
initialisation would throw away every step already spent. :meth:`RDAutoencoder.widened` adds
hidden channels (``--hidden`` N) or latent channels (``--latent`` M) whose outgoing weights are
0 (function-preserving widening), so the run starts exactly where the narrow network was and
trains the new channels in. New latent channels are started as revived idle channels are
(:mod:`rdcodec.train.revival`: small random encoder filters, priors fitted to their latents on
centre crops of TRAIN_IMAGES — training images, never Kodak); g(z) is unchanged, but their
bits add to the rate from the first step until training spends or closes them.

The output holds the float32 state dict (``state_dict``, what ``init_from`` reads), the widened
``network`` config, the source checkpoint and step. With ``--as-checkpoint`` it is instead the
source checkpoint carried over to the wide network (:mod:`rdcodec.train.widening`: Adam moments
padded with zeros, step, sampler state and history kept): put it in a new run directory as
``checkpoint.pt`` and the run continues, on the same batches as the source run.
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
    parser.add_argument("images", nargs="*", help="training image files or folders (never Kodak), for --latent")
    parser.add_argument("--hidden", type=int, help="hidden channels N of the widened network")
    parser.add_argument("--latent", type=int, help="latent channels M of the widened network")
    parser.add_argument("--seed", type=int, default=0, help="seed of the new channels' filters")
    parser.add_argument("--crop", type=int, help="side of the centre crops new priors are fitted on (default 128)")
    parser.add_argument("--as-checkpoint", action="store_true", help="write the source checkpoint carried over")
    parser.add_argument("-o", "--output", type=Path, required=True)
    parser.add_argument("--record", type=Path, help="also write what was done here as JSON")
    parser.add_argument("--force", action="store_true", help="replace existing files")
    args = parser.parse_args(argv)
    for path in (args.output, args.record):
        if path is not None and path.exists() and not args.force:
            parser.error(f"{path} exists (give --force to replace it)")
    if args.hidden is None and args.latent is None:
        parser.error("give --hidden, --latent or both")
    if (args.latent is None) != (not args.images):
        parser.error("training images fit the new latent channels' priors: give them with --latent, and only then")

    import torch

    from rdcodec import atomic_file
    from rdcodec.cli.files import expand_images
    from rdcodec.image_io import read_image
    from rdcodec.train.checkpoint import save_checkpoint
    from rdcodec.train.revival import FIT_CROP, fit_revived_prior, revive_channels, training_latents
    from rdcodec.train.widening import check_carriable, widened_checkpoint
    from rdcodec.zoo.export import load_trained_network

    torch.set_num_threads(1)
    network, state = load_trained_network(args.checkpoint, as_trained=False)  # the float32 masters
    N, M = network.config.N, network.config.M
    hidden, latent = args.hidden or N, args.latent or M
    if hidden < N or latent < M or (hidden, latent) == (N, M):
        parser.error(f"the network has N = {N}, M = {M}: --hidden and --latent may only add channels")
    if args.as_checkpoint:
        try:
            check_carriable(state)
        except ValueError as exc:
            parser.error(str(exc))
    wide = network.widened(hidden, latent, seed=args.seed)
    record = {
        "source": {"checkpoint": str(args.checkpoint), "step": int(state["step"]), "N": N, "M": M},
        "network": wide.config.to_dict(),
        "seed": args.seed,
    }
    if latent > M:
        new = list(range(M, latent))
        revival = revive_channels(wide, new, seed=args.seed)
        images = [read_image(path).pixels for path in expand_images(args.images)]
        before, after = fit_revived_prior(wide, training_latents(wide, images, args.crop or FIT_CROP), new)
        record["new_latents"] = dict(revival._asdict(), images=len(images), prior_fit_bits_per_latent=[before, after])
    for path in (args.output, args.record):  # e.g. the new run directory
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
    if args.as_checkpoint:
        save_checkpoint(widened_checkpoint(state, network, wide, widening=record), args.output)
    else:
        payload = {"state_dict": {k: v.detach().clone() for k, v in wide.state_dict().items()}, **record}
        with atomic_file.replacing(args.output) as tmp:
            torch.save(payload, tmp)
    if args.record is not None:
        atomic_file.write_json(args.record, record, replace=True, indent=1)  # the check at the start covers both outputs
    print(f"N {N} → {hidden}, M {M} → {latent} (step {state['step']}) → {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
