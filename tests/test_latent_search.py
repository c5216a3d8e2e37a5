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
    assert _objective(tiny_model, pixels, searched.symbols) <= _objective(tiny_model, pixels, plain.symbols) + 1e-9
    decoded = codec.decode_stream(searched.data, registry=tiny_registry)
    c, h, w = searched.symbols.shape
    np.testing.assert_array_equal(decoded.pixels, codec.reconstruct(tiny_model, searched.symbols, 40, 56))
    assert searched.bits_per_pixel == len(searched.data) * 8 / (40 * 56)
    assert (decoded.header.latent_height, decoded.header.latent_width) == (h, w)


def test_search_is_deterministic(tiny_model):
    pixels = synthetic_image(24, 24, seed=3)
    assert codec.encode(pixels, tiny_model, search=5) == codec.encode(pixels, tiny_model, search=5)


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
