#!/usr/bin/env python
"""BD-rate between Δ sweeps of trained networks (``tools/step_sweep.py --quality`` reports).

    python tools/compare_sweeps.py ANCHOR.json TEST.json [TEST2.json ...] [-o comparison.json]

Each report holds one network's real-file rate and quality at several quantization steps Δ on
the same images: a ``tools/step_sweep.py --quality`` report, or a ``tools/checkpoint_rd.py``
report (its checkpoint's own curve, ``step-STEP``; the reference curves in it are ignored). For every TEST against ANCHOR: BD-rate on SSIM-dB (−10·log10(1 − SSIM)) and
on PSNR over the quality range both cover (negative: TEST needs fewer bits), and the bpp
range each sweep covers. Used to judge the campaign's pilots on ``val/cid22`` (never Kodak).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def sweep_rows(report: dict) -> list[dict]:
    """The Δ sweep's rows (bpp, ssim, psnr per Δ) of a step_sweep or a checkpoint_rd report."""
    if "sweep" in report:
        return report["sweep"]
    if "curves" in report and "step" in report:
        name = f"step-{report['step']}"
        for curve in report["curves"]:
            if curve["name"] == name:
                return curve["points"]
        raise ValueError(f"a checkpoint_rd report without its own curve {name!r}")
    raise KeyError("sweep")


def compare(anchor: dict, test: dict) -> dict:
    from rdcodec.eval.bd_rate import bd_rate, to_db

    def axis(report, key, transform):
        rows = sweep_rows(report)
        return [r["bpp"] for r in rows], [transform(r[key]) for r in rows]

    out = {"anchor": anchor["checkpoint"], "test": test["checkpoint"]}
    for name, key, transform in (("ssim-db", "ssim", to_db), ("psnr", "psnr", float)):
        rates_t, q_t = axis(test, key, transform)
        rates_a, q_a = axis(anchor, key, transform)
        out[f"bd_rate_{name.replace('-', '_')}_percent"] = bd_rate(rates_t, q_t, rates_a, q_a)
    out["bpp_range"] = {
        role: [min(r["bpp"] for r in sweep_rows(report)), max(r["bpp"] for r in sweep_rows(report))]
        for role, report in (("anchor", anchor), ("test", test))
    }
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("anchor", type=Path)
    p.add_argument("tests", type=Path, nargs="+")
    p.add_argument("-o", "--output", type=Path, default=None)
    args = p.parse_args(argv)
    reports = []
    for path in [args.anchor, *args.tests]:
        try:
            report = json.loads(path.read_text())
            if "ssim" not in sweep_rows(report)[0]:
                raise ValueError("a sweep without quality (run step_sweep.py with --quality)")
        except (OSError, ValueError, KeyError, IndexError) as exc:
            print(
                f"compare_sweeps: error: {path}: {exc.strerror if isinstance(exc, OSError) else exc if isinstance(exc, ValueError) else 'not a step_sweep.py or checkpoint_rd.py report'}",
                file=sys.stderr,
            )
            return 2
        reports.append(report)
    results = [compare(reports[0], report) for report in reports[1:]]
    text = json.dumps({"schema": "rdcodec.sweep-comparison/1", "comparisons": results}, indent=2) + "\n"
    if args.output:
        from rdcodec import atomic_file

        atomic_file.write_text(args.output, text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
