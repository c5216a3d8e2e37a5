#!/usr/bin/env python
"""Paper §5.3 / Fig. 6–7: isometry and continuous PCA of RaDOGAGA against β-VAE on CelebA.

    python tools/experiments/celeba_isometry.py --data ../shared/data/celeba/img_align_celeba_89x109 \
        --out docs/experiments/celeba --work runs/celeba [--steps 20000] [--device cuda] [--bf16]

Trains (or resumes, from the run directories ``WORK/{radogaga,betavae}/``, through the
shared training loop :mod:`rdcodec.train.loop`) both appendix-F networks on centre
70×70 crops resized to 64×64 (D = 1 − SSIM; RaDOGAGA h(d) = d, (λ1, λ2) = (1.0, 0.1) by default;
β-VAE β = 1e-4), then for each model: reconstruction SSIM on held-out faces, the variance
spectrum (share of the top 10 of 256 dimensions), D′_i over the top-9 dimensions (mean, CV),
the random-direction correlation, and a traversal grid. Writes ``OUT/results.json``,
``OUT/{model}_energy.png``, ``OUT/{model}_isometry.png``, ``OUT/{model}_traversal.png``; with
both models, also ``OUT/comparison.png`` (both spectra and both D′ profiles on one page, as
Fig. 6–7 set them) and ``results.json["comparison"]``: each of §5.3's targets (issue 19 §2)
against the measured figure.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


# §5.3's figures as issue 19 §2 states them: RaDOGAGA's D′ CV over the top 9 dimensions at most 10 %,
# the β-VAE's at least 3× RaDOGAGA's, RaDOGAGA's top 10 of 256 dimensions at least 70 % of the
# variance, and both trained to a held-out SSIM of about 0.93 (taken here as within 0.01 of it).
TARGET_RADOGAGA_CV = 0.10
TARGET_CV_RATIO = 3.0
TARGET_TOP10_SHARE = 0.70
TARGET_SSIM = 0.93
SSIM_TOLERANCE = 0.01


def compare(models: dict) -> dict:
    """Each §5.3 target against the measured figure, from the ``results.json["models"]`` entries
    of ``radogaga`` and ``betavae``: ``{target: {"measured", "target", "met"}}`` and the CV ratio."""
    rdg, bvae = models["radogaga"], models["betavae"]
    ratio = bvae["d_prime_top9_cv"] / rdg["d_prime_top9_cv"]

    def check(measured, target, met):
        return {"measured": measured, "target": target, "met": bool(met)}

    targets = {
        "radogaga_d_prime_cv_at_most": check(
            rdg["d_prime_top9_cv"], TARGET_RADOGAGA_CV, rdg["d_prime_top9_cv"] <= TARGET_RADOGAGA_CV
        ),
        "betavae_over_radogaga_d_prime_cv_at_least": check(ratio, TARGET_CV_RATIO, ratio >= TARGET_CV_RATIO),
        "radogaga_top10_share_at_least": check(
            rdg["top10_variance_share"], TARGET_TOP10_SHARE, rdg["top10_variance_share"] >= TARGET_TOP10_SHARE
        ),
    }
    for kind, r in (("radogaga", rdg), ("betavae", bvae)):
        ssim = r["reconstruction_ssim"]
        targets[f"{kind}_held_out_ssim_about"] = check(ssim, TARGET_SSIM, abs(ssim - TARGET_SSIM) <= SSIM_TOLERANCE)
    return {"d_prime_cv_ratio_betavae_over_radogaga": ratio, "targets": targets}


def add_measurement_arguments(p: argparse.ArgumentParser) -> None:
    """The options of a tool that measures trained face networks as :func:`measure` does: the
    faces, the held-out count, D′'s faces and δ (this driver's defaults), and the report."""
    p.add_argument("--data", type=Path, required=True, help="the CelebA faces")
    p.add_argument("--held-out", type=int, default=500, help="the first N faces, the driver's held-out set")
    p.add_argument("--analysis-images", type=int, default=64, help="faces D′ is measured on (the driver's default)")
    p.add_argument("--delta", type=float, default=0.25, help="the latent step of D′ (the driver's default)")
    p.add_argument("-o", "--output", type=Path, required=True)


def check_measurement_arguments(args) -> None:
    """ValueError, saying why, for options of :func:`add_measurement_arguments` that cannot run
    (the report is never replaced)."""
    from rdcodec.image_io import list_images

    if args.output.exists():
        raise ValueError(f"{args.output} exists: remove it first")
    if not args.output.parent.is_dir():
        raise ValueError(f"{args.output.parent}: no such directory")
    if args.held_out < 1 or args.analysis_images < 1:
        raise ValueError("--held-out and --analysis-images must be at least 1")
    if not args.delta > 0:
        raise ValueError("--delta must be positive")
    if not args.data.is_dir() or not list_images(args.data):
        raise ValueError(f"{args.data}: no face images there")


def face_config(kind, args):
    from rdcodec.model.face import FaceConfig
    from rdcodec.train.face_task import FaceTrainConfig

    return FaceTrainConfig(
        kind=kind,
        model=FaceConfig(channels=args.channels, hidden=args.hidden, latent=args.latent),
        steps=args.steps,
        batch_size=args.batch,
        lr=args.lr,
        lambda1=args.lambda1,
        lambda2=args.lambda2,
        beta=args.beta,
        seed=args.seed,
        device=args.device,
        bf16=args.bf16,
        val_every=args.eval_every,
    )


def measure(kind, model, held_out, analysis_images: int, delta: float, lambda2: float):
    """§5.3's figures of one face network on the held-out faces: (summary, energy, isometry).

    The summary: reconstruction SSIM, the top 10 of the latent dimensions' share of the variance
    (Fig. 6), D′ over the top 9 (Fig. 7: mean, CV; ``lambda2`` gives RaDOGAGA's predicted
    value), the random-direction correlation, the first 32 variances."""
    from rdcodec import analysis
    from rdcodec.model.face import reconstruction_ssim

    energy = analysis.channel_energy(model, held_out)
    iso = analysis.isometry(
        model,
        held_out[:analysis_images],
        "ssim",
        channels=energy.order[:9],
        delta=delta,
        lambda2=lambda2 if kind == "radogaga" else None,
    )
    summary = {
        "reconstruction_ssim": reconstruction_ssim(model, held_out),
        "top10_variance_share": energy.cumulative_ratio[9],
        "d_prime_top9": iso.d_prime,
        "d_prime_top9_mean": iso.mean,
        "d_prime_top9_cv": iso.cv,
        "random_direction_correlation": iso.random_direction_correlation,
        "variance_spectrum": energy.variance[:32],
    }
    return summary, energy, iso


def analyse(kind, model, held_out, args, out: Path):
    """:func:`measure`, and the figures: ``OUT/{kind}_energy.png``, ``_isometry.png``, ``_traversal.png``.
    Returns the summary and the (energy, isometry) profiles for :func:`comparison_figure`."""
    from rdcodec import analysis
    from rdcodec.analysis.figures import energy_figure, isometry_figure, save_png

    summary, energy, iso = measure(kind, model, held_out, args.analysis_images, args.delta, args.lambda2)
    grid = analysis.traverse(model, held_out[:1], channels=energy.order[:9], reference_images=held_out)
    (out / f"{kind}_energy.png").write_bytes(energy_figure(energy))
    (out / f"{kind}_isometry.png").write_bytes(isometry_figure(iso))
    (out / f"{kind}_traversal.png").write_bytes(save_png(grid))
    return summary, (energy, iso)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--work", type=Path, required=True)
    p.add_argument("--limit", type=int, default=None, help="use only the first N faces")
    p.add_argument("--held-out", type=int, default=500)
    p.add_argument("--steps", type=int, default=20000)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--lambda1", type=float, default=1.0)
    p.add_argument("--lambda2", type=float, default=0.1)
    p.add_argument("--beta", type=float, default=1e-4)
    p.add_argument("--channels", type=int, default=64)
    p.add_argument("--hidden", type=int, default=8192)
    p.add_argument("--latent", type=int, default=256)
    p.add_argument("--delta", type=float, default=0.25)
    p.add_argument("--analysis-images", type=int, default=64)
    p.add_argument("--device", default="cpu")
    p.add_argument(
        "--bf16",
        action="store_true",
        help="bfloat16 autocast for the trunk and FC layers (2x the steps per second on a CPU with avx512_bf16)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--models", default="radogaga,betavae")
    p.add_argument("--eval-every", type=int, default=1000, help="held-out SSIM every N training steps (0: never)")
    p.add_argument("--monitor-images", type=int, default=200, help="held-out faces used for that SSIM")
    args = p.parse_args(argv)

    from rdcodec.train.heap import advise_huge_pages

    advise_huge_pages()  # before torch allocates anything, as `rdcodec train` does

    from rdcodec import atomic_file
    from rdcodec.model.face import load_faces
    from rdcodec.train.face_task import train_face_model

    faces = load_faces(args.data, limit=args.limit)
    held_out, train_faces = faces[: args.held_out], faces[args.held_out :]
    args.work.mkdir(parents=True, exist_ok=True)
    args.out.mkdir(parents=True, exist_ok=True)
    results = {"config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}, "models": {}}
    profiles = {}
    from rdcodec.train.checkpoint import CheckpointError
    from rdcodec.train.run_lock import RunDirectoryInUse

    for kind in args.models.split(","):
        try:
            model, history, steps = train_face_model(
                face_config(kind, args), train_faces, args.work / kind, held_out=held_out[: args.monitor_images]
            )
        except (RunDirectoryInUse, CheckpointError) as exc:
            print(f"celeba_isometry: error: {exc}", file=sys.stderr)
            return 2
        summary, profiles[kind] = analyse(kind, model, held_out, args, args.out)
        results["models"][kind] = {**summary, "trained_steps": steps, "training_history": history}
    if {"radogaga", "betavae"} <= set(results["models"]):
        from rdcodec.analysis.figures import comparison_figure

        results["comparison"] = compare(results["models"])
        names = {"radogaga": "RaDOGAGA", "betavae": "β-VAE"}
        (args.out / "comparison.png").write_bytes(comparison_figure({names[k]: profiles[k] for k in ("radogaga", "betavae")}))
    else:  # a run of one model: no comparison in its results.json, so none beside it either
        (args.out / "comparison.png").unlink(missing_ok=True)
    atomic_file.write_json(args.out / "results.json", results, replace=True)
    for kind, r in results["models"].items():
        print(
            f"{kind}: SSIM {r['reconstruction_ssim']:.4f}, top-10 share {r['top10_variance_share']:.3f}, "
            f"D' CV {r['d_prime_top9_cv']:.3f}, random-direction corr {r['random_direction_correlation']:.3f}",
            file=sys.stderr,
        )
    for name, t in results.get("comparison", {}).get("targets", {}).items():
        print(f"target {name} {t['target']}: {t['measured']:.3f} ({'met' if t['met'] else 'not met'})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
