"""Anomaly-detection data sets (paper §5.2, appendix E) and the evaluation protocol.

Loaders return ``(X float32 [N, d], y int [N])`` with y = 1 for the anomaly class:

* KDDCup99 — ``kdd_cup.npz`` as used by DAGMM implementations (key ``kdd``: 118 one-hot /
  numeric features, last column 1 for 'normal' traffic). 'normal' (20%) is the anomaly class.
* KDDCup-rev — every 'normal' row of the same file plus attacks drawn at random so attacks
  are 20%; attacks are the anomaly class.
* Thyroid, Arrhythmia — ODDS ``.mat`` files (``X``, ``y`` with 1 = outlier).

Protocol (:func:`split`, :func:`evaluate`): a random 50/50 split per seed; train on the
normal rows of the first half; score the second half; flag the top ``ratio`` share of scores,
where ratio is the anomaly share of the whole data set; precision, recall and F1 of the flags.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np


class Split(NamedTuple):
    train: np.ndarray  # normal rows only
    test: np.ndarray
    test_labels: np.ndarray
    anomaly_ratio: float


class Scores(NamedTuple):
    precision: float
    recall: float
    f1: float


def minmax(train: np.ndarray, *others: np.ndarray) -> list[np.ndarray]:
    """Scale by the training rows' min and max (constant columns become 0)."""
    lo, hi = train.min(axis=0), train.max(axis=0)
    span = np.where(hi > lo, hi - lo, 1.0)
    return [(a - lo) / span for a in (train, *others)]


def load_kddcup(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    with np.load(path) as npz:
        data = npz["kdd"]
    return data[:, :-1].astype(np.float32), data[:, -1].astype(int)


def load_kddcup_rev(path: str | Path, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    x, normal_traffic = load_kddcup(path)
    rng = np.random.default_rng(seed)
    normal_rows = np.flatnonzero(normal_traffic == 1)
    attacks = np.flatnonzero(normal_traffic == 0)
    n_attacks = int(round(len(normal_rows) * 0.2 / 0.8))
    keep = np.concatenate([normal_rows, rng.choice(attacks, size=n_attacks, replace=False)])
    return x[keep], (normal_traffic[keep] == 0).astype(int)


def load_odds(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    from scipy.io import loadmat

    mat = loadmat(path)
    return np.asarray(mat["X"], dtype=np.float32), np.asarray(mat["y"]).ravel().astype(int)


LOADERS = {
    "kddcup": ("kdd_cup.npz", load_kddcup),
    "kddcup-rev": ("kdd_cup.npz", load_kddcup_rev),
    "thyroid": ("thyroid.mat", load_odds),
    "arrhythmia": ("arrhythmia.mat", load_odds),
}


def load(name: str, folder: str | Path) -> tuple[np.ndarray, np.ndarray]:
    filename, loader = LOADERS[name]
    return loader(Path(folder) / filename)


def split(x: np.ndarray, y: np.ndarray, seed: int) -> Split:
    """50/50 random split; the training half keeps its normal rows only; min–max from them."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(x))
    half = len(x) // 2
    tr, te = order[:half], order[half:]
    train = x[tr][y[tr] == 0]
    train, test = minmax(train, x[te])
    return Split(train.astype(np.float32), test.astype(np.float32), y[te], float(y.mean()))


def evaluate(scores: np.ndarray, labels: np.ndarray, anomaly_ratio: float) -> Scores:
    """Flag the top ``anomaly_ratio`` share of scores; precision, recall, F1 against labels.

    Flagged are the scores above the ``1 − anomaly_ratio`` quantile (NumPy's linear rule, so
    tied scores at the threshold stay unflagged); precision, recall and F1 of the flags for the
    anomaly class (label 1) are scikit-learn's ``precision_recall_fscore_support`` (binary,
    ``zero_division=0``: no flags give precision 0, no anomalies recall 0).
    """
    from sklearn.metrics import precision_recall_fscore_support

    threshold = np.quantile(scores, 1.0 - anomaly_ratio)
    flagged = (np.asarray(scores) > threshold).astype(int)
    precision, recall, f1, _ = precision_recall_fscore_support(
        np.asarray(labels), flagged, average="binary", pos_label=1, zero_division=0
    )
    return Scores(float(precision), float(recall), float(f1))


def flagged_count(n: int, anomaly_ratio: float) -> int:
    """How many of ``n`` distinct scores :func:`evaluate` flags at ``anomaly_ratio`` (its quantile rule)."""
    return n - 1 - int(np.floor((1.0 - anomaly_ratio) * (n - 1)))


def f1_upper_bound(true_positives: int, flagged: int, anomalies: int, flagged_instead: int) -> float:
    """The highest F1 the same ranking can reach when ``flagged_instead`` rows are flagged
    instead of ``flagged``: every extra flag a true anomaly (fewer flags never add one).

    F1 = 2·TP / (flagged + anomalies), so this bounds what a different threshold reading (for
    example a nominal anomaly ratio instead of the data set's exact share) can change without
    re-scoring anything.
    """
    tp = min(anomalies, true_positives + max(0, flagged_instead - flagged), flagged_instead)
    return 2.0 * tp / (flagged_instead + anomalies) if flagged_instead + anomalies else 0.0
