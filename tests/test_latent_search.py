"""Encoder-side RD search: never worse than the plain encoder, decodes exactly, same format."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import synthetic_image

from rdcodec import codec
from rdcodec.distortion import distortion
from rdcodec.format import entropy
from rdcodec.image_tensor import to_tensor


def _objective(model, pixels, symbols):
    """The search's exact objective: frozen-table bits per pixel + λ1·D(x, g(ẑ)) on the padded image."""
    x = to_tensor(codec._padded(pixels))
    z_hat = model.network.dequantize(
        torch.from_numpy(symbols.astype(np.float32))[None], torch.from_numpy(model.medians), model.step
    )
    with torch.no_grad():
        d = distortion("ssim", x, model.network.decode_latent(z_hat).clamp(0, 1)).item()
    bits = entropy.estimate_bits(symbols.reshape(symbols.shape[0], -1), model.tables)
    return bits / (x.shape[-1] * x.shape[-2]) + model.entry.objective.lambda1 * d


def test_search_lowers_the_objective_and_decodes_to_its_symbols(tiny_model, tiny_registry):
    pixels = synthetic_image(40, 56, seed=2)
    plain = codec.encode_image(pixels, tiny_model)
    searched = codec.encode_image(pixels, tiny_model, search=15)
    assert searched.symbols.shape == plain.symbols.shape
    assert (searched.symbols != plain.symbols).any()  # the search moved some symbols, so it must have gained
    assert _objective(tiny_model, pixels, searched.symbols) < _objective(tiny_model, pixels, plain.symbols)
    decoded = codec.decode_stream(searched.data, registry=tiny_registry)
    c, h, w = searched.symbols.shape
    np.testing.assert_array_equal(decoded.pixels, codec.reconstruct(tiny_model, searched.symbols, 40, 56))
    assert searched.bits_per_pixel == len(searched.data) * 8 / (40 * 56)
    assert (decoded.header.latent_height, decoded.header.latent_width) == (h, w)


def test_search_is_deterministic(tiny_model):
    pixels = synthetic_image(40, 56, seed=5)  # not a small image: the SGA search itself runs
    assert (codec.latent_symbols(tiny_model, pixels, search=20) != codec.latent_symbols(tiny_model, pixels)).any()
    assert codec.encode(pixels, tiny_model, search=20) == codec.encode(pixels, tiny_model, search=20)


def test_search_needs_the_models_lambda(tmp_path):
    from conftest import make_tiny_network

    from rdcodec.zoo.export import export_model
    from rdcodec.zoo.registry import Registry

    registry = Registry(tmp_path)
    export_model(make_tiny_network(0), registry, "bare", objective={})
    model = codec.load_model(registry=registry)
    with pytest.raises(ValueError, match="cannot be searched"):
        codec.encode_image(synthetic_image(48, 48), model, search=2)
    assert codec.encode_image(synthetic_image(48, 48), model).data  # the plain encoder still works


def test_sga_temperature_holds_then_decays_to_the_papers_end_value():
    from rdcodec.search import SGA_DECAY, SGA_TAU_MAX, sga_temperature

    n = 200
    taus = [sga_temperature(i, n) for i in range(n)]
    hold = round(0.35 * n)
    assert taus[:hold] == [SGA_TAU_MAX] * hold
    assert all(a > b for a, b in zip(taus[hold:], taus[hold + 1 :]))  # strictly decreasing after the hold
    assert taus[-1] == pytest.approx(SGA_TAU_MAX * np.exp(-SGA_DECAY * (n - 1 - hold) / (n - hold)))
    assert sga_temperature(0, 1) == SGA_TAU_MAX  # a one-step search stays at the start temperature


