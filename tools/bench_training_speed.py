#!/usr/bin/env python
"""Training throughput of the recipe's options, measured side by side in one process.

    python tools/bench_training_speed.py ../shared/data/train/cid22 -o docs/rd/campaign/training-speed.json [--steps 12]

Each variant runs ``--warmup`` untimed and ``--steps`` timed optimisation steps of the real
training step (:func:`rdcodec.train.codec_task.optimization_step`: eq. 5, Adam, gradient clipping) on
crops from the folder, with the network the campaign trains (N = 96, M = 128 unless given).
Variants: float32 against bfloat16 autocast, channels_last, 128² × 16 against 256² × 4 crops
(the same pixels per step), ``torch.compile`` of the training pass (config ``compile``; its
one-off compile falls in the warm-up steps), and the crop sampler alone with and without
random rescaling, so the data path's share of a step is visible. Report: seconds per step
(median of the timed steps, and every timed step), steps per second and ``speedup`` against
the first variant run (``speedup_against``); what else ran on the machine is the caller's to
record (``--note``). On a busy machine, compare variants with ``--interleave``, which
alternates them step by step so that each sees the same load:

    python tools/bench_training_speed.py ../shared/data/train/cid22 --threads 1 --interleave \
        --variants "bf16 channels_last 128x16,bf16 channels_last compile 128x16" -o OUT.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

VARIANTS = [  # name, crop, batch, bf16, channels_last, compile
    ("fp32 128x16", 128, 16, False, False, False),
    ("bf16 128x16", 128, 16, True, False, False),
    ("bf16 channels_last 128x16", 128, 16, True, True, False),
    ("bf16 256x4", 256, 4, True, False, False),
    ("bf16 channels_last 256x4", 256, 4, True, True, False),
    ("bf16 channels_last compile 128x16", 128, 16, True, True, True),
]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("folder", type=Path, help="training images")
    p.add_argument("-o", "--output", type=Path, required=True)
    p.add_argument("--steps", type=int, default=12)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--N", type=int, default=96)
    p.add_argument("--M", type=int, default=128)
    p.add_argument("--note", default="", help="what else ran on the machine")
    p.add_argument(
        "--variants",
        default=None,
        help="comma-separated variant names to run (default: all); with --interleave they alternate step by step",
    )
    p.add_argument(
        "--interleave",
        action="store_true",
        help="alternate the variants step by step in one loop (fairer on a busy machine: each sees the same load)",
    )
    args = p.parse_args(argv)

    import torch

    from rdcodec.model.network import NetworkConfig, RDAutoencoder
    from rdcodec.train.codec_task import loss_terms, optimization_step
    from rdcodec.train.data import CropSampler, load_images
    from rdcodec.train.objective import ObjectiveConfig

    torch.set_num_threads(args.threads)
    images = load_images([str(args.folder)])
    objective = ObjectiveConfig(metric="ssim", lambda1=8.0, lambda2=8.0)
    chosen = VARIANTS
    if args.variants:
        names = args.variants.split(",")
        unknown = sorted(set(names) - {v[0] for v in VARIANTS})
        if unknown:
            p.error(f"unknown variant(s): {', '.join(unknown)}; known: {', '.join(v[0] for v in VARIANTS)}")
        chosen = [v for v in VARIANTS if v[0] in names]

    def setup(variant):
        name, crop, batch, bf16, channels_last, compiled = variant
        torch.manual_seed(0)
        model = RDAutoencoder(NetworkConfig(args.N, args.M))
        if channels_last:
            model = model.to(memory_format=torch.channels_last)
        main_params, _ = model.parameter_groups()
        optimizer = torch.optim.Adam(main_params, lr=1e-4)
        sampler = CropSampler(images, crop, seed=0)
        loss_fn = torch.compile(loss_terms) if compiled else loss_terms
        return {
            "model": model,
            "params": main_params,
            "optimizer": optimizer,
            "sampler": sampler,
            "loss_fn": loss_fn,
            "times": [],
        }

    def one_step(variant, state, timed):
        name, crop, batch, bf16, channels_last, compiled = variant
        x = state["sampler"].batch(batch)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        t0 = time.perf_counter()
        optimization_step(state["model"], state["optimizer"], state["params"], x, objective, 1.0, bf16, 1.0, state["loss_fn"])
        if timed:
            state["times"].append(time.perf_counter() - t0)

    states = {}
    if args.interleave:
        states = {v[0]: setup(v) for v in chosen}
        for i in range(args.warmup + args.steps):
            for v in chosen:
                one_step(v, states[v[0]], i >= args.warmup)
    else:
        for v in chosen:
            states[v[0]] = state = setup(v)
            for i in range(args.warmup + args.steps):
                one_step(v, state, i >= args.warmup)
    rows = []
    for name, crop, batch, bf16, channels_last, compiled in chosen:
        times = states[name]["times"]
        sec = statistics.median(times)
        rows.append(
            {
                "variant": name,
                "crop": crop,
                "batch": batch,
                "bf16": bf16,
                "channels_last": channels_last,
                "compile": compiled,
                "sec_per_step": sec,
                "steps_per_sec": 1.0 / sec,
                "step_seconds": times,
            }
        )
        print(json.dumps(rows[-1]), file=sys.stderr)
    base = rows[0]["sec_per_step"]
    for row in rows:
        row["speedup"] = base / row["sec_per_step"]

    sampling = []
    for scale_range in (None, (0.5, 1.0)):
        sampler = CropSampler(images, 128, seed=0, scale_range=scale_range)
        t0 = time.perf_counter()
        for _ in range(20):
            sampler.batch(16)
        sampling.append({"crop": 128, "batch": 16, "scale_range": scale_range, "sec_per_batch": (time.perf_counter() - t0) / 20})
    report = {
        "schema": "rdcodec.training-speed/2",
        "speedup_against": rows[0]["variant"],
        "network": {"N": args.N, "M": args.M},
        "threads": args.threads,
        "torch": torch.__version__,
        "machine": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "note": args.note,
        "timed_steps": args.steps,
        "interleaved": args.interleave,
        "variants": rows,
        "sampler": sampling,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
