#!/usr/bin/env python
"""Widen a trained codec network's hidden layers without changing what it computes.

    python tools/widen_network.py RUN/checkpoint.pt --hidden 128 -o wide.pt
    rdcodec train --config … --run-dir … --set network.N=128 --set init_from=wide.pt

A network whose clean reconstruction g(f(x)) has stopped improving — the ceiling of its Δ
ladder (tools/reconstruction_ceiling.py) — needs capacity, and training a wider one from its
initialisation would throw away every step already spent. :meth:`RDAutoencoder.widened` adds
hidden channels whose outgoing weights are 0 (function-preserving widening), so the run starts
exactly where the narrow network was and trains the new channels in. The output holds the
float32 state dict (``state_dict``, what ``init_from`` reads), the widened ``network`` config
and the source checkpoint and step.
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
    parser.add_argument("--hidden", type=int, required=True, help="hidden channels N of the widened network")
    parser.add_argument("--seed", type=int, default=0, help="seed of the new channels' incoming filters")
    parser.add_argument("-o", "--output", type=Path, required=True)
    parser.add_argument("--force", action="store_true", help="replace an existing file")
    args = parser.parse_args(argv)
    if args.output.exists() and not args.force:
        parser.error(f"{args.output} exists (give --force to replace it)")

    import torch

    from rdcodec import atomic_file
    from rdcodec.zoo.export import load_trained_network

    torch.set_num_threads(1)
    network, state = load_trained_network(args.checkpoint, as_trained=False)  # the float32 masters
    if args.hidden <= network.config.N:
        parser.error(f"--hidden must exceed the network's {network.config.N} hidden channels")
    wide = network.widened(args.hidden, seed=args.seed)
    payload = {
        "state_dict": {k: v.detach().clone() for k, v in wide.state_dict().items()},
        "network": {"N": wide.config.N, "M": wide.config.M},
        "source": {"checkpoint": str(args.checkpoint), "step": int(state["step"]), "N": network.config.N},
        "seed": args.seed,
    }
    with atomic_file.replacing(args.output) as tmp:
        torch.save(payload, tmp)
    print(f"N {network.config.N} → {args.hidden} (step {state['step']}) → {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