def test_sga_round_stays_between_the_neighbours_and_anneals_to_rounding():
    from rdcodec.search import sga_round

    g = torch.Generator().manual_seed(1)
    v = torch.randn(4000, generator=g) * 3
    hot = sga_round(v, 0.5, torch.Generator().manual_seed(2))
    assert (hot >= torch.floor(v) - 1e-6).all() and (hot <= torch.floor(v) + 1 + 1e-6).all()
    assert not torch.equal(hot, torch.round(v))  # at τ = 0.5 the draw is soft and sometimes rounds away
    cold = sga_round(v, 0.02, torch.Generator().manual_seed(2))
    near = (v - torch.round(v)).abs() < 0.45  # away from the ties, τ → 0 is hard rounding
    assert torch.allclose(cold[near], torch.round(v)[near], atol=1e-3)
    # the nearer integer is the likelier draw: E[w] moves with the fraction
    fractions = torch.tensor([0.1, 0.3, 0.7, 0.9]).repeat(5000)
    means = sga_round(fractions, 0.5, torch.Generator().manual_seed(3)).view(5000, 4).mean(0)
    assert (means[1:] > means[:-1]).all() and means[0] < 0.5 < means[-1]


def test_sga_round_is_differentiable_in_v():
    from rdcodec.search import sga_round

    v = torch.tensor([0.2, 1.6, -0.7], requires_grad=True)
    sga_round(v, 0.5, torch.Generator().manual_seed(0)).sum().backward()
    assert v.grad is not None and torch.isfinite(v.grad).all() and (v.grad != 0).all()


@pytest.mark.parametrize("method", ["sga", "ste"])
def test_both_search_methods_beat_the_plain_encoder(tiny_model, method):
    pixels = synthetic_image(40, 56, seed=5)
    plain = codec.latent_symbols(tiny_model, pixels)
    searched = codec.latent_symbols(tiny_model, pixels, search=20, search_method=method)
    assert (searched != plain).any()  # it kept other symbols, which it does only for a lower objective
    assert _objective(tiny_model, pixels, searched) < _objective(tiny_model, pixels, plain)
    again = codec.latent_symbols(tiny_model, pixels, search=20, search_method=method)
    np.testing.assert_array_equal(searched, again)  # the same file every time


def test_sga_noise_comes_from_its_seed(tiny_model):
    from rdcodec.search import search_symbols

    x = to_tensor(codec._padded(synthetic_image(40, 56, seed=2)))
    objective = tiny_model.entry.objective

    def search(seed):
        return search_symbols(
            tiny_model.network, x, torch.from_numpy(tiny_model.medians), tiny_model.step, metric=objective.metric,
            lambda1=float(objective.lambda1), iterations=40, table_bits=lambda s: codec._table_bits(tiny_model, s), seed=seed,
        )  # fmt: skip

    assert torch.equal(search(0), search(0))
    assert not torch.equal(search(0), search(1))


def test_sga_is_the_default_search(tiny_model):
    pixels = synthetic_image(40, 56, seed=5)
    default = codec.latent_symbols(tiny_model, pixels, search=20)
    np.testing.assert_array_equal(default, codec.latent_symbols(tiny_model, pixels, search=20, search_method="sga"))
    assert not np.array_equal(default, codec.latent_symbols(tiny_model, pixels, search=20, search_method="ste"))


@pytest.mark.parametrize("method", ["sga", "ste"])
def test_a_search_with_room_to_improve_strictly_lowers_the_objective(method):
    """A random tiny network is far from its RD optimum: both searches must find better symbols."""
    from conftest import make_tiny_network

    from rdcodec.search import search_symbols

    net = make_tiny_network(0)
    x = to_tensor(codec._padded(synthetic_image(40, 56, seed=6)))
    medians = net.medians().detach()

    def cost(symbols):
        with torch.no_grad():
            x_hat = net.decode_latent(symbols + medians.view(1, -1, 1, 1)).clamp(0, 1)
            bits = net.bin_bits(symbols, medians, 1.0).item()
        return bits / (x.shape[-1] * x.shape[-2]) + 100.0 * distortion("mse", x, x_hat).item()

    with torch.no_grad():
        start = torch.round(net.encode_latent(x) - medians.view(1, -1, 1, 1))
    found = search_symbols(net, x, medians, 1.0, metric="mse", lambda1=100.0, iterations=40, lr=0.2, method=method)
    assert (found != start).sum() > 10
    assert cost(found) < cost(start) - 1e-4


def test_an_unknown_search_method_is_refused(tiny_model):
    from rdcodec.search import SearchError

    with pytest.raises(SearchError, match="unknown search method"):
        codec.latent_symbols(tiny_model, synthetic_image(40, 56), search=2, search_method="annealing")
