#!/usr/bin/env python
"""Is the anomaly autoencoders' training objective still falling? (a training-data check)

    python tools/experiments/anomaly_convergence.py --data ../shared/data/anomaly --dataset thyroid \
        --epochs 20000 [--seed 0] [--out docs/experiments/anomaly/convergence/thyroid-seed0.json]

Trains the three autoencoders of ``tools/experiments/anomaly.py`` (same split, network, λ's,
batch, latent start) on the normal training rows of one seed for ``--epochs`` epochs and
reports the training objective (eq. 5 or eq. 21, averaged over the ``--window`` epochs before
each mark) at ten evenly spaced marks and at the data set's current epoch count in ``HYPER``,
with the mean rate and distortion at the last two. No test rows are scored. This is how the
Thyroid and Arrhythmia epoch counts were checked (see ``anomaly.py``).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))


def windowed(history: list[dict], key: str, end: int, window: int) -> float:
    return float(np.mean([row[key] for row in history[max(0, end - window) : end]]))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--dataset", required=True)
    p.add_argument("--epochs", type=int, required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--window", type=int, default=50)
    p.add_argument("--detectors", default="radogaga-d,radogaga-log,dagmm")
    p.add_argument("--out", type=Path, default=None, help="also write the report here as JSON")
    args = p.parse_args(argv)

    import anomaly

    from rdcodec.density import datasets

    if args.dataset not in anomaly.HYPER:
        p.error(f"--dataset must be one of {', '.join(anomaly.HYPER)}")
    hyper = anomaly.HYPER[args.dataset]
    x, y = datasets.load(args.dataset, args.data)
    split = datasets.split(x, y, args.seed)
    current = min(hyper["epochs"], args.epochs)
    marks = sorted({args.epochs * i // 10 for i in range(1, 11)} | {current})
    report = {
        "dataset": args.dataset,
        "seed": args.seed,
        "epochs": args.epochs,
        "current_epochs": hyper["epochs"],
        "window": args.window,
        "detectors": {},
    }
    for kind in args.detectors.split(","):
        t0 = time.time()
        h = anomaly.rdo_fit(kind, split.train, hyper, args.seed, lr=1e-4, epochs=args.epochs).history
        report["detectors"][kind] = {
            "objective": {str(m): windowed(h, "loss", m, args.window) for m in marks},
            "rate_distortion": {
                str(m): [windowed(h, "rate", m, args.window), windowed(h, "distortion", m, args.window)]
                for m in sorted({current, args.epochs})
            },
            "seconds": time.time() - t0,
        }
        row = report["detectors"][kind]["objective"]
        print(
            f"{kind:13s} "
            + "  ".join(f"{m}: {v:.4g}" for m, v in row.items())
            + f"  ({report['detectors'][kind]['seconds']:.0f}s)",
            file=sys.stderr,
        )
    if args.out is not None:
        from rdcodec import atomic_file

        args.out.parent.mkdir(parents=True, exist_ok=True)
        atomic_file.write_json(args.out, report, replace=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
