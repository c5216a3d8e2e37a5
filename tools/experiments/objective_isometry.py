#!/usr/bin/env python
"""Issue 19 §1: RaDOGAGA (paper eq. 5) against the Ballé objective, same network, data and steps.

    # training (resumable; the two arms take turns in chunks, so both always have equal steps;
    # or --arm ARM: one process per arm, side by side, equal steps at a common --until)
    python tools/experiments/objective_isometry.py train --work /root/isometry
    # evaluation on Kodak (real files, latent geometry, figures)
    python tools/experiments/objective_isometry.py evaluate --work /root/isometry \
        --images ../shared/data/kodak --out docs/experiments/objective-isometry

The arms are ``tools/configs/isometry/{radogaga,balle}-ssim.json``: N = 96, M = 128, seed 0,
D = 1 − SSIM, λ = 8, the campaign's data and crops; they may differ only in ``objective.kind``
(checked). Both start from the same weights: the shared warm-up ``warmup.json`` when the config
folder has one (trained once, first, in ``WORK/warmup/``; it may differ from the arms only in
its objective, rate and steps — checked), else the seed's initialisation. From the seed alone
the eq. 5 arm never learned to reconstruct (validation SSIM 0.28 at step 4000, where the Ballé
arm was at 0.80: docs/experiments/objective-isometry.md), so the shipped folder has a warm-up:
2500 steps of the Ballé loss with D = MSE, an objective of neither arm's kind of D that gives
eq. 5 no head start on its scaling term. Each arm records the warm-up weights it started from
(``init.json``, their SHA-256); an arm trained from other weights is refused, not mixed. Ballé's loss is R + λ·D(x, g(z + ε)); eq. 5 is
R + λ1·D(x, g(z)) + λ2·D(g(z), g(z + ε)). For the same λ both weigh distortion alike in
expectation, so they land at comparable rates.

``train``: each arm runs in ``WORK/ARM/`` through the one training loop, ``--chunk`` steps at a
time, arm after arm (or, with ``--arm ARM``, one arm per process, so two cores train both side
by side), up to the configs' ``steps`` (or ``--until`` a step, for now: a session
that has only part of a core's time stops there, and the next call goes on). The schedule is a constant rate, so stopping at a
chunk's end and resuming is the same run. Then each arm's final weights are frozen as
``WORK/ARM/final-STEPS.pt`` and fine-tuned at λ·f for every ``--lambda-factors`` f
(``--finetune-steps`` each, in ``WORK/ARM-lamF/``): those points are the arm's own λ curve. A
fine-tune directory records the weights it started from, and one started from other weights
(an arm trained further since) is refused rather than mixed.

``evaluate``, on ``--images`` (real files through the codec, as ``rdcodec rd-curve``):

- a Δ sweep of each arm's final network (tables frozen at each Δ), and each arm's λ curve
  (its fine-tunes and itself at Δ = 1);
- BD-rate of eq. 5 against Ballé (Δ sweeps; λ curves), SSIM-dB, MS-SSIM-dB and PSNR;
- how well each Δ sweep stays on its own λ curve: BD-rate of the sweep against the curve (the
  isometry argument predicts ≈ 0 for eq. 5, not for Ballé);
- latent geometry (:func:`rdcodec.analysis.latent_report` on centre crops): top-10 energy
  share, D′_i over the top 9 channels (CV; measured / predicted 1/(2 λ2 ln2 σ²) for eq. 5),
  Jacobian Gram diagonal CV and off-diagonal ratio, random-direction correlation;
- ``OUT/results.json``, ``OUT/geometry.png`` (both energy spectra and D′ profiles) and
  ``OUT/rd.png`` (both Δ sweeps and λ curves).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

from campaign_snapshot import save as save_snapshot  # noqa: E402  (imports no torch at module level)

ARMS = ("radogaga", "balle")
LABELS = {"radogaga": "RaDOGAGA (eq. 5)", "balle": "Ballé", "start": "common start (warm-up)"}
SWEEP_STEPS = (0.5, 0.7, 1.0, 1.4, 2.0, 2.8, 4.0)


class ExperimentError(RuntimeError):
    """The experiment cannot go on as asked (one line)."""


def load_arms(config_dir: Path, overrides: list[str]) -> dict:
    """{arm: TrainConfig}; the arms must be the same run but for ``objective.kind``."""
    from rdcodec.train.config import load_train_config

    arms = {arm: load_train_config(config_dir / f"{arm}-ssim.json", overrides) for arm in ARMS}
    for arm, cfg in arms.items():
        if cfg.objective.kind != arm:
            raise ExperimentError(f"{config_dir}/{arm}-ssim.json trains objective.kind {cfg.objective.kind!r}")
    a, b = (dataclasses.asdict(cfg) for cfg in arms.values())
    a["objective"].pop("kind"), b["objective"].pop("kind")
    if a != b:
        differ = sorted(k for k in a if a[k] != b[k])
        raise ExperimentError(f"the two arms differ in more than objective.kind: {', '.join(differ)}")
    if any(cfg.init_from or cfg.lr_final is not None for cfg in arms.values()):
        raise ExperimentError("the arms start from the seed or the warm-up (no init_from) at a constant rate (no lr_final)")
    return arms


def load_warmup(config_dir: Path, arms: dict, overrides: list[str]):
    """The shared warm-up's TrainConfig (``warmup.json``), or None where the folder has none; it
    must be the arms' run but for its objective, learning rate and steps."""
    from rdcodec.train.config import load_train_config

    path = config_dir / "warmup.json"
    if not path.exists():
        return None
    free = ("objective", "lr", "steps", "val_every")  # the warm-up's own; the arms' overrides of these are not its
    warmup = load_train_config(path, [o for o in overrides if o.split("=")[0].split(".")[0] not in free])
    if warmup.init_from or warmup.lr_final is not None:
        raise ExperimentError("the warm-up starts from the seed (no init_from) at a constant rate (no lr_final)")
    a, b = dataclasses.asdict(warmup), dataclasses.asdict(next(iter(arms.values())))
    for key in free:
        a.pop(key), b.pop(key)
    if a != b:
        differ = sorted(k for k in a if a[k] != b[k])
        raise ExperimentError(
            f"the warm-up differs from the arms in more than objective, lr, steps and val_every: {', '.join(differ)}"
        )
    return warmup


