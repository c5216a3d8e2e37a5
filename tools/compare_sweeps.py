#!/usr/bin/env python
"""BD-rate between Δ sweeps of trained networks, or between any two rate–distortion curves.

    python tools/compare_sweeps.py ANCHOR TEST [TEST2 ...] [-o comparison.json]

Each argument names one curve of real-file rate and quality measured on the same images:

- ``SWEEP.json``: a ``tools/step_sweep.py --quality`` report (one network over Δ);
- ``REPORT.json``: a ``tools/checkpoint_rd.py`` report, read by its checkpoint's own curve
  (``step-STEP``; the reference curves it also holds are ignored);
- ``REPORT.json:NAME``: the curve called NAME in any ``rdcodec rd-curve --json`` report (a
  ladder such as ``docs/rd/kodak-curve.json:rdcodec-ssim``, a baseline such as
  ``docs/rd/kodak-baselines-avif-speed4.json:avif-speed4``);
- ``LOG.jsonl:STEP``: the validation points a training run's ``log.jsonl`` holds for STEP (one
  per Δ of the config's ``val_steps``; where a step was validated twice, as after a resume,
  the last record wins), so the campaign's pilots compare at a step from their committed logs.

For every TEST against ANCHOR: BD-rate on SSIM-dB (−10·log10(1 − SSIM)) and on PSNR over the
quality range both cover (negative: TEST needs fewer bits), the bpp range each curve covers, and
per TEST point the ratio of its rate to the anchor's at the same quality on each axis (``null``
outside the anchor's quality range): where BD-rate averages, the ratios show where TEST loses.
Used to judge the campaign's pilots on ``val/cid22`` (never Kodak), and to set a measured curve
against a baseline measured in another run.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def sweep_rows(report: dict, curve: str | None = None) -> list[dict]:
    """The rows (bpp, ssim, psnr per point) of a step_sweep report, of a checkpoint_rd report's
    own curve, or of the curve called ``curve`` in an rd-curve report."""
    if curve is None and "sweep" in report:
        return report["sweep"]
    if curve is None and "curves" in report and "step" in report:
        curve = f"step-{report['step']}"
    if curve is None or "curves" not in report:
        raise KeyError("sweep")
    for entry in report["curves"]:
        if entry["name"] == curve:
            return entry["points"]
    raise ValueError(f"no curve {curve!r} (it has {', '.join(repr(c['name']) for c in report['curves'])})")


def split_argument(argument: str) -> tuple[Path, str | None]:
    """``REPORT.json:NAME`` or ``LOG.jsonl:STEP`` → (path, NAME or STEP); anything else is a path alone."""
    match = re.search(r"\.jsonl?:(?=.)", argument)  # the first one ends the path: a curve's name may hold ":"
    if match:
        return Path(argument[: match.end() - 1]), argument[match.end() :]
    return Path(argument), None


def validation_rows(log: Path, step: str) -> list[dict]:
    """The validation rows (bpp, ssim, psnr per Δ) a training log holds for ``step``, by Δ."""
    if not step.isdigit():
        raise ValueError(f"a training log is read at a step (LOG.jsonl:STEP), not {step!r}")
    from rdcodec.train.run_log import last_per_key, read_records

    at_step = [r for r in read_records(log) if r.get("kind") == "val" and r.get("step") == int(step)]
    if not at_step:
        raise ValueError(f"no validation at step {step}")
    return last_per_key(at_step, key=lambda record: record["quant_step"])


def load_curve(argument: str) -> tuple[str, list[dict]]:
    """(label, rows) of one argument; ``ValueError``/``KeyError``/``OSError`` if it has none."""
    path, curve = split_argument(argument)
    if path.suffix == ".jsonl":
        if curve is None:
            raise ValueError("a training log is read at a step (LOG.jsonl:STEP)")
        return f"{path}:{curve}", validation_rows(path, curve)
    report = json.loads(path.read_text())
    rows = sweep_rows(report, curve)
    if not any(row.get("ssim") is not None or row.get("psnr") is not None for row in rows):
        raise ValueError("a sweep without quality (run step_sweep.py with --quality)")
    label = f"{path}:{curve}" if curve else report.get("checkpoint", str(path))
    return label, rows


def compare(anchor: tuple[str, list[dict]], test: tuple[str, list[dict]]) -> dict:
    from rdcodec.eval.bd_rate import bd_rate, rate_ratios, to_db

    def axis(rows, key, transform):  # a point without this quality (a published curve's SSIM) is NaN: left out
        return [r["bpp"] for r in rows], [math.nan if r.get(key) is None else transform(r[key]) for r in rows]

    (anchor_label, anchor_rows), (test_label, test_rows) = anchor, test
    out = {"anchor": anchor_label, "test": test_label}
    ratios = {}
    for name, key, transform in (("ssim-db", "ssim", to_db), ("psnr", "psnr", float)):
        rates_t, q_t = axis(test_rows, key, transform)
        rates_a, q_a = axis(anchor_rows, key, transform)
        out[f"bd_rate_{name.replace('-', '_')}_percent"] = bd_rate(rates_t, q_t, rates_a, q_a)
        ratios[name] = rate_ratios(rates_t, q_t, rates_a, q_a)
    out["bpp_range"] = {
        role: [min(r["bpp"] for r in rows), max(r["bpp"] for r in rows)]
        for role, rows in (("anchor", anchor_rows), ("test", test_rows))
    }
    out["points"] = [
        {"bpp": row["bpp"], "psnr": row.get("psnr"), "ssim": row.get("ssim")}
        | {f"rate_ratio_{name.replace('-', '_')}": ratios[name][i] for name in ratios}
        for i, row in enumerate(test_rows)
    ]
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("anchor", help="SWEEP.json, CHECKPOINT_RD.json, RD_CURVE.json:NAME or LOG.jsonl:STEP")
    p.add_argument("tests", nargs="+")
    p.add_argument("-o", "--output", type=Path, default=None)
    args = p.parse_args(argv)
    curves = []
    for argument in [args.anchor, *args.tests]:
        try:
            curves.append(load_curve(argument))
        except (OSError, ValueError, KeyError, IndexError, TypeError) as exc:
            why = (
                exc.strerror
                if isinstance(exc, OSError)
                else exc
                if isinstance(exc, ValueError)
                else "not a step_sweep.py, checkpoint_rd.py or rd-curve report, or a training log"
            )
            print(f"compare_sweeps: error: {argument}: {why}", file=sys.stderr)
            return 2
    results = [compare(curves[0], curve) for curve in curves[1:]]
    text = json.dumps({"schema": "rdcodec.sweep-comparison/1", "comparisons": results}, indent=2) + "\n"
    if args.output:
        from rdcodec import atomic_file

        atomic_file.write_text(args.output, text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
