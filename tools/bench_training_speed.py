#!/usr/bin/env python
"""Training throughput of the recipe's options, measured side by side in one process.

    python tools/bench_training_speed.py ../shared/data/train/cid22 -o docs/rd/campaign/training-speed.json [--steps 12]

Each variant runs ``--warmup`` untimed and ``--steps`` timed optimisation steps of the real
training step (:func:`rdcodec.train.codec_task.optimization_step`: eq. 5, Adam, gradient clipping) on
crops from the folder, with the network the campaign trains (N = 96, M = 128 unless given).
Variants: float32 against bfloat16 autocast (on a CPU without bfloat16 instructions, the
float32 ones are the choice), channels_last, 128² × 16 against 256² × 4 crops
(the same pixels per step), ``torch.compile`` of the training pass (config ``compile``; its
one-off compile falls in the warm-up steps), and the crop sampler alone with and without
random rescaling, so the data path's share of a step is visible; and §5.3's face network
(appendix F, batch 64 × 64², faces cropped from the folder's images) in float32 and under
bfloat16 autocast. Report: seconds per step
(median of the timed steps, and every timed step), minor page faults, kernel seconds and CPU
seconds (user + kernel) per step (medians), steps per second and ``speedup`` against the first variant run
(``speedup_against``); what else ran on the machine is the caller's to record (``--note``).
``--heap retain`` first keeps freed memory in the heap, as training does
(:mod:`rdcodec.train.heap`); a heap setting is process-wide, so ``tools/bench_heap.py`` compares
it in separate processes. On a busy machine, compare variants with ``--interleave``, which
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

MEASURED = ("times", "faults", "system", "cpu")  # per timed step: wall s, minor faults, kernel s, CPU s

VARIANTS = [  # name, crop, batch, bf16, channels_last, compile
    ("fp32 128x16", 128, 16, False, False, False),
    ("bf16 128x16", 128, 16, True, False, False),
    ("bf16 channels_last 128x16", 128, 16, True, True, False),
    ("bf16 256x4", 256, 4, True, False, False),
    ("bf16 channels_last 256x4", 256, 4, True, True, False),
    ("bf16 channels_last compile 128x16", 128, 16, True, True, True),
    # a CPU without bfloat16 instructions (AVX2 only) trains in float32 (rdcodec.train.codec_task.usable_bf16)
    ("fp32 channels_last 128x16", 128, 16, False, True, False),
    ("fp32 compile 128x16", 128, 16, False, False, True),
    ("fp32 channels_last compile 128x16", 128, 16, False, True, True),
    # §5.3's face network (appendix F, rdcodec.model.face), batch 64 of 64² faces
    ("face fp32", 64, 64, False, False, False),
    ("face bf16", 64, 64, True, False, False),
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
    p.add_argument("--face-hidden", type=int, default=8192, help="the face network's FC width (appendix F: 8192)")
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
    p.add_argument(
        "--heap",
        choices=("default", "retain"),
        default="default",
        help="retain: keep freed memory in the heap, on huge pages (rdcodec.train.heap, as training does by default); "
        "default: glibc's own settings",
    )
    args = p.parse_args(argv)

    heap_retained = False
    if args.heap == "retain":  # as `rdcodec train` does, before torch allocates anything
        from rdcodec.train.heap import advise_huge_pages, retain_freed_memory

        advise_huge_pages()
        heap_retained = retain_freed_memory()

    import resource

    import torch

    from rdcodec.model.face import load_faces
    from rdcodec.model.network import NetworkConfig, RDAutoencoder
    from rdcodec.train.codec_task import loss_terms, optimization_step
    from rdcodec.train.data import CropSampler, load_images
    from rdcodec.train.objective import ObjectiveConfig

    torch.set_num_threads(args.threads)
    objective = ObjectiveConfig(metric="ssim", lambda1=8.0, lambda2=8.0)
    chosen = VARIANTS
    if args.variants:
        names = args.variants.split(",")
        unknown = sorted(set(names) - {v[0] for v in VARIANTS})
        if unknown:
            p.error(f"unknown variant(s): {', '.join(unknown)}; known: {', '.join(v[0] for v in VARIANTS)}")
        chosen = [v for v in VARIANTS if v[0] in names]
    codec_variants = any(not v[0].startswith("face") for v in chosen)
    images = load_images([str(args.folder)]) if codec_variants else None

    faces = None

    def setup(variant):
        nonlocal faces
        name, crop, batch, bf16, channels_last, compiled = variant
        torch.manual_seed(0)
        if name.startswith("face"):
            from rdcodec.model.face import FaceConfig, FaceRaDOGAGA

            if faces is None:
                faces = load_faces(args.folder, limit=4 * batch, size=crop)
            model = FaceRaDOGAGA(FaceConfig(hidden=args.face_hidden, size=crop))
            main_params = [p for n, p in model.named_parameters() if not n.endswith("quantiles")]
            generator = torch.Generator().manual_seed(0)
            optimizer = torch.optim.Adam(main_params, lr=1e-4)
            return {"model": model, "optimizer": optimizer, "generator": generator, **{k: [] for k in MEASURED}}
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
            **{k: [] for k in MEASURED},
        }

    def one_step(variant, state, timed):
        name, crop, batch, bf16, channels_last, compiled = variant
        if name.startswith("face"):  # FaceTask.train_step's main step: eq. 5 with (λ1, λ2) = (1, 0.1)
            x = faces[torch.randint(len(faces), (batch,), generator=state["generator"])]
            usage, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
            state["optimizer"].zero_grad(set_to_none=True)
            state["model"].loss(x, 1.0, 0.1, bf16=bf16).total.backward()
            state["optimizer"].step()
            if timed:
                record(state, t0, usage)
            return
        x = state["sampler"].batch(batch)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        usage, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
        optimization_step(state["model"], state["optimizer"], state["params"], x, objective, 1.0, bf16, 1.0, state["loss_fn"])
        if timed:
            record(state, t0, usage)

    def record(state, t0, usage):
        """A timed step: wall seconds, minor page faults and seconds in the kernel."""
        state["times"].append(time.perf_counter() - t0)
        now = resource.getrusage(resource.RUSAGE_SELF)
        state["faults"].append(now.ru_minflt - usage.ru_minflt)
        state["system"].append(now.ru_stime - usage.ru_stime)
        state["cpu"].append(now.ru_utime + now.ru_stime - usage.ru_utime - usage.ru_stime)

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
        times, faults, system, cpu = (states[name][k] for k in MEASURED)
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
                "minor_faults_per_step": statistics.median(faults),
                "system_seconds_per_step": statistics.median(system),
                "cpu_seconds_per_step": statistics.median(cpu),
            }
        )
        print(json.dumps(rows[-1]), file=sys.stderr)
    base = rows[0]["sec_per_step"]
    for row in rows:
        row["speedup"] = base / row["sec_per_step"]

    sampling = []  # the codec's crop sampler (only with a codec variant)
    for scale_range in (None, (0.5, 1.0)) if codec_variants else ():
        sampler = CropSampler(images, 128, seed=0, scale_range=scale_range)
        t0 = time.perf_counter()
        for _ in range(20):
            sampler.batch(16)
        sampling.append({"crop": 128, "batch": 16, "scale_range": scale_range, "sec_per_batch": (time.perf_counter() - t0) / 20})
    report = {
        "schema": "rdcodec.training-speed/3",
        "speedup_against": rows[0]["variant"],
        "network": {"N": args.N, "M": args.M},
        "threads": args.threads,
        "torch": torch.__version__,
        "machine": platform.processor() or platform.machine(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),  # AVX2, AVX512, …: what the kernels use
        "cpus": os.cpu_count(),
        "note": args.note,
        "heap": args.heap,
        "heap_retained": heap_retained,
        "timed_steps": args.steps,
        "interleaved": args.interleave,
        "variants": rows,
        "sampler": sampling,
    }
    from rdcodec import atomic_file

    args.output.parent.mkdir(parents=True, exist_ok=True)
    atomic_file.write_json(args.output, report, replace=True)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