def trained_step(run_dir: Path) -> int:
    from rdcodec.train.checkpoint import load_checkpoint

    ckpt = run_dir / "checkpoint.pt"
    return int(load_checkpoint(ckpt)["step"]) if ckpt.exists() else 0


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def finetune_dir(work: Path, arm: str, factor: float) -> Path:
    return work / f"{arm}-lam{factor:g}"


def check_finetune(run_dir: Path, final: Path, finetune_steps: int) -> dict:
    """The record a fine-tune keeps of its start (the final weights' SHA-256, its length);
    a fine-tune directory made from other weights or for another length is refused."""
    origin = {"sha256": _sha256(final), "finetune_steps": finetune_steps}
    record = run_dir / "init.json"
    if record.exists():
        kept = json.loads(record.read_text())
        if kept.get("sha256") != origin["sha256"]:
            raise ExperimentError(f"{run_dir} was fine-tuned from other weights than {final}: remove it to start again")
        if kept.get("finetune_steps") != finetune_steps:
            raise ExperimentError(f"{run_dir} is a fine-tune of {kept.get('finetune_steps')} steps, not {finetune_steps}")
    return origin


def check_start(run_dir: Path, start: Path) -> dict:
    """The record an arm keeps of the warm-up weights it started from (their SHA-256); an arm
    that started from other weights, or was trained before the record existed, is refused."""
    origin = {"sha256": _sha256(start), "init_from": str(start)}
    record = run_dir / "init.json"
    if record.exists():
        if json.loads(record.read_text()).get("sha256") != origin["sha256"]:
            raise ExperimentError(f"{run_dir} started from other weights than {start}: remove it to start again")
    elif trained_step(run_dir) > 0:
        raise ExperimentError(f"{run_dir} was trained without the warm-up {start}: remove it to start again")
    return origin


def warmup_final(work: Path, warmup) -> Path:
    """Where the shared warm-up's final weights are: ``WORK/warmup/final-STEPS.pt``."""
    return work / "warmup" / f"final-{warmup.steps}.pt"


