#!/usr/bin/env python
"""Export a training run into models/ with its training history in the manifest.

    python tools/ship_model.py runs/NAME --id ID --name NAME [--default] [--step Δ]
    python tools/ship_model.py runs/ssim-default --id rdg-ssim-l8-n96 --name ssim --ladder 4:1.4,5:1.05 --default-quality 5
    python tools/ship_model.py RUN --id ID --ladder ... --supersede OLD-q1,OLD-q2 --history-from EARLIER-RUN

``--ladder Q:Δ,...`` exports one network as a quantization-step ladder: entry ``ID-qQ`` (name
``NAME-qQ``) has quality Q and tables frozen at step Δ, and all of them share one weights file
``ID-SHA8.pt``.

``--supersede ID,...`` first takes an older ladder's points off the ladder (they keep their
files, so every stream written with them still decodes; ``rdcodec models`` marks them), which
frees their qualities and the default mark for the new ladder. ``--history-from RUN`` puts the
phases of the run a fine-tune started from (its ``init_from``) before this run's own, e.g. the
long run before a decoder phase.

Reads ``RUN/checkpoint.pt`` and ``RUN/log.jsonl``: every ``start`` record (one per launch or
resume) becomes a phase with its step range and configuration, so the manifest says exactly how
the weights were made. Then measure it with ``tools/bench_codec.py ../shared/data/kodak
--model ID --update-manifest``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def training_history(run: Path) -> dict:
    from rdcodec.train.run_log import log_path, read_records

    records = read_records(log_path(run))
    starts = [r for r in records if r["kind"] == "start"]
    last_step = max((r["step"] for r in records if r["kind"] in ("train", "val")), default=0)
    phases = []
    for i, s in enumerate(starts):
        end = starts[i + 1]["step"] if i + 1 < len(starts) else last_step
        if end <= s["step"]:
            continue
        cfg = s["config"]
        phases.append(
            {
                "from_step": s["step"],
                "to_step": end,
                "objective": cfg["objective"],
                "lr": cfg["lr"],
                "lr_final": cfg.get("lr_final"),
                "lr_decay_start": cfg.get("lr_decay_start"),
                "prior_lr_scale": cfg.get("prior_lr_scale", 1.0),
                "batch_size": cfg["batch_size"],
                "crop": cfg["crop"],
                "bf16": cfg["bf16"],
                "init_from": cfg.get("init_from"),
                **{k: cfg[k] for k in ("phase", "step_range", "scale_range") if cfg.get(k) not in (None, "eq5")},
            }
        )
    vals = [r for r in records if r["kind"] == "val"]
    first = starts[0]["config"] if starts else {}
    return {
        "steps": last_step,
        "data": first.get("train_dirs"),
        "validation": first.get("val_dir"),
        "seed": first.get("seed"),
        "phases": phases,
        "final_validation": vals[-1] if vals else None,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--id", required=True)
    parser.add_argument("--name", default=None)
    parser.add_argument("--description", default="")
    parser.add_argument("--default", action="store_true")
    parser.add_argument("--quality", type=int, default=None)
    parser.add_argument("--step", type=float, default=1.0, help="quantization step Δ")
    parser.add_argument("--ladder", default=None, help="Q:Δ,... export one entry per quality level Q at step Δ")
    parser.add_argument("--default-quality", type=int, default=None, help="with --ladder: this point is the default model")
    parser.add_argument("--models-dir", type=Path, default=None)
    parser.add_argument("--checkpoint", type=Path, default=None, help="default RUN/checkpoint.pt")
    parser.add_argument("--commands", nargs="*", default=[], help="commands that reproduce the run, in order")
    parser.add_argument("--note", default=None, help="free-text note on the run (e.g. phases before logging started)")
    parser.add_argument("--supersede", default=None, help="ID,... older ladder points the new entries replace")
    parser.add_argument("--history-from", type=Path, default=None, help="the run this one was initialised from")
    args = parser.parse_args(argv)

    from rdcodec.zoo.export import export_trained, load_trained_network
    from rdcodec.zoo.registry import Registry

    checkpoint = args.checkpoint or args.run / "checkpoint.pt"
    history = training_history(args.run)
    if args.history_from is not None:
        earlier = training_history(args.history_from)
        history["phases"] = earlier["phases"] + history["phases"]
        history["steps"] = earlier["steps"] + history["steps"]
        history["data"], history["seed"] = earlier["data"], earlier["seed"]
    network, state = load_trained_network(checkpoint)
    if args.supersede:
        replaced = Registry(args.models_dir).supersede([i.strip() for i in args.supersede.split(",")], by=args.id)
        print(f"superseded {', '.join(e.id for e in replaced)} by {args.id}", file=sys.stderr)
    history["commands"] = args.commands
    if args.note:
        history["note"] = args.note
    if args.ladder:
        points = [(int(q), float(d)) for q, d in (item.split(":") for item in args.ladder.split(","))]
    else:
        points = [(args.quality, args.step)]
    for quality, step in points:
        suffix = "" if not args.ladder else f"-q{quality}"
        default = args.default if not args.ladder else quality == args.default_quality
        description = args.description + (f"; quantization step {step:g}" if step != 1.0 else "")
        entry = export_trained(
            network,
            state,
            Registry(args.models_dir),
            args.id + suffix,
            name=(args.name or args.id) + suffix,
            description=description,
            default=default,
            quality=quality,
            training={**history, "quantization_step": step},
            step=step,
            weights_stem=args.id if args.ladder else None,
        )
        print(f"shipped {entry.id}: {entry.weights} + {entry.tables} ({history['steps']} steps, Δ={step:g})", file=sys.stderr)
    from rdcodec.zoo.export import export_grid

    grid = export_grid(Registry(args.models_dir), entry)  # format version 2: one grid entry per network
    print(f"shipped {grid.id}: {grid.tables}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
