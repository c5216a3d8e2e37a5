#!/usr/bin/env python
"""Where a codec network's bits go: the rate of each latent channel at each Δ, as JSON.

    python tools/channel_rates.py rdg-mse-l2000-n96-long-q8 ../shared/data/kodak --steps 0.5,1,4 -o rates.json
    python tools/channel_rates.py RUN/checkpoint.pt ../shared/data/kodak --steps 0.5,1,4 -o rates.json

MODEL is an installed model id (its network) or a training checkpoint (loaded as trained,
:func:`rdcodec.zoo.export.load_trained_network`). Per Δ: the estimated rate of every channel
(bits per pixel over all images), how many channels carry more than 0.1 % of it, and how many
carry 90 % and 99 % (:mod:`rdcodec.analysis.rates`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", help="installed model id, or a training checkpoint")
    parser.add_argument("images", nargs="+", help="image files or folders")
    parser.add_argument("--steps", default="0.5,1,4", help="comma-separated Δ values")
    parser.add_argument("-o", "--output", type=Path, required=True)
    parser.add_argument("--force", action="store_true", help="replace an existing report")
    args = parser.parse_args(argv)
    if args.output.exists() and not args.force:
        parser.error(f"{args.output} exists (give --force to replace it)")

    import torch

    from rdcodec import atomic_file
    from rdcodec.analysis.rates import channel_rates
    from rdcodec.cli.files import expand_images
    from rdcodec.image_io import read_image
    from rdcodec.zoo.network_source import network_source_of

    torch.set_num_threads(1)
    source = network_source_of(args.model)
    network = source.network
    paths = expand_images(args.images)
    images = [read_image(path).pixels for path in paths]
    reports = channel_rates(network, images, [float(s) for s in args.steps.split(",")])
    result = {
        "schema": "rdcodec.channel-rates/1",
        **source.provenance,
        "objective": source.objective,
        "images": [Path(p).name for p in paths],
        "channels": len(reports[0].bpp),
        "steps": [
            {
                "step": r.step,
                "total_bpp": r.total_bpp,
                "active_channels": r.active(0.001),
                "channels_for_90_percent": r.channels_for(0.9),
                "channels_for_99_percent": r.channels_for(0.99),
                "bpp_by_channel": r.bpp,
                "order": r.order,
            }
            for r in reports
        ],
    }
    try:
        atomic_file.write_json(args.output, result, replace=args.force, indent=1)
    except FileExistsError as exc:  # made while this ran: kept, as the check at the start promised
        print(f"channel_rates: error: {exc} (it appeared while this ran; --force replaces it)", file=sys.stderr)
        return 2
    for r in result["steps"]:
        print(
            f"Δ={r['step']:g}: {r['total_bpp']:.4f} bpp; {r['active_channels']} of {result['channels']} channels "
            f"carry > 0.1 %; 90 % in {r['channels_for_90_percent']}, 99 % in {r['channels_for_99_percent']}",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
