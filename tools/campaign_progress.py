#!/usr/bin/env python
"""The campaign's progress log: validation at fixed operating points over steps and hours.

    python tools/campaign_progress.py RUN_DIR [RUN_DIR ...] --name ssim \
        --out docs/rd/campaign/training-progress-ssim.json --plot docs/rd/campaign/training-progress-ssim.png \
        [--kodak EVAL.json ...]

Reads each run's ``log.jsonl`` (several run directories in order: pilots, then the long run
started from them) and collects every validation record — step, training hours so far, and for
each quantization step Δ the estimated bpp, SSIM and PSNR on the validation crops — plus, for
each ``--kodak`` report (``tools/compare_sweeps.py`` or ``rdcodec rd-curve`` JSON with a
``step`` and ``bd_rate`` entries, written every ~20 000 steps), the Kodak BD-rates. Writes the
JSON log and a plot (SSIM and bpp per Δ against steps).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def collect(run_dirs: list[Path]) -> list[dict]:
    """Validation rows in step order; a later run's records replace an earlier one's at the same step."""
    rows: dict[tuple[int, float], dict] = {}
    for run in run_dirs:
        seconds = 0.0
        for line in (run / "log.jsonl").read_text().splitlines():
            if not line.strip():
                continue
            rec = json.loads(line)
            if rec["kind"] == "train":
                seconds = rec.get("train_seconds", seconds)
            elif rec["kind"] == "val":
                step_size = float(rec.get("quant_step", 1.0))
                rows[(rec["step"], step_size)] = {
                    "run": run.name,
                    "step": rec["step"],
                    "hours": round(seconds / 3600, 4),
                    "quant_step": step_size,
                    "bpp": rec["bpp"],
                    "ssim": rec["ssim"],
                    "psnr": rec["psnr"],
                }
    return [rows[k] for k in sorted(rows)]


def plot(rows: list[dict], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from rdcodec import atomic_file

    fig, (ax_q, ax_r) = plt.subplots(1, 2, figsize=(11, 4))
    for step_size in sorted({r["quant_step"] for r in rows}):
        pts = [r for r in rows if r["quant_step"] == step_size]
        ax_q.plot([r["step"] for r in pts], [r["ssim"] for r in pts], marker=".", label=f"Δ = {step_size:g}")
        ax_r.plot([r["step"] for r in pts], [r["bpp"] for r in pts], marker=".", label=f"Δ = {step_size:g}")
    ax_q.set(xlabel="training step", ylabel="validation SSIM", title=f"{title}: quality per Δ")
    ax_r.set(xlabel="training step", ylabel="validation bpp (estimated)", title=f"{title}: rate per Δ")
    ax_r.set_yscale("log")
    for ax in (ax_q, ax_r):
        ax.grid(alpha=0.3)
    ax_q.legend(fontsize=7)
    fig.tight_layout()
    with atomic_file.replacing(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("runs", type=Path, nargs="+")
    p.add_argument("--name", required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--plot", type=Path, default=None)
    p.add_argument("--kodak", type=Path, nargs="*", default=[], help="Kodak evaluations to list with their step")
    args = p.parse_args(argv)
    from rdcodec import atomic_file

    rows = collect(args.runs)
    kodak = [json.loads(k.read_text()) for k in args.kodak]
    report = {
        "schema": "rdcodec.campaign-progress/1",
        "network": args.name,
        "runs": [str(r) for r in args.runs],
        "validation": rows,
        "kodak": kodak,
    }
    atomic_file.write_text(args.out, json.dumps(report, indent=1) + "\n")
    if args.plot:
        plot(rows, args.plot, args.name)
    print(f"{args.out}: {len(rows)} validation rows, last step {rows[-1]['step'] if rows else 0}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
