#!/usr/bin/env python
"""BD-rate between Δ sweeps of trained networks (``tools/step_sweep.py --quality`` reports).

    python tools/compare_sweeps.py ANCHOR.json TEST.json [TEST2.json ...] [-o comparison.json]

Each report holds one network's real-file rate and quality at several quantization steps Δ on
the same images. For every TEST against ANCHOR: BD-rate on SSIM-dB (−10·log10(1 − SSIM)) and
on PSNR over the quality range both cover (negative: TEST needs fewer bits), and the two
points of each at the anchor's Δ = 1 side by side. Used to judge the campaign's pilots on
``val/cid22`` (never Kodak).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def compare(anchor: dict, test: dict) -> dict:
    from rdcodec.eval.bd_rate import bd_rate, to_db

    def axis(report, key, transform):
        rows = report["sweep"]
        return [r["bpp"] for r in rows], [transform(r[key]) for r in rows]

    out = {"anchor": anchor["checkpoint"], "test": test["checkpoint"]}
    for name, key, transform in (("ssim-db", "ssim", to_db), ("psnr", "psnr", float)):
        rates_t, q_t = axis(test, key, transform)
        rates_a, q_a = axis(anchor, key, transform)
        out[f"bd_rate_{name.replace('-', '_')}_percent"] = bd_rate(rates_t, q_t, rates_a, q_a)
    out["bpp_range"] = {
        "anchor": [min(r["bpp"] for r in anchor["sweep"]), max(r["bpp"] for r in anchor["sweep"])],
        "test": [min(r["bpp"] for r in test["sweep"]), max(r["bpp"] for r in test["sweep"])],
    }
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("anchor", type=Path)
    p.add_argument("tests", type=Path, nargs="+")
    p.add_argument("-o", "--output", type=Path, default=None)
    args = p.parse_args(argv)
    anchor = json.loads(args.anchor.read_text())
    for report in [anchor] + [json.loads(t.read_text()) for t in args.tests]:
        if "ssim" not in report["sweep"][0]:
            print(f"compare_sweeps: error: {report['checkpoint']}: sweep without quality (run step_sweep.py with --quality)", file=sys.stderr)
            return 2
    results = [compare(anchor, json.loads(t.read_text())) for t in args.tests]
    text = json.dumps({"schema": "rdcodec.sweep-comparison/1", "comparisons": results}, indent=2) + "\n"
    if args.output:
        from rdcodec import atomic_file

        atomic_file.write_text(args.output, text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
