#!/usr/bin/env python
"""Issue 19 §2: why the CelebA face networks sit far below the paper's held-out SSIM ≈ 0.93.

    python tools/experiments/celeba_ssim_gap.py \
        --log radogaga=docs/experiments/celeba/radogaga-log.jsonl \
        --snapshot radogaga=docs/experiments/celeba/radogaga-snapshot.pt \
        --data ../shared/data/celeba/img_align_celeba_89x109 -o docs/experiments/celeba/ssim-gap.json

Two questions, one JSON file:

1. **How far is 0.93 at the rate the run improves?** For each ``--log`` (a face run's
   ``log.jsonl``), its held-out SSIM records from ``--fit-from`` on are fitted with a power law,
   1 − SSIM(t) = a·t^(−α) (least squares in log–log), and the fit is solved for the step where
   SSIM reaches ``--target``. An extrapolation, and says so: it is the rate of improvement the
   run shows, not a bound. That step count is also given in hours at the median step time the
   log records (of whatever machines wrote it).
2. **Is the gap a matter of definition?** The paper's SSIM (appendix C, eq. 61) is the product
   2μxμy/(μx²+μy²) · 2σxy/(σx²+σy²) averaged over N×N windows: no stabilising constants, window
   unstated. For each ``--snapshot`` (a face network's weights) the held-out reconstructions are
   scored under: the training metric (pytorch-msssim: 11-tap Gaussian, σ = 1.5, K = (0.01,
   0.03), RGB); the same on luma (BT.601 Y); eq. 61 with the Gaussian window; eq. 61 on 7×7
   uniform windows (the constants-free form eq. 61 writes is Wang and Bovik's universal quality
   index, whose windows were 8×8 and uniform; pytorch-msssim takes odd windows only, and 7 is
   scikit-image's uniform default); and PSNR. Eq. 61's "no constants" is K = (10⁻⁴, 10⁻⁴) here, (K·1)² = 10⁻⁸, so a
   flat window does not divide by zero.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from rdcodec.train.run_log import last_per_key, read_records  # noqa: E402  (after the path insert; no torch)

EQ61_K = (1e-4, 1e-4)  # eq. 61 has no constants; these only keep a flat window finite


@dataclasses.dataclass(frozen=True)
class TrendFit:
    """1 − SSIM(t) = a·t^(−α) fitted to a run's held-out SSIM from ``fit_from`` on."""

    log: str
    fit_from: int
    points: list  # [[step, held-out SSIM], ...] the fit used
    last_step: int
    last_ssim: float
    a: float
    alpha: float
    r2: float | None  # of the fit, in log(1 − SSIM); None where the records do not vary
    target: float
    steps_to_target: float | None  # None: the fit never reaches it (α ≤ 0)
    median_sec_per_step: float | None
    hours_to_target: float | None


@dataclasses.dataclass(frozen=True)
class HeldOutScores:
    """One face network's held-out reconstructions under each reading of SSIM (means over faces)."""

    snapshot: str
    kind: str  # "radogaga" or "betavae"
    step: int
    faces: int
    training_ssim_rgb: float  # the driver's metric: pytorch-msssim, Gaussian 11, σ 1.5, K (0.01, 0.03)
    ssim_luma: float  # the same on BT.601 Y
    eq61_gaussian11: float  # eq. 61: no stabilising constants (10⁻⁸), the Gaussian window
    eq61_uniform7: float  # eq. 61 on 7×7 uniform windows
    psnr_db: float


def held_out_records(log: Path) -> list[tuple[int, float]]:
    """(step, held-out SSIM) of a face run's log, in step order (a resumed run's repeats: the last)."""
    held_out = [r for r in read_records(log) if r.get("kind") == "val" and "held_out_ssim" in r]
    return [(int(r["step"]), float(r["held_out_ssim"])) for r in last_per_key(held_out, key=lambda r: int(r["step"]))]


def median_step_seconds(log: Path) -> float | None:
    """The median ``sec_per_step`` of the log's training records, a resumed run's repeats counted
    once (None if it has none)."""
    timed = [r for r in read_records(log) if r.get("kind") == "train" and r.get("sec_per_step")]
    times = [float(r["sec_per_step"]) for r in last_per_key(timed, key=lambda r: int(r["step"]))]
    return statistics.median(times) if times else None


def fit_trend(log: Path, fit_from: int, target: float) -> TrendFit:
    """The power law 1 − SSIM(t) = a·t^(−α) through the log's held-out SSIM records from
    ``fit_from`` on (steps ≥ 1), solved for the step where SSIM reaches ``target``."""
    import numpy as np

    points = [(t, s) for t, s in held_out_records(log) if t >= max(fit_from, 1)]
    if len(points) < 3:
        raise ValueError(f"{log}: {len(points)} held-out SSIM records from step {fit_from} on; the fit needs 3")
    if any(s >= 1 for _, s in points):
        raise ValueError(f"{log}: a held-out SSIM of 1 or more cannot be fitted in log(1 − SSIM)")
    t = np.log([p[0] for p in points])
    y = np.log([1 - p[1] for p in points])
    slope, intercept = np.polyfit(t, y, 1)
    residual = y - (intercept + slope * t)
    spread = float(((y - y.mean()) ** 2).sum())
    r2 = 1 - float(residual @ residual) / spread if spread > 0 else None
    alpha = -float(slope)
    steps = math.exp((math.log(1 - target) - intercept) / slope) if alpha > 0 else None
    sec = median_step_seconds(log)
    return TrendFit(
        log=str(log),
        fit_from=fit_from,
        points=[[int(a), float(b)] for a, b in points],
        last_step=int(points[-1][0]),
        last_ssim=float(points[-1][1]),
        a=math.exp(float(intercept)),
        alpha=alpha,
        r2=r2,
        target=target,
        steps_to_target=steps,
        median_sec_per_step=sec,
        hours_to_target=None if steps is None or sec is None else steps * sec / 3600,
    )


