"""rdcodec.analysis.latent on tiny models with known geometry."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import make_tiny_network, synthetic_folder, synthetic_image
from torch import nn

from rdcodec.analysis.latent import channel_energy, isometry, jacobian_gram, predicted_d_prime, traverse


class LinearImageModel(nn.Module):
    """z = Wᵀ(x − ½), g(z) = ½ + W z with W's columns scaled by ``scales`` (orthogonal directions)."""

    def __init__(self, scales, size=8, seed=0):
        super().__init__()
        d = 3 * size * size
        g = torch.Generator().manual_seed(seed)
        q, _ = torch.linalg.qr(torch.randn(d, len(scales), generator=g, dtype=torch.float64))
        self.register_buffer("W", q * torch.tensor(scales, dtype=torch.float64))
        self.size = size

    def encode_latent(self, x):
        flat = (x - 0.5).reshape(len(x), -1).to(self.W.dtype)
        return flat @ self.W / (self.W**2).sum(0)

    def decode_latent(self, z):
        return (0.5 + z @ self.W.T).reshape(len(z), 3, self.size, self.size)


def _images(n=6, size=8, seed=0):
    rng = np.random.default_rng(seed)
    return torch.from_numpy(rng.uniform(0.2, 0.8, (n, 3, size, size)))


def test_orthonormal_decoder_is_isometric():
    model = LinearImageModel([1.0] * 6)
    report = isometry(model, _images(), "mse", channels=list(range(6)), delta=0.1, pairs=40)
    assert report.cv == pytest.approx(0.0, abs=1e-9)
    assert report.random_direction_correlation == pytest.approx(1.0, abs=1e-9)
    # Q(u) = H·W·mean(u²) = |u|²/3 for 3 channels: D′ = 1/3 per unit column
    assert report.mean == pytest.approx(1 / 3, rel=1e-9)
    gram = jacobian_gram(model, _images(1), "mse", channels=list(range(6)))
    assert gram.diagonal_cv == pytest.approx(0.0, abs=1e-6)
    assert gram.offdiagonal_ratio == pytest.approx(0.0, abs=1e-6)


def test_unequal_column_norms_are_flagged():
    model = LinearImageModel([1.0, 3.0, 0.3, 2.0])
    report = isometry(model, _images(), "mse", channels=list(range(4)), delta=0.1, pairs=40)
    assert report.cv > 0.5
    gram = jacobian_gram(model, _images(1), "mse", channels=list(range(4)))
    assert gram.diagonal_cv > 0.5


def test_channel_energy_is_sorted_and_cumulative():
    model = LinearImageModel([1.0, 1.0, 1.0])
    images = _images(20)
    energy = channel_energy(model, images)
    assert sorted(energy.order) == [0, 1, 2]
    assert energy.variance == sorted(energy.variance, reverse=True)
    assert energy.cumulative_ratio[-1] == pytest.approx(1.0)
    assert all(a <= b + 1e-12 for a, b in zip(energy.cumulative_ratio, energy.cumulative_ratio[1:]))


def test_conv_model_shapes_and_traversal():
    net = make_tiny_network()
    images = [synthetic_image(48, 48, seed=i) for i in range(2)]
    energy = channel_energy(net, images)
    assert len(energy.order) == net.config.M
    report = isometry(net, images, "mse", top=3, positions=2, pairs=8, lambda2=8.0)
    assert len(report.d_prime) == 3 and report.channels == energy.order[:3]
    assert report.predicted == pytest.approx(predicted_d_prime(8.0)) == pytest.approx(6 / (8 * np.log(2)))
    grid = traverse(net, images[0], channels=[0, 1], steps=3)
    assert grid.shape == (2 * 48, 3 * 48, 3) and grid.dtype == np.uint8


def test_analyze_cli(tmp_path, models_env):
    import json

    from click.testing import CliRunner

    from rdcodec.cli import main

    synthetic_folder(tmp_path, [(40, 44)] * 2)
    out = tmp_path / "out"
    r = CliRunner().invoke(
        main,
        [
            "analyze",
            str(tmp_path / "0.png"),
            str(tmp_path / "1.png"),
            "-o",
            str(out),
            "--crop",
            "32",
            "--top",
            "3",
            "--metric",
            "mse",
        ],
    )
    assert r.exit_code == 0, r.output
    report = json.loads((out / "analysis.json").read_text())
    assert len(report["isometry"]["d_prime"]) == 3
    for name in ("energy.png", "isometry.png", "traversal.png"):
        assert (out / name).read_bytes()[:4] == b"\x89PNG"
    r = CliRunner().invoke(main, ["analyze", str(tmp_path / "0.png"), "-o", str(out)])
    assert r.exit_code == 2 and "exists" in r.stderr


def test_the_isometry_prediction_belongs_to_eq5_only():
    from rdcodec.analysis import objective_lambda2

    assert objective_lambda2({"kind": "radogaga", "lambda2": 8.0}) == 8.0
    assert objective_lambda2({"lambda2": 3.0}) == 3.0  # objectives written before the kind field were eq. 5
    assert objective_lambda2({"kind": "balle", "lambda1": 8.0, "lambda2": 8.0}) is None
    assert objective_lambda2(None) is None
