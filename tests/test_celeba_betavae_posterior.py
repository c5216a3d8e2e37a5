"""tools/experiments/celeba_betavae_posterior.py (issue 19 §2): the β-VAE's posterior per dimension and D′."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import load_tool
from test_celeba_geometry_trend import _faces, _snapshot


def test_posterior_statistics_and_d_prime_over_each_ranking(tmp_path):
    tool = load_tool("tools/experiments/celeba_betavae_posterior.py")
    from rdcodec import analysis
    from rdcodec.model.face import load_faces
    from rdcodec.train.face_task import load_face_network

    data = _faces(tmp_path / "faces")
    snapshot = _snapshot(tmp_path / "b.pt", "betavae", 300, 2)
    out = tmp_path / "posterior.json"
    assert tool.main([str(snapshot), "--data", str(data), "--held-out", "5", "--analysis-images", "2", "-o", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["step"] == 300 and report["dimensions"] == 12
    model = load_face_network(snapshot).model
    faces = load_faces(data, limit=5, size=32)
    with torch.no_grad():
        stats = model._features(faces).double()
    mu, logvar = stats[:, :12], stats[:, 12:]
    per_dim = report["per_dimension"]
    assert per_dim["variance_of_mu"] == pytest.approx(mu.var(dim=0, unbiased=False).tolist())
    assert per_dim["posterior_variance"] == pytest.approx(logvar.exp().mean(dim=0).tolist())
    kl = (0.5 * (mu**2 + logvar.exp() - 1 - logvar)).mean(dim=0)
    assert per_dim["kl_nats"] == pytest.approx(kl.tolist()) and report["kl_total_nats"] == pytest.approx(float(kl.sum()))
    var_mu, post = np.array(per_dim["variance_of_mu"]), np.array(per_dim["posterior_variance"])
    by_mu, by_z = report["top9"]
    assert by_mu["ranking"] == "variance_of_mu" and by_mu["dimensions"] == np.argsort(-var_mu)[:9].tolist()
    assert by_z["ranking"] == "variance_of_sampled_z" and by_z["dimensions"] == np.argsort(-(var_mu + post))[:9].tolist()
    assert by_mu["dimensions"] != by_z["dimensions"]  # the fixture tells the two rankings apart
    for top in (by_mu, by_z):
        expected = analysis.isometry(model, faces[:2], "ssim", channels=top["dimensions"], delta=0.25)
        assert top["d_prime"] == pytest.approx(expected.d_prime) and top["d_prime_cv"] == pytest.approx(expected.cv)
        chosen = post[top["dimensions"]]
        assert top["posterior_variance"] == pytest.approx(chosen.tolist())
        assert top["posterior_variance_cv"] == pytest.approx(chosen.std() / chosen.mean())
        product = np.array(top["d_prime"]) * chosen
        assert top["d_prime_times_posterior_variance_cv"] == pytest.approx(product.std() / product.mean())
    assert report["posterior_std_median"] == pytest.approx(float(np.median(np.sqrt(post))))
    for name, variance in (("variance_of_mu", var_mu), ("variance_of_sampled_z", var_mu + post)):
        assert report[f"top10_share_{name}"] == pytest.approx(np.sort(variance)[::-1][:10].sum() / variance.sum())
    assert report["active_dimensions"] == int((kl > 0.01).sum())


def test_refuses_a_radogaga_network_and_an_existing_output(tmp_path, capsys):
    tool = load_tool("tools/experiments/celeba_betavae_posterior.py")
    data = _faces(tmp_path / "faces")
    radogaga = _snapshot(tmp_path / "r.pt", "radogaga", 100, 0)
    out = tmp_path / "posterior.json"
    capsys.readouterr()
    assert tool.main([str(radogaga), "--data", str(data), "-o", str(out)]) == 2
    assert "a radogaga network, not a β-VAE" in capsys.readouterr().err
    assert not out.exists()
    out.write_text("kept")
    betavae = _snapshot(tmp_path / "b.pt", "betavae", 100, 0)
    assert tool.main([str(betavae), "--data", str(data), "-o", str(out)]) == 2
    assert "exists: remove it first" in capsys.readouterr().err
    assert out.read_text() == "kept"
