"""GMM prior numerics and the density estimator on small synthetic data."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import multivariate_normal

from rdcodec.density import DensityConfig, DensityEstimator, Mixture, energy, mixture_from_memberships


def test_energy_matches_scipy():
    rng = np.random.default_rng(0)
    d, k = 3, 2
    mu = rng.normal(size=(k, d))
    a = rng.normal(size=(k, d, d))
    sigma = a @ a.transpose(0, 2, 1) + 0.5 * np.eye(d)
    phi = np.array([0.3, 0.7])
    z = rng.normal(size=(50, d)) * 3
    mix = Mixture(torch.tensor(phi), torch.tensor(mu), torch.tensor(sigma))
    ours = energy(torch.tensor(z), mix).numpy()
    ref = -np.log(sum(phi[i] * multivariate_normal(mu[i], sigma[i]).pdf(z) for i in range(k)))
    np.testing.assert_allclose(ours, ref, rtol=1e-8)


def test_energy_stays_finite_far_away():
    mix = Mixture(torch.tensor([1.0]), torch.zeros(1, 2, dtype=torch.float64), torch.eye(2, dtype=torch.float64)[None] * 1e-4)
    value = energy(torch.tensor([[1e3, -1e3]], dtype=torch.float64), mix)
    assert torch.isfinite(value).all() and value.item() > 1e9


def test_mixture_from_hard_memberships_is_the_sample_statistics():
    rng = np.random.default_rng(1)
    z = torch.tensor(rng.normal(size=(40, 2)))
    gamma = torch.zeros(40, 2, dtype=torch.float64)
    gamma[:25, 0] = 1
    gamma[25:, 1] = 1
    mix = mixture_from_memberships(z, gamma, jitter=0.0)
    np.testing.assert_allclose(mix.phi.numpy(), [25 / 40, 15 / 40])
    np.testing.assert_allclose(mix.mu[0].numpy(), z[:25].mean(0).numpy())
    np.testing.assert_allclose(mix.sigma[1].numpy(), np.cov(z[25:].numpy().T, bias=True), atol=1e-12)


@pytest.mark.parametrize("kind", ["radogaga", "dagmm"])
def test_planted_outliers_are_found(kind):
    rng = np.random.default_rng(2)
    basis = rng.normal(size=(2, 8))
    normal = np.tanh(rng.normal(size=(600, 2)) @ basis * 0.3)
    outliers = rng.uniform(-1, 1, size=(30, 8))
    cfg = DensityConfig(
        input_dim=8,
        hidden=(16,),
        latent=2,
        estimation=(8,),
        components=2,
        kind=kind,
        lambda1=1e2 if kind == "radogaga" else 0.1,
        lambda2=1e2 if kind == "radogaga" else 0.005,
    )
    est = DensityEstimator(cfg, seed=0).fit(normal[:500], epochs=60, batch_size=128, lr=3e-3, seed=0)
    scores = est.score_samples(np.vstack([normal[500:], outliers]))
    labels = np.r_[np.zeros(100), np.ones(30)]
    flagged = scores >= np.quantile(scores, 1 - 30 / 130)
    tp = (flagged & (labels == 1)).sum()
    f1 = 2 * tp / (flagged.sum() + 30)
    assert f1 > 0.6  # chance level is 30/130 ≈ 0.23


def test_loaders_on_small_files_of_the_same_formats(tmp_path):
    from scipy.io import savemat

    from rdcodec.density import datasets

    rng = np.random.default_rng(0)
    kdd = np.hstack([rng.random((100, 5)), (np.arange(100) < 20)[:, None].astype(float)])
    np.savez(tmp_path / "kdd_cup.npz", kdd=kdd)
    savemat(tmp_path / "thyroid.mat", {"X": rng.random((40, 6)), "y": (np.arange(40) < 4)[:, None].astype(float)})
    x, y = datasets.load("kddcup", tmp_path)
    assert x.shape == (100, 5) and y.sum() == 20
    x, y = datasets.load("kddcup-rev", tmp_path)
    assert (y == 0).sum() == 20 and (y == 1).sum() == 5  # all 'normal' rows + attacks making 20%
    x, y = datasets.load("thyroid", tmp_path)
    assert x.shape == (40, 6) and y.sum() == 4
    s = datasets.split(x, y, seed=0)
    assert len(s.test) == 20 and s.anomaly_ratio == pytest.approx(0.1)
    assert s.train.min() >= 0 and s.train.max() <= 1


def test_evaluate_counts():
    from rdcodec.density.datasets import evaluate

    scores = np.array([0.1, 0.2, 0.3, 0.9, 0.8])
    labels = np.array([0, 0, 0, 1, 0])
    result = evaluate(scores, labels, 0.4)
    assert result.precision == pytest.approx(0.5) and result.recall == 1.0 and result.f1 == pytest.approx(2 / 3)


def test_evaluate_edge_cases():
    from rdcodec.density.datasets import evaluate

    scores = np.array([0.1, 0.2, 0.3, 0.9, 0.8, 0.7, 0.6, 0.5])
    labels = np.array([0, 1, 0, 1, 1, 0, 0, 1])
    result = evaluate(scores, labels, 0.375)  # flags 0.9, 0.8, 0.7 (above the 0.625 quantile 0.6375): TP 2, FP 1, FN 2
    assert result.precision == pytest.approx(2 / 3) and result.recall == pytest.approx(0.5) and result.f1 == pytest.approx(4 / 7)
    assert evaluate(scores, labels, 0.0) == (0.0, 0.0, 0.0)  # nothing flagged: precision 0, not a division by zero
    assert evaluate(scores, np.zeros(8, dtype=int), 0.5) == (0.0, 0.0, 0.0)  # no anomalies
    assert evaluate(np.ones(8), labels, 0.5) == (0.0, 0.0, 0.0)  # all scores tied: none above the threshold


def test_f1_upper_bound_holds_for_another_threshold_and_is_reached():
    from rdcodec.density.datasets import evaluate, f1_upper_bound, flagged_count

    rng = np.random.default_rng(3)
    for n, a, b in [(1000, 0.1969, 0.20), (1886, 0.0247, 0.025), (226, 0.146, 0.15), (500, 0.3, 0.2)]:
        labels = (rng.random(n) < a).astype(int)
        scores = rng.normal(size=n) + 1.5 * labels
        before, after = evaluate(scores, labels, a), evaluate(scores, labels, b)
        anomalies = int(labels.sum())
        flagged = flagged_count(n, a)
        assert flagged == int((scores > np.quantile(scores, 1 - a)).sum()) and flagged_count(n, b) == int(
            (scores > np.quantile(scores, 1 - b)).sum()
        )
        tp = round(before.recall * anomalies)
        assert tp == round(before.precision * flagged)
        assert after.f1 <= f1_upper_bound(tp, flagged, anomalies, flagged_count(n, b)) + 1e-12
    # reached when every extra flag is an anomaly: five anomalies ranked first, three of them flagged at 15 %
    labels = np.array([1] * 5 + [0] * 15)
    scores = -np.arange(20.0)
    narrow = evaluate(scores, labels, 0.15)
    assert flagged_count(20, 0.15) == 3 and narrow.f1 == pytest.approx(2 * 3 / (3 + 5))
    assert evaluate(scores, labels, 0.25).f1 == pytest.approx(1.0) == f1_upper_bound(3, 3, 5, flagged_count(20, 0.25))
    assert f1_upper_bound(3, 3, 5, 2) == pytest.approx(2 * 2 / 7)  # fewer flags: TP can only shrink to the flags kept


def test_threshold_bound_tool_bounds_the_f1_of_another_ratio_even_with_tied_scores():
    import importlib.util
    from pathlib import Path

    from rdcodec.density.datasets import evaluate

    path = Path(__file__).resolve().parent.parent / "tools/experiments/anomaly_threshold_bound.py"
    spec = importlib.util.spec_from_file_location("anomaly_threshold_bound", path)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    rng = np.random.default_rng(5)
    for trial in range(300):
        n = int(rng.integers(50, 400))
        labels = (rng.random(n) < 0.2).astype(int)
        scores = np.round(rng.normal(size=n) + 2 * labels, [0, 1, 6][trial % 3])  # rounded to 0 or 1 decimals: many ties
        share, other = float(labels.mean()), float(rng.uniform(0.05, 0.4))
        before = evaluate(scores, labels, share)
        anomalies = int(labels.sum())
        tp = round(before.recall * anomalies)
        flagged = round(tp / before.precision) if before.precision > 0 else 0
        bound = tool.best_f1(tp, flagged, anomalies, n, share, other)
        assert evaluate(scores, labels, other).f1 <= bound + 1e-12
        assert tool.best_f1(tp, flagged, anomalies, n, share, share) == pytest.approx(before.f1)


@pytest.mark.slow
def test_experiment_scripts_run_on_small_files(tmp_path):
    import json
    import subprocess
    import sys
    from pathlib import Path

    from scipy.io import savemat

    rng = np.random.default_rng(0)
    s = rng.normal(size=(300, 3))
    x = np.tanh(s @ rng.uniform(-1, 1, (3, 16)))
    density = np.exp(-0.5 * (s**2).sum(1))
    np.savetxt(tmp_path / "toy.csv", np.column_stack([x, density, np.zeros(300)]), delimiter=",")
    savemat(tmp_path / "thyroid.mat", {"X": rng.random((200, 6)), "y": (np.arange(200) < 10)[:, None].astype(float)})
    root = Path(__file__).resolve().parent.parent
    subprocess.run(
        [
            sys.executable,
            str(root / "tools/experiments/toy_density.py"),
            "--data",
            str(tmp_path / "toy.csv"),
            "--out",
            str(tmp_path / "toy"),
            "--seeds",
            "2",
            "--epochs",
            "2",
            "--warmup-epochs",
            "1",
        ],
        check=True,
        timeout=300,
    )
    toy = json.loads((tmp_path / "toy" / "results.json").read_text())
    assert set(toy["models"]) == {"DAGMM", "RaDOGAGA(d)", "RaDOGAGA(log d)"}
    assert all(m["seeds"] == 2 and {"en", "em"} <= set(m) for m in toy["models"].values())
    assert (tmp_path / "toy" / "fig5_density.png").stat().st_size > 0
    # another schedule re-runs seed 0 only; seed 1's run of the first schedule is left out, not mixed in
    subprocess.run(
        [
            sys.executable,
            str(root / "tools/experiments/toy_density.py"),
            "--data",
            str(tmp_path / "toy.csv"),
            "--out",
            str(tmp_path / "toy"),
            "--seeds",
            "1",
            "--epochs",
            "3",
            "--warmup-epochs",
            "1",
            "--models",
            "DAGMM",
        ],
        check=True,
        timeout=300,
    )
    toy = json.loads((tmp_path / "toy" / "results.json").read_text())
    assert [run["epochs"] for run in toy["models"]["DAGMM"]["runs"]] == [3]
    assert set(toy["models"]) == {"DAGMM"}  # the RaDOGAGA runs are all of the first schedule
    # --restarts keeps the restart with the lowest final training objective and records them all
    subprocess.run(
        [
            sys.executable,
            str(root / "tools/experiments/toy_density.py"),
            "--data",
            str(tmp_path / "toy.csv"),
            "--out",
            str(tmp_path / "toy3"),
            "--seeds",
            "1",
            "--epochs",
            "2",
            "--warmup-epochs",
            "1",
            "--restarts",
            "2",
            "--models",
            "RaDOGAGA(d)",
        ],
        check=True,
        timeout=300,
    )
    first = (tmp_path / "toy3" / "runs" / "RaDOGAGAd-seed0.json").read_text()
    run = json.loads(first)
    assert run["restarts"] == 2  # the count, part of the schedule; the runs themselves are under restart_runs
    assert [r["seed"] for r in run["restart_runs"]] == [0, 1000] and run["restart_runs"][0]["final_loss"] != run["restart_runs"][
        1
    ]["final_loss"]
    chosen = min(range(2), key=lambda i: run["restart_runs"][i]["final_loss"])
    subprocess.run(
        [
            sys.executable,
            str(root / "tools/experiments/toy_density.py"),
            "--data",
            str(tmp_path / "toy.csv"),
            "--out",
            str(tmp_path / "toy3"),
            "--seeds",
            "1",
            "--epochs",
            "2",
            "--warmup-epochs",
            "1",
            "--restarts",
            "2",
            "--models",
            "RaDOGAGA(d)",
        ],
        check=True,
        timeout=300,
    )
    assert (tmp_path / "toy3" / "runs" / "RaDOGAGAd-seed0.json").read_text() == first  # resumed, not trained again
    assert (
        run["chosen_restart"] == chosen
        and run["en"] == pytest.approx(run["restart_runs"][chosen]["en"])
        and run["restart_runs"][chosen]["trajectory"][-1]["epoch"] == 2
    )
    subprocess.run(
        [
            sys.executable,
            str(root / "tools/experiments/anomaly.py"),
            "--data",
            str(tmp_path),
            "--out",
            str(tmp_path / "an"),
            "--datasets",
            "thyroid",
            "--seeds",
            "2",
            "--epochs-scale",
            "0.001",
            "--detectors",
            "radogaga-d,dagmm",
        ],
        check=True,
        timeout=300,
    )
    an = json.loads((tmp_path / "an" / "results.json").read_text())
    assert set(an["datasets"]["thyroid"]) == {"radogaga-d", "radogaga-d+em", "dagmm", "dagmm+em"}
    assert all(row["seeds"] == 2 for row in an["datasets"]["thyroid"].values())
    assert all(0 <= d["f1"]["mean"] <= 1 for d in an["datasets"]["thyroid"].values())
    # a run trained with other settings (here: other λ's) is left out of the table, not mixed in
    import importlib.util

    spec = importlib.util.spec_from_file_location("anomaly_driver", root / "tools/experiments/anomaly.py")
    driver = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(driver)
    stale = tmp_path / "an" / "runs" / "thyroid" / "dagmm-seed1.json"
    run = json.loads(stale.read_text())
    run["settings"]["lambdas"] = [1.0, 1.0]
    stale.write_text(json.dumps(run))
    again = driver.collect(tmp_path / "an", {}, epochs_scale=0.001)
    assert again["stale_runs"] == 1 and again["datasets"]["thyroid"]["dagmm"]["seeds"] == 1
    assert again["datasets"]["thyroid"]["radogaga-d"]["seeds"] == 2
    # --first-seed runs only the seeds from there on, so processes can share a grid
    seed0 = (tmp_path / "an" / "runs" / "thyroid" / "dagmm-seed0.json").read_text()
    subprocess.run(
        [
            sys.executable,
            str(root / "tools/experiments/anomaly.py"),
            "--data",
            str(tmp_path),
            "--out",
            str(tmp_path / "an"),
            "--datasets",
            "thyroid",
            "--first-seed",
            "1",
            "--seeds",
            "3",
            "--epochs-scale",
            "0.001",
            "--detectors",
            "dagmm",
        ],
        check=True,
        timeout=300,
    )
    assert (tmp_path / "an" / "runs" / "thyroid" / "dagmm-seed0.json").read_text() == seed0
    assert not (tmp_path / "an" / "runs" / "thyroid" / "radogaga-d-seed2.json").exists()
    an = json.loads((tmp_path / "an" / "results.json").read_text())
    assert [r["seed"] for r in an["datasets"]["thyroid"]["dagmm"]["runs"]] == [0, 1, 2]  # seed 1 re-run with the current settings
    # the convergence check trains the same networks and reports the windowed training objective
    report_path = tmp_path / "conv" / "thyroid.json"
    subprocess.run(
        [
            sys.executable,
            str(root / "tools/experiments/anomaly_convergence.py"),
            "--data",
            str(tmp_path),
            "--dataset",
            "thyroid",
            "--epochs",
            "10",
            "--window",
            "2",
            "--detectors",
            "radogaga-log,dagmm",
            "--out",
            str(report_path),
        ],
        check=True,
        timeout=300,
    )
    report = json.loads(report_path.read_text())
    assert set(report["detectors"]) == {"radogaga-log", "dagmm"}
    assert all(
        list(d["objective"]) == [str(m) for m in range(1, 11)] and all(np.isfinite(list(d["objective"].values())))
        for d in report["detectors"].values()
    )
    bad = subprocess.run(
        [
            sys.executable,
            str(root / "tools/experiments/anomaly_convergence.py"),
            "--data",
            str(tmp_path),
            "--dataset",
            "mnist",
            "--epochs",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert bad.returncode == 2 and "--dataset must be one of" in bad.stderr
    # the threshold bound reads the finished runs: no bound below the F1 it starts from, none above 1
    subprocess.run(
        [
            sys.executable,
            str(root / "tools/experiments/anomaly_threshold_bound.py"),
            "--data",
            str(tmp_path),
            "--results",
            str(tmp_path / "an" / "results.json"),
            "--out",
            str(tmp_path / "bound.json"),
        ],
        check=True,
        timeout=300,
    )
    rows = json.loads((tmp_path / "bound.json").read_text())["datasets"]["thyroid"]
    assert set(rows) == {"radogaga-d", "dagmm"}
    assert all(
        row["f1"] - 1e-12 <= row[key] <= 1 for row in rows.values() for key in ("bound_nominal_ratio", "bound_paper_flag_ratio")
    )
    missing = subprocess.run(
        [
            sys.executable,
            str(root / "tools/experiments/anomaly_threshold_bound.py"),
            "--data",
            str(tmp_path),
            "--results",
            str(tmp_path / "none.json"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert missing.returncode == 2 and "no results file" in missing.stderr


def test_energy_is_finite_for_a_singular_covariance():
    from rdcodec.density.gmm import energy, mixture_from_memberships

    t = torch.linspace(0, 1, 64)[:, None]
    z = torch.cat([t, 2 * t, -t], dim=1)  # rank 1: every covariance is singular
    gamma = torch.full((64, 2), 0.5)
    mix = mixture_from_memberships(z, gamma, jitter=0.0)
    r = energy(z, mix)
    assert torch.isfinite(r).all()


def test_em_refinement_revives_a_dead_component():
    from rdcodec.density import refine_em

    rng = np.random.default_rng(3)
    centres = np.array([[0.0, 0.0], [6.0, 0.0], [0.0, 6.0]])
    z = torch.tensor(np.vstack([c + rng.normal(size=(200, 2)) for c in centres]))
    # the estimation network's failure mode: two clusters merged, the third component dead
    gamma = torch.zeros(600, 3, dtype=torch.float64)
    gamma[:400, 0] = 1
    gamma[400:, 1] = 1
    gamma[:, 2] = 1e-9
    start = mixture_from_memberships(z, gamma)
    refined = refine_em(z, start, steps=50, restarts=3, seed=0)
    assert energy(z, refined).mean() < energy(z, start).mean() - 0.2  # 4.21 → 3.91 nats
    np.testing.assert_allclose(np.sort(refined.phi.numpy()), [1 / 3] * 3, atol=0.02)
    found = sorted(map(tuple, refined.mu.numpy().round()))
    assert found == sorted(map(tuple, centres))


def test_em_refinement_of_one_component_is_the_sample_statistics():
    from rdcodec.density import refine_em

    rng = np.random.default_rng(6)
    z = torch.tensor(rng.normal(size=(200, 3)) @ rng.normal(size=(3, 3)) + 2.0, dtype=torch.float32)
    start = Mixture(torch.ones(1), torch.zeros(1, 3), torch.eye(3)[None])
    refined = refine_em(z, start, steps=1, restarts=0, jitter=1e-3)  # the start's run only: one E- and M-step
    assert isinstance(refined, Mixture) and all(t.dtype == torch.float64 for t in refined)
    data = z.double().numpy()
    np.testing.assert_allclose(refined.phi.numpy(), [1.0])
    np.testing.assert_allclose(refined.mu[0].numpy(), data.mean(0), atol=1e-12)
    np.testing.assert_allclose(refined.sigma[0].numpy(), np.cov(data.T, bias=True) + 1e-3 * np.eye(3), atol=1e-12)


def test_em_refinement_never_lowers_the_likelihood():
    from rdcodec.density import refine_em

    rng = np.random.default_rng(4)
    z = torch.tensor(rng.normal(size=(300, 3)))
    for seed in range(3):
        start = mixture_from_memberships(z, torch.softmax(torch.tensor(rng.normal(size=(300, 2))), dim=1))
        refined = refine_em(z, start, steps=5, restarts=1, seed=seed)
        assert energy(z, refined).mean() <= energy(z, start).mean() + 1e-12


def test_estimator_mixture_can_be_refined_and_passed_explicitly():
    rng = np.random.default_rng(5)
    x = np.tanh(rng.normal(size=(300, 2)) @ rng.normal(size=(2, 6)) * 0.3)
    cfg = DensityConfig(input_dim=6, hidden=(8,), latent=2, estimation=(4,), components=2, lambda1=10.0, lambda2=10.0)
    seen = []
    est = DensityEstimator(cfg, seed=0).fit(x, epochs=3, batch_size=100, lr=1e-3, on_epoch=lambda e, epoch: seen.append(epoch))
    assert seen == [1, 2, 3]
    network_mixture = est.mixture
    before = est.score_samples(x).mean()
    est.refine_mixture(x, steps=20)
    assert est.score_samples(x).mean() <= before + 1e-9
    stored = (est.mixture.mu.clone(), est.mixture.sigma.clone(), est.mixture.phi.clone())
    again = est.refined_mixture(x, network_mixture, steps=20)  # the same refinement, the same mixture
    np.testing.assert_allclose(again.mu.numpy(), est.mixture.mu.numpy())
    other = est.refined_mixture(x, network_mixture, steps=1)  # pure: another refinement leaves the stored one alone
    assert not np.allclose(other.mu.numpy(), stored[0].numpy())
    assert all(torch.equal(a, b) for a, b in zip((est.mixture.mu, est.mixture.sigma, est.mixture.phi), stored))
    np.testing.assert_allclose(est.score_samples(x, network_mixture).mean(), before)


def test_warmup_trains_the_autoencoder_on_reconstruction_alone():
    rng = np.random.default_rng(6)
    x = np.tanh(rng.normal(size=(200, 2)) @ rng.normal(size=(2, 6)) * 0.3)
    cfg = DensityConfig(input_dim=6, hidden=(8,), latent=2, estimation=(4,), components=2, lambda1=10.0, lambda2=10.0)
    est = DensityEstimator(cfg, seed=0)
    before = {k: v.clone() for k, v in est.network.state_dict().items()}
    terms = est.network.loss(torch.as_tensor(x[:50], dtype=torch.float32), reconstruction_only=True)
    assert terms.total.item() == pytest.approx(terms.distortion.item()) and terms.scaling.item() == 0
    est.fit(x, epochs=2, batch_size=50, lr=1e-2, warmup_epochs=2)
    after = est.network.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before if k.startswith("estimation."))  # no rate gradient yet
    assert not torch.equal(before["encoder.0.weight"], after["encoder.0.weight"])


def test_fit_best_of_keeps_the_restart_with_the_lowest_training_objective():
    rng = np.random.default_rng(7)
    x = np.tanh(rng.normal(size=(120, 2)) @ rng.normal(size=(2, 6)) * 0.3)
    cfg = DensityConfig(input_dim=6, hidden=(8,), latent=2, estimation=(4,), components=2, lambda1=10.0, lambda2=10.0)
    fit = dict(epochs=3, batch_size=40, lr=1e-2)
    seen = []
    best = DensityEstimator.fit_best_of(
        cfg, x, restarts=3, seed=5, on_restart=lambda est, r: seen.append((r, est.history[-1]["loss"])), **fit
    )
    singles = [DensityEstimator(cfg, seed=s).fit(x, seed=s, **fit) for s in (5, 1005, 2005)]
    losses = [e.history[-1]["loss"] for e in singles]
    assert best.restart_losses == pytest.approx(losses) and len(set(losses)) == 3
    assert [r for r, _ in seen] == [0, 1, 2] and [loss for _, loss in seen] == pytest.approx(losses)
    chosen = singles[int(np.argmin(losses))]
    np.testing.assert_array_equal(best.score_samples(x), chosen.score_samples(x))
    one = DensityEstimator.fit_best_of(cfg, x, restarts=1, seed=5, **fit)  # restarts=1 is a plain fit
    np.testing.assert_array_equal(one.score_samples(x), singles[0].score_samples(x))
    with pytest.raises(ValueError):
        DensityEstimator.fit_best_of(cfg, x, restarts=0)


def test_initial_latent_std_rescales_the_encoder_output_before_training():
    rng = np.random.default_rng(8)
    x = 0.01 * rng.normal(size=(300, 5))  # low-variance data: default init gives a tiny latent
    cfg = DensityConfig(input_dim=5, hidden=(8,), latent=3, estimation=(4,), components=2)
    plain = DensityEstimator(cfg, seed=0).fit(x, epochs=0)
    assert plain.latent(x).std(axis=0).max() < 0.05
    scaled = DensityEstimator(cfg, seed=0).fit(x, epochs=0, initial_latent_std=2.0)
    np.testing.assert_allclose(scaled.latent(x).std(axis=0), 2.0, rtol=1e-4)
    with pytest.raises(ValueError):
        DensityEstimator(cfg, seed=0).fit(x, epochs=0, initial_latent_std=0.0)
