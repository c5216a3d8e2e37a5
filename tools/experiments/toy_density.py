#!/usr/bin/env python
"""Paper §5.1 / Fig. 4–5: does the learned P_ψ(z) follow the true P_x(x)?

    python tools/experiments/toy_density.py --data ../shared/data/toy/toy.csv --out docs/experiments/toy [--seeds 5] [--first-seed F] [--restarts K]

toy.csv: columns 1–16 the input x, column 17 the true density P_x(x), column 18 the mixture
component. Inputs are max–min normalised. Networks, λ's and optimiser as §5.1.1: FC
64-32-16-3-16-32-64 with tanh, estimation network 10-3 with dropout 0.5, Adam 1e-4;
(λ1, λ2) = (1e-4, 1e-9) DAGMM, (1e6, 1e6) RaDOGAGA(d), (1e3, 1e4) RaDOGAGA(log d).
Reports the Pearson correlation between P_x and P_ψ(z) = exp(−R) per model and seed (mean,
std) for two mixtures over the same trained latents:

- ``en``: the paper's, φ, μ, Σ of eq. 19 with the estimation network's memberships;
- ``em``: the same refined by EM on the training latents (``DensityEstimator.refine_mixture``,
  not in the paper), which repairs a component the estimation network left dead or merged.

``--warmup-epochs`` (default 20, not in the paper) trains on reconstruction alone first. With
the paper's schedule (0) the RaDOGAGA(log d) latent collapsed in 3 of 5 seeds: while z is
smaller than the uniform noise, the noise term flattens the decoder, the decoder stops using z,
and the rate shrinks z further (z std ≈ 1e-4, reconstruction ≈ the mean, r ≈ 0.2–0.4).

``--initial-latent-std`` (not in the paper; ``docs/experiments/toy`` uses 1.0) rescales the
encoder's last layer before training so each latent dimension starts with that std, instead
of 0.006–0.04 from PyTorch's initialisation. Without it (``docs/experiments/toy-default-init``)
the RaDOGAGA(d) latent was still growing after 1000 epochs and came out with one scale per
cluster (r 0.57–0.97); seed 0 went from r 0.60 to 0.997 with it.

``--restarts K`` (not in the paper; default 1) trains K networks per seed, from seeds
s, s + 1000, …, and keeps the one with the lowest final training objective
(``DensityEstimator.fit_best_of``: training data only, never P_x). Each restart's objective and
both correlations stay in the run file under ``restart_runs``, so one can see whether that choice
avoided the estimation network's merged clusters (``docs/experiments/toy-best-of-3``).

Every ``--report-every`` epochs both correlations are recorded (the trajectory shows whether
training has settled). Writes ``OUT/results.json``, ``OUT/fig4_latent.png`` (latents of seed 0
coloured by normalised P_ψ(z), like paper Fig. 4) and ``OUT/fig5_density.png`` (P_x against
P_ψ(z) for seed 0, like paper Fig. 5).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

MODELS = {
    "DAGMM": dict(kind="dagmm", lambda1=1e-4, lambda2=1e-9),
    "RaDOGAGA(d)": dict(kind="radogaga", h="identity", lambda1=1e6, lambda2=1e6),
    "RaDOGAGA(log d)": dict(kind="radogaga", h="log", lambda1=1e3, lambda2=1e4),
}


def load_toy(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x max–min normalised [N, 16], true density [N], component [N])."""
    table = np.loadtxt(path, delimiter=",")
    x, density, component = table[:, :16], table[:, 16], table[:, 17].astype(int)
    lo, hi = x.min(axis=0), x.max(axis=0)
    return (x - lo) / np.where(hi > lo, hi - lo, 1.0), density, component


def slug(name: str) -> str:
    return name.replace(" ", "_").replace("(", "").replace(")", "")


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a, b)[0, 1])


def correlations(est, x: np.ndarray, density: np.ndarray, seed: int) -> dict:
    """Pearson r of P_x against exp(−R) under the estimation-network mixture and its EM refinement."""
    en = est.mixture_of(x)
    em = est.refined_mixture(x, en, seed=seed)
    return {
        "en": pearson(density, np.exp(est.log_density(x, en))),
        "em": pearson(density, np.exp(est.log_density(x, em))),
        "mixtures": (en, em),
    }


