#!/usr/bin/env python
"""Training speed under glibc's default heap settings and with freed memory kept, side by side.

    python tools/bench_heap.py ../shared/data/train/cid22 -o docs/training/heap-speed.json \
        --variant "bf16 channels_last compile 128x16" --rounds 3 --note "beside ..."

A heap setting applies to a whole process, so each mode runs in its own process of
``tools/bench_training_speed.py`` (one variant, ``--warmup`` untimed and ``--steps`` timed
steps), and the modes take turns, round after round (A B C A B C …), so that each sees the same
load on a shared machine. Modes:

- ``default``: glibc's own settings;
- ``retain``: :func:`rdcodec.train.heap.advise_huge_pages` and
  :func:`~rdcodec.train.heap.retain_freed_memory` in the process, before torch allocates
  anything (what ``rdcodec train`` does unless the config's ``retain_freed_memory`` is false);
- ``tunables``: no call, but the environment variable ``GLIBC_TUNABLES`` (``--tunables``;
  default :data:`rdcodec.train.heap.GLIBC_TUNABLES`), the same idea from outside the process, with transparent huge pages for the heap.

Report: per mode, the median over rounds of each run's median seconds per step, minor page faults,
kernel seconds and CPU seconds (user + kernel) per step; the speed-up against ``default`` in wall
time (``speedup``) and in CPU time (``cpu_speedup``, steadier where other processes share the
cores); and every run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rdcodec.train.heap import GLIBC_TUNABLES  # noqa: E402  (imports no torch)

MODES = ("default", "retain", "tunables")


def run_mode(mode: str, args, out: Path) -> dict:
    """One process of bench_training_speed.py in ``mode``; its variant row."""
    env = {k: v for k, v in os.environ.items() if k not in ("GLIBC_TUNABLES", "THP_MEM_ALLOC_ENABLE")}
    env["OMP_NUM_THREADS"] = str(args.threads)
    if mode == "tunables":
        env["GLIBC_TUNABLES"] = args.tunables
    cmd = [sys.executable, str(ROOT / "tools" / "bench_training_speed.py"), str(args.folder), "-o", str(out)]
    cmd += ["--variants", args.variant, "--threads", str(args.threads), "--steps", str(args.steps)]
    cmd += ["--warmup", str(args.warmup), "--heap", "retain" if mode == "retain" else "default"]
    cmd += [f"--{k}={v}" for k, v in args.network]
    done = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if done.returncode != 0:
        raise SystemExit(f"bench_heap: {mode} run failed:\n{done.stderr[-2000:]}")
    report = json.loads(out.read_text())
    row = report["variants"][0]
    return {
        "mode": mode,
        "heap_retained": report["heap_retained"],
        "sec_per_step": row["sec_per_step"],
        "minor_faults_per_step": row["minor_faults_per_step"],
        "system_seconds_per_step": row["system_seconds_per_step"],
        "cpu_seconds_per_step": row["cpu_seconds_per_step"],
    }


def summarise(runs: list[dict], modes: list[str]) -> list[dict]:
    rows = []
    for mode in modes:
        mine = [r for r in runs if r["mode"] == mode]
        rows.append(
            {
                "mode": mode,
                "runs": len(mine),
                "sec_per_step": statistics.median(r["sec_per_step"] for r in mine),
                "minor_faults_per_step": statistics.median(r["minor_faults_per_step"] for r in mine),
                "system_seconds_per_step": statistics.median(r["system_seconds_per_step"] for r in mine),
                "cpu_seconds_per_step": statistics.median(r["cpu_seconds_per_step"] for r in mine),
            }
        )
    base, base_cpu = rows[0]["sec_per_step"], rows[0]["cpu_seconds_per_step"]
    for row in rows:
        row["speedup"] = base / row["sec_per_step"]
        row["cpu_speedup"] = base_cpu / row["cpu_seconds_per_step"]
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("folder", type=Path, help="training images (faces for a face variant)")
    p.add_argument("-o", "--output", type=Path, required=True)
    p.add_argument("--variant", default="bf16 channels_last compile 128x16", help="one bench_training_speed.py variant")
    p.add_argument("--modes", default=",".join(MODES), help=f"comma-separated, the first is the base ({', '.join(MODES)})")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--steps", type=int, default=8)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--tunables", default=GLIBC_TUNABLES, help="GLIBC_TUNABLES for the tunables mode")
    p.add_argument("--N", type=int, default=None)
    p.add_argument("--M", type=int, default=None)
    p.add_argument("--face-hidden", type=int, default=None)
    p.add_argument("--note", default="", help="what else ran on the machine")
    args = p.parse_args(argv)
    modes = args.modes.split(",")
    if unknown := sorted(set(modes) - set(MODES)):
        p.error(f"unknown mode(s): {', '.join(unknown)}; known: {', '.join(MODES)}")
    args.network = [(k.replace("_", "-"), v) for k, v in (("N", args.N), ("M", args.M), ("face_hidden", args.face_hidden)) if v]

    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(args.rounds):
            for mode in modes:
                run = run_mode(mode, args, Path(tmp) / f"{mode}-{round_}.json")
                run["round"] = round_
                runs.append(run)
                print(json.dumps(run), file=sys.stderr)
    report = {
        "schema": "rdcodec.heap-speed/1",
        "variant": args.variant,
        "threads": args.threads,
        "timed_steps": args.steps,
        "rounds": args.rounds,
        "tunables": args.tunables,
        "machine": platform.processor() or platform.machine(),
        "libc": "-".join(platform.libc_ver()),
        "cpus": os.cpu_count(),
        "note": args.note,
        "speedup_against": modes[0],
        "modes": summarise(runs, modes),
        "runs": runs,
    }
    from rdcodec import atomic_file

    args.output.parent.mkdir(parents=True, exist_ok=True)
    atomic_file.write_json(args.output, report, replace=True)
    print(json.dumps(report["modes"], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
