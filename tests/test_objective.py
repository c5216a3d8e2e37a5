"""The eq. 5 objective and the Ballé baseline."""

from __future__ import annotations

import math

import pytest
import torch

from rdcodec.distortion import distortion
from rdcodec.train.objective import ObjectiveConfig, objective


def _inputs(seed=0, size=64):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(2, 3, size, size, generator=g)
    clean = (x + 0.05 * torch.randn(x.shape, generator=g)).clamp(0, 1)
    noisy = (clean + 0.05 * torch.randn(x.shape, generator=g)).clamp(0, 1)
    lik = torch.full((2, 4, 4, 4), 0.25)
    return x, lik, clean, noisy


def test_rate_is_bits_per_pixel():
    x, lik, clean, noisy = _inputs()
    terms = objective(ObjectiveConfig(metric="mse"), x, lik, clean, noisy)
    # 2·4·4·4 symbols of 2 bits over 2·64·64 pixels
    assert terms.bpp.item() == pytest.approx(2 * 4 * 4 * 4 * 2 / (2 * 64 * 64))


@pytest.mark.parametrize("metric", ["mse", "ssim"])
@pytest.mark.parametrize("h", ["identity", "log"])
def test_radogaga_terms(metric, h):
    x, lik, clean, noisy = _inputs()
    cfg = ObjectiveConfig(kind="radogaga", metric=metric, h=h, lambda1=3.0, lambda2=5.0)
    terms = objective(cfg, x, lik, clean, noisy)
    d = distortion(metric, x, clean)
    hd = torch.log(d) if h == "log" else d
    expected = terms.bpp + 3.0 * hd + 5.0 * distortion(metric, clean, noisy)
    assert terms.total.item() == pytest.approx(expected.item(), rel=1e-6)
    assert terms.distortion.item() == pytest.approx(d.item())


def test_balle_baseline_uses_the_noisy_reconstruction():
    x, lik, clean, noisy = _inputs()
    terms = objective(ObjectiveConfig(kind="balle", metric="mse", lambda1=7.0), x, lik, clean, noisy)
    assert terms.total.item() == pytest.approx((terms.bpp + 7.0 * distortion("mse", x, noisy)).item(), rel=1e-6)
    assert terms.scaling is None
    # it never needs g(z), so the training pass does not decode it
    without_clean = objective(ObjectiveConfig(kind="balle", metric="mse", lambda1=7.0), x, lik, None, noisy)
    assert without_clean.total.item() == terms.total.item()
    with pytest.raises(ValueError, match="g\\(z\\)"):
        objective(ObjectiveConfig(kind="radogaga", metric="mse"), x, lik, None, noisy)


def test_balle_training_pass_decodes_only_the_noisy_latent():
    """RDAutoencoder.forward(decode_clean=False): one decoder call on z + ε, the same g(z + ε)
    as the batched call that also decodes z (float32, same noise)."""
    from rdcodec.model.network import NetworkConfig, RDAutoencoder

    torch.manual_seed(0)
    net = RDAutoencoder(NetworkConfig(N=8, M=8))
    x = torch.rand(2, 3, 32, 32)
    calls = []
    net.g_s.register_forward_hook(lambda module, inputs, output: calls.append(inputs[0].shape[0]))
    torch.manual_seed(1)
    both = net(x)
    torch.manual_seed(1)
    noisy_only = net(x, decode_clean=False)
    assert calls == [4, 2] and noisy_only.x_clean is None
    torch.testing.assert_close(noisy_only.x_noisy, both.x_noisy, rtol=1e-5, atol=1e-6)


def test_ms_ssim_needs_large_images_and_is_bounded():
    x, lik, clean, noisy = _inputs(size=176)
    d = distortion("ms-ssim", x, clean).item()
    assert 0 < d < 1
    assert distortion("ssim", x, x).item() == pytest.approx(0, abs=1e-6)


def test_bad_config_is_refused():
    with pytest.raises(ValueError):
        ObjectiveConfig(metric="psnr")
    with pytest.raises(ValueError):
        ObjectiveConfig(h="sqrt")
    assert math.isfinite(ObjectiveConfig().lambda1)
