"""Variable-rate training pieces: bins of width Δ, Δ drawn per batch, rescaled crops."""

from __future__ import annotations

import math

import numpy as np
import torch

from rdcodec.model.network import NetworkConfig, RDAutoencoder
from rdcodec.train.codec_task import draw_step, optimization_step
from rdcodec.train.data import CropSampler
from rdcodec.train.objective import ObjectiveConfig


def _net():
    torch.manual_seed(0)
    return RDAutoencoder(NetworkConfig(8, 8))


def test_bins_of_width_delta_match_compressai_at_unit_step():
    net = _net()
    z = net.encode_latent(torch.rand(2, 3, 32, 32)) * 3
    z_noisy, lk = net.noisy_latent(z, 1.0 + 1e-12)  # the generic path, at Δ ≈ 1
    eb = net.entropy_bottleneck
    v = z_noisy.transpose(0, 1).reshape(z.shape[1], 1, -1)
    ref = eb.likelihood_lower_bound(eb._likelihood(v)[0])  # compressai's unit-bin likelihood
    ref = ref.reshape(z.shape[1], z.shape[0], *z.shape[2:]).transpose(0, 1)
    assert torch.allclose(lk, ref, atol=1e-6)
    assert (z_noisy - z).abs().max() <= 0.5 + 1e-6


def test_wider_bins_hold_more_mass_and_noise_scales_with_delta():
    net = _net()
    z = net.encode_latent(torch.rand(2, 3, 32, 32))
    torch.manual_seed(1)
    zn_small, lk_small = net.noisy_latent(z, 0.5)
    torch.manual_seed(1)
    zn_big, lk_big = net.noisy_latent(z, 4.0)
    assert torch.allclose((zn_big - z), 8 * (zn_small - z), atol=1e-5)
    assert lk_big.mean() > lk_small.mean()
    assert lk_small.max() <= 1 and lk_big.max() <= 1


def test_draw_step_is_log_uniform_within_range():
    rng = np.random.default_rng(0)
    draws = np.array([draw_step(rng, [0.5, 4.0]) for _ in range(4000)])
    assert draws.min() >= 0.5 and draws.max() <= 4.0
    logs = np.log(draws)
    assert abs(np.median(logs) - math.log(math.sqrt(2.0))) < 0.05  # log-uniform: median at the geometric mean
    assert draw_step(rng, None) == 1.0


def test_optimization_step_at_a_coarse_step_lowers_the_rate_term():
    net = _net()
    main_params, _ = net.parameter_groups()
    opt = torch.optim.Adam(main_params, lr=1e-3)
    cfg = ObjectiveConfig(metric="mse", lambda1=100.0, lambda2=100.0)
    x = torch.rand(2, 3, 32, 32)
    torch.manual_seed(0)
    fine = optimization_step(net, opt, main_params, x, cfg, 0.5)
    torch.manual_seed(0)
    coarse = optimization_step(net, opt, main_params, x, cfg, 4.0)
    assert coarse.bpp < fine.bpp
    assert torch.isfinite(coarse.total)


def test_rescaled_crops_have_the_crop_size():
    img = (np.arange(200 * 300 * 3) % 251).astype(np.uint8).reshape(200, 300, 3)
    sampler = CropSampler([img], 64, seed=0, scale_range=(0.4, 1.5))
    batch = sampler.batch(8)
    assert batch.shape == (8, 3, 64, 64)
    assert 0 <= batch.min() and batch.max() <= 1
