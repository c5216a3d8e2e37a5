#!/usr/bin/env python
"""Paper §5.3 / Fig. 6–7: isometry and continuous PCA of RaDOGAGA against β-VAE on CelebA.

    python tools/experiments/celeba_isometry.py --data ../shared/data/celeba/img_align_celeba_89x109 \
        --out docs/experiments/celeba --work runs/celeba [--steps 20000] [--device cuda]

Trains (or resumes, from ``WORK/{radogaga,betavae}.pt``) both appendix-F networks on centre
70×70 crops resized to 64×64 (D = 1 − SSIM; RaDOGAGA h(d) = d, (λ1, λ2) = (1.0, 0.1) by default;
β-VAE β = 1e-4), then for each model: reconstruction SSIM on held-out faces, the variance
spectrum (share of the top 10 of 256 dimensions), D′_i over the top-9 dimensions (mean, CV),
the random-direction correlation, and a traversal grid. Writes ``OUT/results.json``,
``OUT/{model}_energy.png``, ``OUT/{model}_isometry.png``, ``OUT/{model}_traversal.png``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def train_model(kind, faces, args, work: Path, monitor=None):
    """Train (or resume) one model to ``args.steps``; every ``args.eval_every`` steps the
    reconstruction SSIM on ``monitor`` (held-out faces) is printed and kept in the checkpoint.
    A checkpoint already past ``args.steps`` is used as it is. Returns the model (eval mode, CPU),
    that history and the number of steps the model has been trained."""
    import torch

    from rdcodec.model.face import FaceBetaVAE, FaceConfig, FaceRaDOGAGA, reconstruction_ssim
    from rdcodec.train.loop import save_checkpoint

    torch.manual_seed(args.seed)
    config = FaceConfig(channels=args.channels, hidden=args.hidden, latent=args.latent)
    model = (FaceRaDOGAGA if kind == "radogaga" else FaceBetaVAE)(config).to(args.device)
    main = [p for n, p in model.named_parameters() if not n.endswith("quantiles")]
    aux = [p for n, p in model.named_parameters() if n.endswith("quantiles")]
    opt = torch.optim.Adam(main, lr=args.lr)
    aux_opt = torch.optim.Adam(aux, lr=1e-3) if aux else None
    path = work / f"{kind}.pt"
    step, history = 0, []
    if path.exists():
        state = torch.load(path, map_location=args.device, weights_only=False)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        if aux_opt is not None and "aux_opt" in state:
            aux_opt.load_state_dict(state["aux_opt"])
        step, history = state["step"], state.get("history", [])
    gen = torch.Generator().manual_seed(args.seed + step)
    t0 = time.time()
    model.train()
    while step < args.steps:
        idx = torch.randint(len(faces), (args.batch,), generator=gen)
        x = faces[idx].to(args.device)
        opt.zero_grad()
        terms = model.loss(x, args.lambda1, args.lambda2) if kind == "radogaga" else model.loss(x, args.beta)
        terms.total.backward()
        opt.step()
        if aux_opt is not None:
            aux_opt.zero_grad()
            model.aux_loss().backward()
            aux_opt.step()
        step += 1
        if monitor is not None and args.eval_every and step % args.eval_every == 0:
            model.eval()
            history.append({"step": step, "held_out_ssim": reconstruction_ssim(model, monitor.to(args.device)), "seconds": time.time() - t0})
            model.train()
            print(f"{kind} step {step}: held-out SSIM {history[-1]['held_out_ssim']:.4f}", file=sys.stderr)
        if step % 200 == 0 or step == args.steps:
            state = {"model": model.state_dict(), "opt": opt.state_dict(), "step": step, "history": history}
            if aux_opt is not None:
                state["aux_opt"] = aux_opt.state_dict()
            save_checkpoint(state, path)  # atomic: a kill mid-save leaves the last checkpoint intact
            print(f"{kind} step {step}: loss {terms.total.item():.4f} rate {terms.rate.item():.4f} D {terms.distortion.item():.4f} ({time.time() - t0:.0f}s)", file=sys.stderr)
    return model.eval().cpu(), history, step


def analyse(kind, model, held_out, args, out: Path) -> dict:
    from rdcodec import analysis
    from rdcodec.analysis.figures import energy_figure, isometry_figure, save_png
    from rdcodec.model.face import reconstruction_ssim

    energy = analysis.channel_energy(model, held_out)
    iso = analysis.isometry(model, held_out[: args.analysis_images], "ssim", channels=energy.order[:9], delta=args.delta,
                            lambda2=args.lambda2 if kind == "radogaga" else None)
    grid = analysis.traverse(model, held_out[:1], channels=energy.order[:9], reference_images=held_out)
    (out / f"{kind}_energy.png").write_bytes(energy_figure(energy))
    (out / f"{kind}_isometry.png").write_bytes(isometry_figure(iso))
    (out / f"{kind}_traversal.png").write_bytes(save_png(grid))
    return {
        "reconstruction_ssim": reconstruction_ssim(model, held_out),
        "top10_variance_share": energy.cumulative_ratio[9],
        "d_prime_top9": iso.d_prime,
        "d_prime_top9_mean": iso.mean,
        "d_prime_top9_cv": iso.cv,
        "random_direction_correlation": iso.random_direction_correlation,
        "variance_spectrum": energy.variance[:32],
    }


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
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--models", default="radogaga,betavae")
    p.add_argument("--eval-every", type=int, default=1000, help="held-out SSIM every N training steps (0: never)")
    p.add_argument("--monitor-images", type=int, default=200, help="held-out faces used for that SSIM")
    args = p.parse_args(argv)

    from rdcodec.model.face import load_faces

    faces = load_faces(args.data, limit=args.limit)
    held_out, train_faces = faces[: args.held_out], faces[args.held_out :]
    args.work.mkdir(parents=True, exist_ok=True)
    args.out.mkdir(parents=True, exist_ok=True)
    results = {"config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}, "models": {}}
    for kind in args.models.split(","):
        model, history, steps = train_model(kind, train_faces, args, args.work, monitor=held_out[: args.monitor_images])
        results["models"][kind] = {**analyse(kind, model, held_out, args, args.out), "trained_steps": steps, "training_history": history}
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    for kind, r in results["models"].items():
        print(f"{kind}: SSIM {r['reconstruction_ssim']:.4f}, top-10 share {r['top10_variance_share']:.3f}, "
              f"D' CV {r['d_prime_top9_cv']:.3f}, random-direction corr {r['random_direction_correlation']:.3f}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