def _luma(x):
    weights = x.new_tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
    return (x * weights).sum(dim=1, keepdim=True)


def _uniform_window(channels: int, size: int = 7):
    import torch

    return torch.full((channels, 1, 1, size), 1.0 / size)


def ssim_definitions(x, x_hat) -> dict[str, float]:
    """Mean per-image scores of reconstructions ``x_hat`` against ``x`` (float [0, 1], N×3×H×W)."""
    import torch
    from pytorch_msssim import ssim

    x_hat = x_hat.clamp(0, 1)
    mse = ((x - x_hat) ** 2).flatten(1).mean(dim=1)
    scores = {
        "training_ssim_rgb": ssim(x, x_hat, data_range=1.0, size_average=False),
        "ssim_luma": ssim(_luma(x), _luma(x_hat), data_range=1.0, size_average=False),
        "eq61_gaussian11": ssim(x, x_hat, data_range=1.0, size_average=False, K=EQ61_K),
        "eq61_uniform7": ssim(x, x_hat, data_range=1.0, size_average=False, win=_uniform_window(3), K=EQ61_K),
        "psnr_db": 10 * torch.log10(1 / mse.clamp_min(1e-12)),
    }
    return {name: float(v.mean()) for name, v in scores.items()}


def score_network(path: Path, data: Path, held_out: int, batch: int = 250) -> HeldOutScores:
    """The held-out faces (the first ``held_out`` of ``data``, at the network's size) scored
    under every definition of :func:`ssim_definitions`."""
    import torch

    from rdcodec.model.face import load_faces
    from rdcodec.train.face_task import load_face_network

    model, step, kind, _ = load_face_network(path)
    faces = load_faces(data, limit=held_out, size=model.config.size)
    sums: dict[str, float] = {}
    with torch.no_grad():
        for i in range(0, len(faces), batch):
            x = faces[i : i + batch]
            for name, value in ssim_definitions(x, model.decode_latent(model.encode_latent(x))).items():
                sums[name] = sums.get(name, 0.0) + value * len(x)
    return HeldOutScores(
        snapshot=str(path), kind=kind, step=step, faces=len(faces), **{name: total / len(faces) for name, total in sums.items()}
    )


def _named(values: list[str], flag: str) -> dict[str, Path]:
    named = {}
    for value in values:
        name, sep, path = value.partition("=")
        if not sep or not name or not path:
            raise ValueError(f"{flag} takes NAME=PATH, not {value!r}")
        named[name] = Path(path)
    return named


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--log", action="append", default=[], help="NAME=LOG.jsonl of a face run (repeatable)")
    p.add_argument("--snapshot", action="append", default=[], help="NAME=weights of a face network (repeatable)")
    p.add_argument("--data", type=Path, help="the CelebA faces (needed with --snapshot)")
    p.add_argument("--held-out", type=int, default=500, help="the first N faces, the driver's held-out set")
    p.add_argument("--fit-from", type=int, default=5000, help="fit the records from this step on")
    p.add_argument("--target", type=float, default=0.93, help="the paper's held-out SSIM")
    p.add_argument("-o", "--output", type=Path, required=True)
    args = p.parse_args(argv)
    try:
        logs, snapshots = _named(args.log, "--log"), _named(args.snapshot, "--snapshot")
        if not logs and not snapshots:
            raise ValueError("give at least one --log or --snapshot")
        if snapshots and args.data is None:
            raise ValueError("--snapshot needs --data")
        if args.held_out < 1:
            raise ValueError("--held-out must be at least 1")
        if args.output.exists():
            raise ValueError(f"{args.output} exists: remove it first")
        result: dict = {
            "target": args.target,
            "trend": {name: dataclasses.asdict(fit_trend(log, args.fit_from, args.target)) for name, log in logs.items()},
        }
        if snapshots:
            result["definitions"] = {
                name: dataclasses.asdict(score_network(path, args.data, args.held_out)) for name, path in snapshots.items()
            }
        from rdcodec import atomic_file

        atomic_file.write_json(args.output, result, replace=False)
    except (ValueError, OSError, KeyError) as exc:
        print(f"celeba_ssim_gap: error: {exc}", file=sys.stderr)
        return 2
    for name, fit in result["trend"].items():
        print(
            f"{name}: 1 − SSIM ∝ t^−{fit['alpha']:.3f} (R² {fit['r2'] if fit['r2'] is None else round(fit['r2'], 3)}) "
            f"from step {fit['fit_from']}; "
            f"SSIM {fit['target']} at step {fit['steps_to_target'] or float('nan'):.3g} "
            f"({fit['hours_to_target'] or float('nan'):.3g} h at the log's median step time)",
            file=sys.stderr,
        )
    for name, scores in result.get("definitions", {}).items():
        print(
            f"{name} @ {scores['step']}: " + ", ".join(f"{k} {v:.4f}" for k, v in scores.items() if isinstance(v, float)),
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
