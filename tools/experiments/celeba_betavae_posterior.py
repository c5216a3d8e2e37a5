#!/usr/bin/env python
"""Why the β-VAE's D′ is as flat as RaDOGAGA's on CelebA (issue 19 §2): its posterior per dimension.

    python tools/experiments/celeba_betavae_posterior.py docs/experiments/celeba/betavae-snapshot.pt \
        --data ../shared/data/celeba/img_align_celeba_89x109 -o docs/experiments/celeba/betavae-posterior.json

§5.3 expects the β-VAE's D′_i to vary "drastically" across its top nine dimensions (Fig. 6c).
One reason it could: a β-VAE decodes z = μ + σ·ε, so along dimension i its decoder need only
be smooth on the scale of the posterior's σ_i, and D′_i would then follow 1 / σ_i² (flat
D′_i·σ_i²), varying as much as σ_i² does. This tool measures, on the held-out faces, per latent
dimension: the variance of μ (what the driver ranks by), the mean posterior variance E[σ²],
the variance of a sampled z (var μ + E[σ²], the "variance of z" of Fig. 6a), and the mean KL
to N(0, 1); then D′ over the top nine dimensions ranked each way (the driver's δ and faces),
with the CV of D′_i, of E[σ_i²] and of D′_i·E[σ_i²], to test that reading. The output is
never replaced.

          snapshot ──► μ, log σ² of the held-out faces ──► per-dimension statistics
                   └─► D′ (rdcodec.analysis.isometry) over the top 9 by var μ and by var z
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools" / "experiments"))


class TopDimensions(NamedTuple):
    """D′ over the top nine dimensions by one ranking, beside each one's posterior variance."""

    ranking: str  # "variance_of_mu" (the driver's) or "variance_of_sampled_z"
    dimensions: list[int]
    d_prime: list[float]
    d_prime_cv: float
    posterior_variance: list[float]  # E[σ_i²] over the faces
    posterior_variance_cv: float
    d_prime_times_posterior_variance_cv: float  # flat if D′_i ∝ 1 / σ_i²


def _cv(values) -> float:
    import numpy as np

    v = np.asarray(values, dtype=np.float64)
    return float(v.std() / v.mean())


def posterior_statistics(model, faces):
    """Per dimension over ``faces``: (var μ, E[σ²], mean KL to N(0, 1)), as float64 arrays."""
    import torch

    with torch.no_grad():
        stats = model._features(faces).double()
    latent = model.config.latent
    mu, logvar = stats[:, :latent], stats[:, latent:].clamp(-20, 10)
    kl = 0.5 * (mu**2 + logvar.exp() - 1 - logvar)
    return mu.var(dim=0, unbiased=False).numpy(), logvar.exp().mean(dim=0).numpy(), kl.mean(dim=0).numpy()


def top_dimensions(model, faces, ranking: str, order, posterior_variance, analysis_images: int, delta: float):
    from rdcodec import analysis

    dims = [int(i) for i in order[:9]]
    iso = analysis.isometry(model, faces[:analysis_images], "ssim", channels=dims, delta=delta)
    post = [float(posterior_variance[i]) for i in dims]
    return TopDimensions(
        ranking=ranking,
        dimensions=dims,
        d_prime=[float(d) for d in iso.d_prime],
        d_prime_cv=float(iso.cv),
        posterior_variance=post,
        posterior_variance_cv=_cv(post),
        d_prime_times_posterior_variance_cv=_cv([d * s for d, s in zip(iso.d_prime, post)]),
    )


def main(argv=None) -> int:
    from celeba_isometry import add_measurement_arguments, check_measurement_arguments

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("snapshot", type=Path, help="a β-VAE face network's checkpoint or weights-only snapshot")
    add_measurement_arguments(p)
    args = p.parse_args(argv)
    import numpy as np
    import torch

    from rdcodec import atomic_file

    torch.set_num_threads(1)
    try:
        check_measurement_arguments(args)
        from rdcodec.model.face import load_faces
        from rdcodec.train.checkpoint import CheckpointError
        from rdcodec.train.face_task import load_face_network

        try:
            network = load_face_network(args.snapshot)
        except CheckpointError as exc:
            raise ValueError(str(exc)) from None
        if network.kind != "betavae":
            raise ValueError(f"{args.snapshot}: a {network.kind} network, not a β-VAE")
        faces = load_faces(args.data, limit=args.held_out, size=network.model.config.size)
        var_mu, post_var, kl = posterior_statistics(network.model, faces)
        var_z = var_mu + post_var
        rankings = {"variance_of_mu": np.argsort(-var_mu), "variance_of_sampled_z": np.argsort(-var_z)}
        tops = [
            top_dimensions(network.model, faces, name, order, post_var, args.analysis_images, args.delta)
            for name, order in rankings.items()
        ]
        report = {
            "schema": "rdcodec.celeba-betavae-posterior/1",
            "snapshot": str(args.snapshot),
            "step": network.step,
            "beta": network.config.get("beta"),
            "settings": {"held_out": args.held_out, "analysis_images": args.analysis_images, "delta": args.delta},
            "dimensions": int(len(var_mu)),
            "active_dimensions": int((kl > 0.01).sum()),  # KL above 0.01 nat: the posterior differs from the prior
            "kl_total_nats": float(kl.sum()),
            "posterior_std_median": float(np.median(np.sqrt(post_var))),
            "top10_share_variance_of_mu": float(np.sort(var_mu)[::-1][:10].sum() / var_mu.sum()),
            "top10_share_variance_of_sampled_z": float(np.sort(var_z)[::-1][:10].sum() / var_z.sum()),
            "top9": [t._asdict() for t in tops],
            "per_dimension": {"variance_of_mu": var_mu.tolist(), "posterior_variance": post_var.tolist(), "kl_nats": kl.tolist()},
        }
        atomic_file.write_json(args.output, report, replace=False)
    except (ValueError, OSError) as exc:
        print(f"celeba_betavae_posterior: error: {exc}", file=sys.stderr)
        return 2
    for t in tops:
        print(
            f"top 9 by {t.ranking}: D′ CV {t.d_prime_cv:.3f}, E[σ²] CV {t.posterior_variance_cv:.3f}, "
            f"D′·E[σ²] CV {t.d_prime_times_posterior_variance_cv:.3f}",
            file=sys.stderr,
        )
    print(
        f"active dimensions {report['active_dimensions']} of {report['dimensions']}, KL {report['kl_total_nats']:.1f} nats",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
