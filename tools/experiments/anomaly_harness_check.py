#!/usr/bin/env python
"""Is the anomaly harness right? Data copies against ODDS, detectors against pyod's benchmark.

    python tools/experiments/anomaly_harness_check.py --data ../shared/data/anomaly \
        -o docs/experiments/anomaly/harness-check.json

1. The data copies, as the harness loads them (``rdcodec.density.datasets.load``): rows,
   columns and anomaly share against the ODDS descriptions, plus NaNs, constant columns and
   duplicate rows.
2. pyod's benchmark protocol (its ``notebooks/benchmark.py``): 10 trials, each a 60/40 split
   drawn from one ``RandomState(42)``, features standardised on the training part, detectors
   fitted on the training part (outliers included, contamination = the data set's outlier
   share), ROC-AUC and precision @ n (n = the test outliers) of the test scores, each rounded
   to 4 decimals, then averaged. Run for pyod's own detectors and for the two baselines of our
   harness (``tools/experiments/anomaly.py``: scikit-learn's IsolationForest and OneClassSVM
   as configured there), side by side with the figures pyod publishes for Arrhythmia
   (``docs/tables/roc.csv`` and ``prc.csv`` of the pyod repository; Thyroid is not among its
   17 benchmark data sets).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools" / "experiments"))

#: ODDS descriptions (odds.cs.stonybrook.edu): points, dimensions, outliers.
ODDS = {"arrhythmia": (452, 274, 66), "thyroid": (3772, 6, 93)}

#: pyod's published benchmark, Arrhythmia, mean of 10 trials (pyod docs/tables/roc.csv, prc.csv).
PYOD_PUBLISHED = {
    "arrhythmia": {
        "IForest": {"roc": 0.8139, "precision_at_n": 0.5026},
        "OCSVM": {"roc": 0.7796, "precision_at_n": 0.4364},
        "HBOS": {"roc": 0.8211, "precision_at_n": 0.5065},
        "KNN": {"roc": 0.7854, "precision_at_n": 0.4260},
        "LOF": {"roc": 0.7776, "precision_at_n": 0.4153},
        "PCA": {"roc": 0.7806, "precision_at_n": 0.4400},
    }
}
TRIALS = 10


def check_data(name: str, x: np.ndarray, y: np.ndarray) -> dict:
    rows, cols, outliers = ODDS[name]
    constant = int((x.std(axis=0) == 0).sum())
    duplicates = len(x) - len(np.unique(x, axis=0))
    return {
        "rows": int(x.shape[0]),
        "columns": int(x.shape[1]),
        "anomalies": int(y.sum()),
        "anomaly_share": float(y.mean()),
        "odds": {"rows": rows, "columns": cols, "anomalies": outliers},
        "matches_odds": (x.shape[0], x.shape[1], int(y.sum())) == (rows, cols, outliers),
        "nan_values": int(np.isnan(x).sum()),
        "constant_columns": constant,
        "duplicate_rows": int(duplicates),
    }


def _detectors(fraction: float, random_state):
    from pyod.models.hbos import HBOS
    from pyod.models.iforest import IForest
    from pyod.models.knn import KNN
    from pyod.models.lof import LOF
    from pyod.models.ocsvm import OCSVM
    from pyod.models.pca import PCA

    return {
        "IForest": IForest(contamination=fraction, random_state=random_state),
        "OCSVM": OCSVM(contamination=fraction),
        "HBOS": HBOS(contamination=fraction),
        "KNN": KNN(contamination=fraction),
        "LOF": LOF(contamination=fraction),
        "PCA": PCA(contamination=fraction, random_state=random_state),
    }


def pyod_protocol(x: np.ndarray, y: np.ndarray) -> dict:
    from anomaly import _baseline
    from pyod.utils.utility import precision_n_scores, standardizer
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import train_test_split

    from rdcodec.density.datasets import Split

    fraction = float(y.mean())
    random_state = np.random.RandomState(42)
    results: dict[str, dict[str, list]] = {}
    for trial in range(TRIALS):
        x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.4, random_state=random_state)
        x_train, x_test = standardizer(x_train, x_test)
        scores = {}
        for name, detector in _detectors(fraction, random_state).items():
            detector.fit(x_train)
            scores[f"pyod {name}"] = detector.decision_function(x_test)
        split = Split(train=x_train, test=x_test, test_labels=y_test, anomaly_ratio=fraction)
        for kind in ("iforest", "ocsvm"):
            scores[f"harness {kind}"] = _baseline(kind, split, seed=trial)
        for name, s in scores.items():
            r = results.setdefault(name, {"roc": [], "precision_at_n": []})
            r["roc"].append(round(roc_auc_score(y_test, s), 4))
            r["precision_at_n"].append(round(precision_n_scores(y_test, s), 4))
    return {name: {k: float(np.mean(v)) for k, v in r.items()} for name, r in results.items()}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("-o", "--output", type=Path, default=ROOT / "docs" / "experiments" / "anomaly" / "harness-check.json")
    args = p.parse_args(argv)

    from rdcodec.density.datasets import load

    record = {"protocol": f"pyod benchmark: {TRIALS} trials, 60/40 split, RandomState(42), standardizer", "datasets": {}}
    for name in ("arrhythmia", "thyroid"):
        x, y = load(name, args.data)
        entry = {"data": check_data(name, x, y), "measured": pyod_protocol(x.astype(np.float64), y)}
        if name in PYOD_PUBLISHED:
            entry["pyod_published"] = PYOD_PUBLISHED[name]
        record["datasets"][name] = entry
        print(name, json.dumps(entry["data"]), file=sys.stderr)
        for detector, r in entry["measured"].items():
            published = PYOD_PUBLISHED.get(name, {}).get(detector.removeprefix("pyod "))
            extra = f"  published {published['roc']:.4f} / {published['precision_at_n']:.4f}" if published else ""
            print(f"  {detector:16s} ROC {r['roc']:.4f}  P@n {r['precision_at_n']:.4f}{extra}", file=sys.stderr)
    from rdcodec import atomic_file

    args.output.parent.mkdir(parents=True, exist_ok=True)
    atomic_file.write_json(args.output, record, replace=True)
    print(f"wrote {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
