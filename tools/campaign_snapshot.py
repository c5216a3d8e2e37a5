#!/usr/bin/env python
"""Weights-only snapshots of a long training run, small enough to commit, and their restore.

    python tools/campaign_snapshot.py save RUN_DIR/checkpoint.pt docs/rd/campaign/ssim-snapshot.pt
    python tools/campaign_snapshot.py restore docs/rd/campaign/ssim-snapshot.pt RUN_DIR

``save`` keeps the network weights in bfloat16 (about 4 MB for N = 96, M = 128), the step,
the training wall time, the validation history, the config and the sampler's RNG — not the
optimiser moments. ``restore`` writes ``RUN_DIR/checkpoint.pt`` in the training schema
(:mod:`rdcodec.train.checkpoint`) from it, so ``rdcodec train --run-dir RUN_DIR`` continues
at the snapshot's step on a machine that never had the full checkpoint (Adam's moments start
afresh; the learning-rate schedule is a function of the step and carries on). A run directory
that already holds a checkpoint is refused.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SNAPSHOT_SCHEMA = "rdcodec.weights-snapshot/1"


def save(checkpoint: Path, output: Path) -> dict:
    import torch

    from rdcodec.train.checkpoint import load_checkpoint, save_checkpoint

    state = load_checkpoint(checkpoint)
    weights = {k: (v.to(torch.bfloat16) if v.is_floating_point() else v) for k, v in state["model"].items()}
    snapshot = {
        "snapshot_schema": SNAPSHOT_SCHEMA,
        "task": state["task"],
        "model": weights,
        "step": state["step"],
        "train_seconds": state["train_seconds"],
        "history": state["history"],
        "task_state": state["task_state"],
        "network": state.get("network"),
        "objective": state.get("objective"),
        "config": state.get("config"),
    }
    if "bf16_autocast" in state:  # what the run's last steps ran (rdcodec.train.checkpoint.trained_under_bf16)
        snapshot["bf16_autocast"] = state["bf16_autocast"]
    save_checkpoint(snapshot, output)
    return snapshot


def restore(snapshot_path: Path, run_dir: Path) -> Path:
    import torch

    from rdcodec.train.checkpoint import save_checkpoint

    target = run_dir / "checkpoint.pt"
    if target.exists():
        raise FileExistsError(f"{target} exists: that run needs no restore")
    snap = torch.load(snapshot_path, map_location="cpu", weights_only=False)
    if snap.get("snapshot_schema") != SNAPSHOT_SCHEMA:
        raise ValueError(f"{snapshot_path}: not a weights snapshot")
    run_dir.mkdir(parents=True, exist_ok=True)
    state = {k: v for k, v in snap.items() if k not in ("snapshot_schema", "schema")}
    state["model"] = {k: (v.float() if v.is_floating_point() else v) for k, v in snap["model"].items()}
    state.update(optimizer=None, aux_optimizer=None, torch_rng=torch.get_rng_state())
    save_checkpoint(state, target)
    return target


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("save")
    s.add_argument("checkpoint", type=Path)
    s.add_argument("output", type=Path)
    r = sub.add_parser("restore")
    r.add_argument("snapshot", type=Path)
    r.add_argument("run_dir", type=Path)
    args = p.parse_args(argv)
    try:
        if args.command == "save":
            snap = save(args.checkpoint, args.output)
            print(f"{args.output}: step {snap['step']}, {snap['train_seconds'] / 3600:.2f} h", file=sys.stderr)
        else:
            print(f"restored {restore(args.snapshot, args.run_dir)}", file=sys.stderr)
    except (OSError, ValueError) as exc:
        print(f"campaign_snapshot: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