def figures(out: Path, seed0: dict, x: np.ndarray, density: np.ndarray) -> None:
    """fig4_latent.png (z coloured by normalised P_ψ(z)) and fig5_density.png (P_x against P_ψ(z))."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(seed0)
    fig = plt.figure(figsize=(4.2 * (len(names) + 1), 4))
    centred = x - x.mean(axis=0)
    source = centred @ np.linalg.svd(centred, full_matrices=False)[2][:3].T  # x lies in a 3-D subspace
    ax = fig.add_subplot(1, len(names) + 1, 1, projection="3d")
    ax.scatter(source[:, 0], source[:, 1], source[:, 2], c=density / density.max(), s=1, cmap="jet")
    ax.set_title("input: x on its 3 principal axes, true P_x", fontsize=9)
    for i, name in enumerate(names, start=2):
        z, pz = seed0[name]["z"], seed0[name]["pz_em"]
        ax = fig.add_subplot(1, len(names) + 1, i, projection="3d")
        ax.scatter(z[:, 0], z[:, 1], z[:, 2], c=pz / pz.max(), s=1, cmap="jet")
        ax.set_title(f"{name}: z, P_ψ(z) (EM mixture)", fontsize=9)
    fig.tight_layout()
    fig.savefig(out / "fig4_latent.png", dpi=90)
    plt.close(fig)

    fig, axes = plt.subplots(2, len(names), figsize=(4 * len(names), 7.5), squeeze=False)
    for j, name in enumerate(names):
        for i, key in enumerate(("pz_en", "pz_em")):
            pz = seed0[name][key]
            ax = axes[i, j]
            ax.scatter(density, pz, s=1, alpha=0.4)
            ax.set_title(f"{name}, {key[3:].upper()} mixture: r = {pearson(density, pz):.3f}", fontsize=9)
            ax.set_xlabel("true P_x(x)")
            ax.set_ylabel("learned P_ψ(z)")
    fig.tight_layout()
    fig.savefig(out / "fig5_density.png", dpi=90)
    plt.close(fig)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--seeds", type=int, default=5, help="run seeds 0 .. SEEDS-1")
    p.add_argument("--first-seed", type=int, default=0, help="skip seeds below this (lets processes share the seeds)")
    p.add_argument("--epochs", type=int, default=2000)
    p.add_argument("--report-every", type=int, default=250)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument(
        "--warmup-epochs",
        type=int,
        default=20,
        help="reconstruction-only epochs first (not in the paper; 0 = the paper's schedule)",
    )
    p.add_argument(
        "--initial-latent-std",
        type=float,
        default=None,
        help="rescale the encoder output to this latent std before training (not in the paper; default: PyTorch's initialisation)",
    )
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument(
        "--restarts", type=int, default=1, help="networks per seed; keep the lowest final training objective (not in the paper)"
    )
    p.add_argument("--models", default=",".join(MODELS))
    args = p.parse_args(argv)

    from rdcodec import atomic_file
    from rdcodec.density import DensityConfig, DensityEstimator

    x, density, _ = load_toy(args.data)
    runs_dir = args.out / "runs"
    runs_dir.mkdir(parents=True, exist_ok=True)
    if args.restarts < 1:
        p.error("--restarts must be at least 1")
    schedule = {
        "epochs": args.epochs,
        "warmup_epochs": args.warmup_epochs,
        "initial_latent_std": args.initial_latent_std,
        "restarts": args.restarts,
    }

    def current(run: dict) -> bool:
        """Trained with this invocation's schedule (older run files lack the newer keys)."""
        return (run["epochs"], run.get("warmup_epochs", 0), run.get("initial_latent_std"), run.get("restarts", 1)) == tuple(
            schedule.values()
        )

    for name in args.models.split(","):
        for seed in range(args.first_seed, args.seeds):
            path = runs_dir / f"{slug(name)}-seed{seed}.json"
            if path.exists() and current(json.loads(path.read_text())):  # resume: finished runs with this schedule are kept
                continue
            trajectory: list[dict] = []
            restarts: list[dict] = []
            trained: list[tuple] = []  # (estimator, correlations) per restart

            def record(est, epoch):
                if epoch % args.report_every == 0 and epoch < args.epochs:
                    r = correlations(est, x, density, seed)
                    trajectory.append({"epoch": epoch, "en": r["en"], "em": r["em"]})

            def finish(est, index):  # after each restart: its objective and correlations
                r = correlations(est, x, density, seed)
                trained.append((est, r))
                trajectory.append({"epoch": args.epochs, "en": r["en"], "em": r["em"]})
                restarts.append(
                    {
                        "seed": seed + 1000 * index,
                        "final_loss": est.history[-1]["loss"],
                        "en": r["en"],
                        "em": r["em"],
                        "trajectory": list(trajectory),
                    }
                )
                trajectory.clear()

            t0 = time.time()
            cfg = DensityConfig(input_dim=16, hidden=(64, 32, 16), latent=3, estimation=(10,), components=3, **MODELS[name])
            est = DensityEstimator.fit_best_of(
                cfg,
                x,
                restarts=args.restarts,
                seed=seed,
                on_restart=finish,
                epochs=args.epochs,
                batch_size=args.batch,
                lr=args.lr,
                warmup_epochs=args.warmup_epochs,
                initial_latent_std=args.initial_latent_std,
                on_epoch=record,
            )
            chosen = next(i for i, (candidate, _) in enumerate(trained) if candidate is est)  # the one fit_best_of kept
            r = trained[chosen][1]
            if seed == 0:
                en, em = r["mixtures"]
                np.savez_compressed(
                    runs_dir / f"{slug(name)}-seed0.npz",
                    z=est.latent(x),
                    pz_en=np.exp(est.log_density(x, en)),
                    pz_em=np.exp(est.log_density(x, em)),
                )
            run = {
                "model": name,
                "seed": seed,
                **schedule,
                "en": r["en"],
                "em": r["em"],
                "seconds": time.time() - t0,
                "trajectory": restarts[chosen]["trajectory"],
            }
            if args.restarts > 1:
                run.update(chosen_restart=chosen, restart_runs=restarts)  # "restarts" stays the count (part of the schedule)
            atomic_file.write_json(path, run, replace=True)  # atomic: a killed run leaves no half-written result
            print(
                f"{name} seed {seed}: r = {r['en']:.4f} (EN mixture), {r['em']:.4f} (EM-refined), {run['seconds']:.0f}s",
                file=sys.stderr,
            )

    results = {"config": {k: str(v) for k, v in vars(args).items()}, "models": {}}
    seed0: dict = {}
    for name in MODELS:  # every model with finished runs of this schedule, from this or an earlier invocation
        runs = [
            run for run in (json.loads(p.read_text()) for p in sorted(runs_dir.glob(f"{slug(name)}-seed*.json"))) if current(run)
        ]
        if not runs:
            continue
        results["models"][name] = {
            "seeds": len(runs),
            **{
                key: {"mean": statistics.fmean(run[key] for run in runs), "std": statistics.pstdev([run[key] for run in runs])}
                for key in ("en", "em")
            },
            "seconds_per_seed": statistics.fmean(run["seconds"] for run in runs),
            "runs": runs,
        }
        summary = results["models"][name]
        print(
            f"{name}: r = {summary['en']['mean']:.4f} ± {summary['en']['std']:.4f} (EN), {summary['em']['mean']:.4f} ± {summary['em']['std']:.4f} (EM), {len(runs)} seeds",
            file=sys.stderr,
        )
        arrays = runs_dir / f"{slug(name)}-seed0.npz"  # written with seed 0's run file
        if arrays.exists() and any(run["seed"] == 0 for run in runs):
            seed0[name] = dict(np.load(arrays))
    atomic_file.write_json(args.out / "results.json", results, replace=True)
    if seed0:
        figures(args.out, seed0, x, density)
    return 0


if __name__ == "__main__":
    sys.exit(main())