def train_warmup(warmup, work: Path, progress: bool) -> Path:
    """The shared warm-up trained to its steps (resumable); its final weights ``WORK/warmup/final-STEPS.pt``.

    The final weights are a weights-only snapshot (``tools/campaign_snapshot.py``: bfloat16, a
    few MB), so the very file both arms started from can be committed and copied back onto a
    new machine, where the arms' ``init.json`` still matches it.
    """
    from rdcodec.train.codec_task import train

    run_dir, final = work / "warmup", warmup_final(work, warmup)
    if final.exists():
        return final
    if trained_step(run_dir) < warmup.steps:
        print(f"warm-up: training to step {warmup.steps}", file=sys.stderr, flush=True)
        train(warmup, run_dir, progress=progress)
    if trained_step(run_dir) != warmup.steps:
        raise ExperimentError(f"{run_dir} is at step {trained_step(run_dir)}, not the warm-up's {warmup.steps}")
    save_snapshot(run_dir / "checkpoint.pt", final)
    return final


def train_arms(
    arms: dict,
    work: Path,
    chunk: int,
    factors: list[float],
    finetune_steps: int,
    progress: bool,
    until: int | None = None,
    warmup=None,
    only: str | None = None,
) -> dict:
    """The shared ``warmup`` (if any) first, then both arms from it to their ``steps`` (or to
    ``until`` for now) in alternating chunks, then their λ fine-tunes once both are complete;
    returns {run directory name: step}.

    ``only`` trains one arm (and then its fine-tunes) by itself, so that two processes, one per
    arm, can train the arms side by side on two cores; the warm-up must exist already (one
    process trains it, not two at once). Equal compute is still equal steps: give both
    processes the same ``until``.
    """
    from rdcodec import atomic_file
    from rdcodec.train.codec_task import train

    if only is not None:
        if only not in arms:
            raise ExperimentError(f"no arm {only!r}: the arms are {', '.join(arms)}")
        if warmup is not None and not warmup_final(work, warmup).exists():
            raise ExperimentError("the shared warm-up is not trained yet: train it first (train --until 0, without --arm)")
        arms = {only: arms[only]}
    if warmup is not None:
        start = train_warmup(warmup, work, progress)
        for arm in arms:
            origin = check_start(work / arm, start)
            if not (work / arm / "init.json").exists():
                (work / arm).mkdir(parents=True, exist_ok=True)
                atomic_file.write_json(work / arm / "init.json", origin, replace=False)
        arms = {arm: dataclasses.replace(cfg, init_from=str(start)) for arm, cfg in arms.items()}
    steps = next(iter(arms.values())).steps
    target = steps if until is None else min(steps, until)
    stop = min(arm_step for arm_step in (trained_step(work / arm) for arm in arms))
    if only is not None:  # no turns to take: straight to the target, one launch (one compile)
        chunk = max(target, 1)
    while stop < target:
        stop = min(target, (stop // chunk + 1) * chunk)
        for arm, cfg in arms.items():
            if trained_step(work / arm) < stop:
                print(f"{arm}: training to step {stop} of {steps}", file=sys.stderr, flush=True)
                train(dataclasses.replace(cfg, steps=stop), work / arm, progress=progress)
    done = {arm: trained_step(work / arm) for arm in arms}
    if min(done.values()) < steps:
        return done
    for arm, cfg in arms.items():
        final = work / arm / f"final-{steps}.pt"
        if not final.exists():
            if done[arm] != steps:
                raise ExperimentError(f"{work / arm} is at step {done[arm]}, past the configs' {steps}")
            with atomic_file.replacing(final) as tmp:  # the fine-tunes start from it: whole or absent
                shutil.copyfile(work / arm / "checkpoint.pt", tmp)
        for factor in factors:
            run_dir = finetune_dir(work, arm, factor)
            origin = check_finetune(run_dir, final, finetune_steps)
            if trained_step(run_dir) >= finetune_steps:
                done[run_dir.name] = trained_step(run_dir)
                continue
            run_dir.mkdir(parents=True, exist_ok=True)
            atomic_file.write_json(run_dir / "init.json", origin, replace=True)  # read back on resume: whole or absent
            objective = dataclasses.replace(
                cfg.objective, lambda1=cfg.objective.lambda1 * factor, lambda2=cfg.objective.lambda2 * factor
            )
            tuned = dataclasses.replace(cfg, objective=objective, init_from=str(final), steps=finetune_steps)
            print(f"{arm}: fine-tune at λ × {factor:g}", file=sys.stderr, flush=True)
            train(tuned, run_dir, progress=progress)
            done[run_dir.name] = trained_step(run_dir)
    return done


def _bd(test, anchor) -> dict:
    """{axis: BD-rate %} of curve ``test`` against curve ``anchor`` (rd_curve.Curve)."""
    from rdcodec.eval import rd_curve

    return {e.axis: e.bd_rate_percent for e in rd_curve.bd_table([test, anchor]) if e.curve == test.name}


def _curve(name: str, points, kind: str = "rdcodec"):
    from rdcodec.eval import rd_curve

    return rd_curve.Curve(name, kind, sorted(points, key=lambda p: p.bpp))


def _rd_figure(curves: dict) -> bytes:
    from rdcodec.analysis.figures import png_bytes, pyplot
    from rdcodec.eval.bd_rate import to_db

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for arm, (sweep, lam) in curves.items():
        line = ax.plot(
            [p.bpp for p in sweep.points], [to_db(p.ssim) for p in sweep.points], "o-", label=f"{LABELS[arm]}: Δ sweep"
        )
        ax.plot(
            [p.bpp for p in lam.points],
            [to_db(p.ssim) for p in lam.points],
            "s--",
            color=line[0].get_color(),
            markersize=7,
            fillstyle="none",
            label=f"{LABELS[arm]}: λ curve",
        )
    ax.set(xlabel="bpp (real files)", ylabel="SSIM-dB", title="one network per Δ sweep against its own λ curve")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return png_bytes(fig, plt)


def evaluate(
    arms: dict,
    work: Path,
    images_dir: Path,
    out: Path,
    factors: list[float],
    limit,
    crop: int,
    analysis_images: int,
    quant_steps,
    pairs: int = 64,
    finetune_steps: int = 3000,
    threads: int | None = None,
    warmup=None,
):
    from rdcodec import analysis
    from rdcodec.analysis.figures import comparison_figure
    from rdcodec.eval.step_sweep import read_folder, sweep_points
    from rdcodec.image_io import read_image
    from rdcodec.train.data import center_crop
    from rdcodec.zoo.export import load_trained_network

    if threads:
        import torch

        torch.set_num_threads(threads)
    steps = next(iter(arms.values())).steps
    images = dict(list(read_folder(images_dir).items())[:limit])
    crops = [center_crop(read_image(data, name=name).pixels, crop) for name, data in list(images.items())[:analysis_images]]
    if len({c.shape for c in crops}) > 1:
        raise ExperimentError("the analysis crops differ in size: use a --crop no larger than every image")
    for arm in arms:  # every input checked before anything is measured
        final = work / arm / f"final-{steps}.pt"
        if not final.exists():
            raise ExperimentError(f"{final} is missing: train both arms to {steps} steps first")
        for factor in factors:
            run_dir = finetune_dir(work, arm, factor)
            check_finetune(run_dir, final, finetune_steps)
            if trained_step(run_dir) < finetune_steps:
                raise ExperimentError(f"{run_dir} is not fine-tuned to {finetune_steps} steps: run train to finish it")
    results: dict = {"images": list(images), "quant_steps": list(quant_steps), "lambda_factors": factors, "arms": {}}
    curves, reports = {}, {}
    for arm, cfg in arms.items():
        network, state = load_trained_network(work / arm / f"final-{steps}.pt")
        sweep = _curve(f"{arm}-sweep", sweep_points(network, state, images, list(quant_steps), threads))
        lam_points = [next(p for p in sweep.points if p.setting == "Δ=1")]
        for factor in factors:
            net_f, state_f = load_trained_network(finetune_dir(work, arm, factor) / "checkpoint.pt")
            point = sweep_points(net_f, state_f, images, [1.0], threads)[0]
            lam_points.append(dataclasses.replace(point, setting=f"λ×{factor:g}"))
        lam = _curve(f"{arm}-lambda", lam_points, kind="reference")
        curves[arm] = (sweep, lam)
        lambda2 = analysis.objective_lambda2(state.get("objective"))
        reports[arm] = analysis.latent_report(network.eval(), crops, cfg.objective.metric, lambda2, pairs=pairs)
        results["arms"][arm] = {
            "trained_steps": int(state["step"]),
            "sweep": [dataclasses.asdict(p) | {"per_image": None} for p in sweep.points],
            "lambda_curve": [dataclasses.asdict(p) | {"per_image": None} for p in lam.points],
            "sweep_against_own_lambda_curve": _bd(sweep, lam),
            "geometry": reports[arm].to_dict(),
        }
    if warmup is not None:  # the common start: where each objective took the same weights
        start = warmup_final(work, warmup)
        network, state = load_trained_network(start)
        for arm in arms:
            check_start(work / arm, start)
        report = analysis.latent_report(network.eval(), crops, cfg.objective.metric, None, pairs=pairs)
        reports["start"] = report
        results["start"] = {
            "trained_steps": int(state["step"]),
            "objective": state.get("objective"),
            "geometry": report.to_dict(),
        }
    (rs, rl), (bs, bl) = curves["radogaga"], curves["balle"]
    results["radogaga_against_balle"] = {
        "sweep": _bd(rs, _curve(bs.name, bs.points, kind="reference")),
        "lambda_curve": _bd(_curve(rl.name, rl.points), bl),
    }
    files = {
        "results.json": (json.dumps(results, indent=2) + "\n").encode(),
        "geometry.png": comparison_figure({LABELS[arm]: (r.energy, r.isometry) for arm, r in reports.items()}),
        "rd.png": _rd_figure(curves),
    }
    from rdcodec import atomic_file

    out.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        atomic_file.write_bytes(out / name, data)
    return results


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    for name in ("train", "evaluate"):
        s = sub.add_parser(name)
        s.add_argument("--work", type=Path, required=True, help="run directories (outside the work tree)")
        s.add_argument("--configs", type=Path, default=ROOT / "tools" / "configs" / "isometry")
        s.add_argument("--set", dest="overrides", action="append", default=[], help="KEY=VALUE for both arms")
        s.add_argument("--lambda-factors", default="0.25,0.5,2,4")
        s.add_argument("--finetune-steps", type=int, default=3000, help="steps of each λ fine-tune")
    t = sub.choices["train"]
    t.add_argument("--chunk", type=int, default=1000, help="steps per turn of each arm")
    t.add_argument("--until", type=int, default=None, help="stop both arms at this step for now (resume later)")
    t.add_argument("--no-progress", action="store_true")
    t.add_argument(
        "--arm", choices=ARMS, default=None, help="train this arm (and its fine-tunes) only: one process per arm, one core each"
    )
    e = sub.choices["evaluate"]
    e.add_argument("--images", type=Path, required=True)
    e.add_argument("--out", type=Path, required=True)
    e.add_argument("--limit", type=int, default=None, help="first N images only")
    e.add_argument("--crop", type=int, default=256, help="centre crop for the latent geometry")
    e.add_argument("--analysis-images", type=int, default=8)
    e.add_argument("--pairs", type=int, default=64, help="random direction pairs of the correlation")
    e.add_argument("--threads", type=int, default=0, help="threads of the transforms (0: all cores)")
    e.add_argument("--quant-steps", default=",".join(f"{d:g}" for d in SWEEP_STEPS), help="Δ sweep (must include 1)")
    args = p.parse_args(argv)

    from rdcodec.train.config import ConfigError
    from rdcodec.train.run_lock import RunDirectoryInUse

    try:
        factors = [float(f) for f in args.lambda_factors.split(",") if f]
        arms = load_arms(args.configs, args.overrides)
        warmup = load_warmup(args.configs, arms, args.overrides)
        if args.command == "train":
            if args.chunk <= 0 or args.finetune_steps <= 0:
                raise ExperimentError("--chunk and --finetune-steps must be positive")
            done = train_arms(
                arms, args.work, args.chunk, factors, args.finetune_steps, not args.no_progress, args.until, warmup, args.arm
            )
            print(json.dumps(done), file=sys.stderr)
        else:
            quant_steps = [float(d) for d in args.quant_steps.split(",")]
            if 1.0 not in quant_steps:
                raise ExperimentError("--quant-steps must include Δ = 1 (the point of the λ curve)")
            results = evaluate(
                arms,
                args.work,
                args.images,
                args.out,
                factors,
                args.limit,
                args.crop,
                args.analysis_images,
                quant_steps,
                pairs=args.pairs,
                finetune_steps=args.finetune_steps,
                threads=args.threads or None,
                warmup=warmup,
            )
            for arm, r in results["arms"].items():
                g = r["geometry"]
                print(
                    f"{arm}: top-10 {g['top10_energy_share']:.3f}, D' CV {g['isometry']['cv']:.3f}, "
                    f"Gram diag CV {g['jacobian_gram']['diagonal_cv']:.3f}; Δ sweep against own λ curve "
                    f"{r['sweep_against_own_lambda_curve']}",
                    file=sys.stderr,
                )
            print(f"eq. 5 against Ballé: {results['radogaga_against_balle']}", file=sys.stderr)
    except (ExperimentError, ConfigError, RunDirectoryInUse, ValueError, OSError) as exc:
        print(f"objective_isometry: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
