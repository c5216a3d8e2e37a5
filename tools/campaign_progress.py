#!/usr/bin/env python
"""The campaign's progress log: validation at fixed operating points over steps and hours.

    python tools/campaign_progress.py RUN_DIR [RUN_DIR ...] --name ssim \
        --out docs/rd/campaign/training-progress-ssim.json --plot docs/rd/campaign/training-progress-ssim.png \
        [--kodak EVAL.json ...] [--cid22 EVAL.json ...]

Reads each run's ``log.jsonl`` (several run directories in order: pilots, then the long run
started from them) and collects every validation record — step, training hours so far, and for
each quantization step Δ the estimated bpp, SSIM and PSNR on the validation crops — plus, for
each ``--kodak`` / ``--cid22`` report of ``tools/checkpoint_rd.py`` (written every ~20 000
steps), its step, image count and BD-rate summary: the real-file checks on Kodak and on
``val/cid22``. (A ``tools/compare_sweeps.py`` report is kept whole.) Writes the JSON log and a
plot (SSIM and bpp per Δ against steps).

The log already at ``--out`` is kept and extended, never shortened: its validation rows and
checks stay; a run log's record replaces the row at the same step and Δ, and a check measured
again (same step and source file) replaces the earlier one. A log of another network
(``--name``) is refused. A run rebuilt on a
new machine from a committed snapshot (``tools/campaign_snapshot.py restore``) starts a fresh
``log.jsonl`` at the snapshot's step, so the committed log is the only record of the steps
before it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def collect(run_dirs: list[Path]) -> list[dict]:
    """Validation rows in step order; a later record (a later run's, or a resumed run's repeat)
    replaces an earlier one at the same step and Δ."""
    from rdcodec.train.run_log import log_path, read_records

    rows: dict[tuple[int, float], dict] = {}
    for run in run_dirs:
        seconds = 0.0
        for rec in read_records(log_path(run)):
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
                    # the network as trained (bf16-rounded transforms) or its float32 master weights;
                    # records before session 20 have no field: master weights
                    "weights": rec.get("weights", "float32"),
                }
    return [rows[k] for k in sorted(rows)]


def compact(report: dict, source: Path) -> dict:
    """The log's line for one real-file check: an rd-curve report (``tools/checkpoint_rd.py``)
    keeps its step, image count and BD-rate summary, not its per-image curves; other reports
    (``tools/compare_sweeps.py``) are kept whole; each names its file."""
    if "curves" not in report:
        return {"source": str(source), **report}
    kept = {k: report[k] for k in ("step", "checkpoint", "quant_steps", "format_version", "summary") if k in report}
    return {"source": str(source), "images": len(report.get("images", [])), **kept}


def _check_key(report: dict):
    """What makes two checks the same check: the step and the report file (its name only, so a
    path written another way still matches); reports without them are compared whole."""
    if "source" in report and "step" in report:
        return (report["step"], Path(report["source"]).name)
    return json.dumps(report, sort_keys=True)


def merge(previous: dict | None, rows: list[dict], reports: dict[str, list[dict]]) -> tuple[list[dict], dict]:
    """The committed log extended by new rows and reports (new rows win at the same step and Δ)."""
    previous = previous or {}
    by_key = {(r["step"], float(r["quant_step"])): r for r in previous.get("validation", [])}
    by_key.update({(r["step"], float(r["quant_step"])): r for r in rows})
    merged_reports = {}
    for name in ("kodak", "cid22"):
        kept = list(previous.get(name, []))
        for report in reports.get(name, []):
            kept = [r for r in kept if _check_key(r) != _check_key(report)] + [report]
        merged_reports[name] = sorted(kept, key=lambda r: r.get("step") or 0)
    return [by_key[k] for k in sorted(by_key)], merged_reports


QUALITY_AXES = {"ssim": "validation SSIM", "psnr": "validation PSNR (dB)"}


def plot(rows: list[dict], path: Path, title: str, quality: str = "ssim") -> None:
    """Quality (``quality``: the network's own metric, SSIM or PSNR) and rate per Δ against steps."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from rdcodec import atomic_file

    fig, (ax_q, ax_r) = plt.subplots(1, 2, figsize=(11, 4))
    for step_size in sorted({r["quant_step"] for r in rows}):
        pts = [r for r in rows if r["quant_step"] == step_size]
        ax_q.plot([r["step"] for r in pts], [r[quality] for r in pts], marker=".", label=f"Δ = {step_size:g}")
        ax_r.plot([r["step"] for r in pts], [r["bpp"] for r in pts], marker=".", label=f"Δ = {step_size:g}")
    ax_q.set(xlabel="training step", ylabel=QUALITY_AXES[quality], title=f"{title}: quality per Δ")
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
    p.add_argument("--quality", choices=sorted(QUALITY_AXES), default="ssim", help="the plot's quality axis")
    p.add_argument("--kodak", type=Path, nargs="*", default=[], help="Kodak evaluations to list with their step")
    p.add_argument("--cid22", type=Path, nargs="*", default=[], help="val/cid22 evaluations to list with their step")
    args = p.parse_args(argv)
    from rdcodec import atomic_file

    previous = json.loads(args.out.read_text()) if args.out.exists() else None
    if previous is not None and previous.get("network") != args.name:
        p.error(f"{args.out} is the log of the {previous.get('network')!r} network, not {args.name!r}")
    new_reports = {
        "kodak": [compact(json.loads(k.read_text()), k) for k in args.kodak],
        "cid22": [compact(json.loads(k.read_text()), k) for k in args.cid22],
    }
    from rdcodec.train.run_log import RunLogError

    try:
        validation = collect(args.runs)
    except (RunLogError, OSError) as exc:
        p.error(str(exc))
    rows, reports = merge(previous, validation, new_reports)
    runs = list((previous or {}).get("runs", []))
    runs += [str(r) for r in args.runs if str(r) not in runs]
    report = {
        "schema": "rdcodec.campaign-progress/1",
        "network": args.name,
        "runs": runs,
        "validation": rows,
        **reports,
    }
    atomic_file.write_text(args.out, json.dumps(report, indent=1) + "\n")
    if args.plot:
        plot(rows, args.plot, args.name, args.quality)
    print(f"{args.out}: {len(rows)} validation rows, last step {rows[-1]['step'] if rows else 0}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
