#!/usr/bin/env python
"""Could the threshold reading explain the gap to the paper's Table 1? (no re-training)

    python tools/experiments/anomaly_threshold_bound.py --data ../shared/data/anomaly \
        --results docs/experiments/anomaly/results.json \
        [--out docs/experiments/anomaly/threshold-bound.json]

Our harness flags the top *share* of test scores, where share is the data set's exact anomaly
share (KDDCup 19.69 %, Thyroid 2.47 %, Arrhythmia 14.60 %, KDDCup-rev 20.00 %). The paper
(§5.2.1) flags "the top 20 %" on KDDCup and lists nominal ratios 20, 2.5, 15 and 20 %; its own
precision and recall imply even more flags (recall / precision = flags / anomalies: KDDCup
1.016, Thyroid 1.044, Arrhythmia 1.030 for both RaDOGAGA variants; ours are 1.000, 1.033–1.037
and 0.987–0.995, because the number of anomalies in a test half varies by seed).

For every finished run in ``results.json`` this takes the stored precision and recall, rebuilds
the seed's split to count test rows and anomalies, and asks how high F1 could go if the same
scores were thresholded at the nominal ratio, or at the fixed ratio that gives the paper's
flags-per-anomaly (share × recall / precision of Table 1) — assuming every extra flag is a true
anomaly (:func:`rdcodec.density.datasets.f1_upper_bound`). The mean of those per-seed
bounds is compared with the lower edge of the paper's one-std band. Nothing is re-trained or
re-scored, so the bound holds for any ranking the runs produced.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

#: the paper's §5.2 anomaly ratios (%), which its threshold follows
NOMINAL_PERCENT = {"kddcup": 20.0, "thyroid": 2.5, "arrhythmia": 15.0, "kddcup-rev": 20.0}
#: Table 1: (precision, recall, F1, F1 std); DAGMM is the paper's own implementation (DAGMM+)
PAPER_TABLE1 = {
    "kddcup": {
        "radogaga-d": (0.9550, 0.9700, 0.9624, 0.0038),
        "radogaga-log": (0.9563, 0.9714, 0.9638, 0.0042),
        "dagmm": (0.9427, 0.9575, 0.9500, 0.0052),
    },
    "thyroid": {
        "radogaga-d": (0.6313, 0.6587, 0.6447, 0.0486),
        "radogaga-log": (0.6562, 0.6848, 0.6702, 0.0585),
        "dagmm": (0.4656, 0.4859, 0.4755, 0.0491),
    },
    "arrhythmia": {
        "radogaga-d": (0.5353, 0.5515, 0.5433, 0.0468),
        "radogaga-log": (0.5294, 0.5455, 0.5373, 0.0411),
        "dagmm": (0.4985, 0.5136, 0.5060, 0.0395),
    },
    "kddcup-rev": {
        "radogaga-d": (0.9768, 0.9827, 0.9797, 0.0015),
        "radogaga-log": (0.9864, 0.9865, 0.9865, 0.0009),
        "dagmm": (0.9778, 0.9779, 0.9779, 0.0018),
    },
}


def best_f1(tp: int, flagged: int, anomalies: int, n: int, ratio: float, ratio_instead: float) -> float:
    """Upper bound of F1 when the run's ``n`` test scores are thresholded at ``ratio_instead``
    instead of ``ratio`` (which flagged ``flagged`` rows, ``tp`` of them anomalies).

    The threshold sits between the sorted scores at position ⌊(1 − ratio)(n − 1)⌋ and the next;
    when both ratios give the same position the flags are the same rows. With more flags the new
    count lies between ``flagged`` (the flagged set only grows) and the tie-free count (tied
    scores only remove flags), and the bound is the best over that range; with fewer flags it is
    the best over every smaller count (loose, but it holds whatever the ties).
    """
    from rdcodec.density.datasets import f1_upper_bound, flagged_count

    here, there = flagged_count(n, ratio), flagged_count(n, ratio_instead)
    if here == there:
        return f1_upper_bound(tp, flagged, anomalies, flagged)
    counts = range(flagged, max(flagged, there) + 1) if there > here else range(0, flagged + 1)
    return max(f1_upper_bound(tp, flagged, anomalies, c) for c in counts)


def bound_rows(name: str, table: dict, x, y) -> dict:
    """Per detector of one data set: our F1 and the mean per-seed F1 bound under each reading."""
    from rdcodec.density import datasets

    share = float(y.mean())
    test_counts: dict[int, tuple[int, int]] = {}  # seed -> (test rows, test anomalies)
    rows = {}
    for detector, paper in PAPER_TABLE1[name].items():
        if detector not in table:
            continue
        readings = {"nominal_ratio": NOMINAL_PERCENT[name] / 100, "paper_flag_ratio": share * paper[1] / paper[0]}
        bounds: dict[str, list[float]] = {key: [] for key in readings}
        for run in table[detector]["runs"]:
            if run["seed"] not in test_counts:
                labels = datasets.split(x, y, run["seed"]).test_labels
                test_counts[run["seed"]] = (len(labels), int(labels.sum()))
            n, anomalies = test_counts[run["seed"]]
            tp = round(run["recall"] * anomalies)
            flagged = round(tp / run["precision"]) if run["precision"] > 0 else datasets.flagged_count(n, share)
            for key, ratio in readings.items():
                bounds[key].append(best_f1(tp, flagged, anomalies, n, share, ratio))
        means = {key: statistics.fmean(values) for key, values in bounds.items()}
        rows[detector] = {
            "f1": table[detector]["f1"]["mean"],
            "ratios": readings,
            **{f"bound_{key}": value for key, value in means.items()},
            "paper_f1": paper[2],
            "paper_lower_edge": paper[2] - paper[3],
            "reachable": max(means.values()) >= paper[2] - paper[3],
        }
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--results", type=Path, required=True)
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)

    from rdcodec.density import datasets

    if not args.results.is_file():
        p.error(f"no results file at {args.results} (run tools/experiments/anomaly.py first)")
    results = json.loads(args.results.read_text())["datasets"]
    report = {"results": str(args.results), "nominal_percent": NOMINAL_PERCENT, "datasets": {}}
    for name, table in results.items():
        x, y = datasets.load(name, args.data)
        report["datasets"][name] = bound_rows(name, table, x, y)
        for detector, row in report["datasets"][name].items():
            print(
                f"{name:11s} {detector:13s} F1 {row['f1']:.4f}  bound (nominal ratio) {row['bound_nominal_ratio']:.4f}  "
                f"bound (paper's flags) {row['bound_paper_flag_ratio']:.4f}  paper lower edge {row['paper_lower_edge']:.4f}"
                f"{'  REACHABLE' if row['reachable'] else ''}",
                file=sys.stderr,
            )
    if args.out is not None:
        from rdcodec import atomic_file

        atomic_file.write_json(args.out, report, replace=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
