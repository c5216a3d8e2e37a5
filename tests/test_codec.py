"""rdcodec.codec: round trips, the coding properties, determinism, model checks."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import export_tiny, synthetic_image

from rdcodec import codec
from rdcodec.format import entropy
from rdcodec.format.container import unpack


@pytest.mark.parametrize("size", [(1, 1), (17, 23), (64, 48), (33, 16)])
def test_round_trip_odd_sizes(tiny_model, tiny_registry, size):
    pixels = synthetic_image(*size)
    result = codec.encode_image(pixels, tiny_model)
    decoded = codec.decode_stream(result.data, registry=tiny_registry)
    assert decoded.pixels.shape == pixels.shape
    assert decoded.pixels.dtype == np.uint8
    assert result.bits_per_pixel == len(result.data) * 8 / (size[0] * size[1])


def test_decode_yields_the_models_own_symbols_and_reconstruction(tiny_model):
    pixels = synthetic_image(40, 72, seed=5)
    symbols = codec.latent_symbols(tiny_model, pixels)
    data = codec.encode(pixels, tiny_model)
    parsed = unpack(data)
    c, h, w = symbols.shape
    assert (parsed.header.latent_channels, parsed.header.latent_height, parsed.header.latent_width) == (c, h, w)
    decoded_symbols = entropy.decode(parsed.payload, tiny_model.tables, h * w).reshape(c, h, w)
    np.testing.assert_array_equal(decoded_symbols, symbols)
    # ...and the pixels are g_s of exactly those symbols.
    np.testing.assert_array_equal(codec.decode(data, tiny_model), codec.reconstruct(tiny_model, symbols, 40, 72))


def test_symbols_are_rounded_latents(tiny_model):
    pixels = synthetic_image(48, 48, seed=2)  # 3 × 3 latent positions: not a small image (no refinement)
    assert not codec.is_small_image(48, 48)
    with torch.no_grad():
        z = tiny_model.network.encode_latent(torch.from_numpy(pixels).permute(2, 0, 1)[None].float() / 255)
    expected = torch.round(z[0] - torch.from_numpy(tiny_model.medians).view(-1, 1, 1)).numpy()
    np.testing.assert_array_equal(codec.latent_symbols(tiny_model, pixels), expected.astype(np.int32))


def test_file_size_is_bounded_by_the_estimate(tiny_model, sample_path):
    """bytes ≤ estimated bits / 8 × 1.001 + container bytes + 8 (range-coder flush: two 32-bit words)."""
    result = codec.encode_image(sample_path, tiny_model)
    est_bytes = result.estimated_bpp * result.width * result.height / 8
    assert len(result.data) - result.header_bytes >= est_bytes  # real ≥ estimated
    assert len(result.data) <= est_bytes * 1.001 + result.header_bytes + 8


def test_escapes_round_trip(tmp_path):
    """Latents far outside the tables' range are escaped, not clipped."""
    registry = export_tiny(tmp_path, model_id="wide", spread=5000.0)
    tiny_model = codec.load_model(registry=registry)
    pixels = synthetic_image(48, 48, seed=4)
    result = codec.encode_image(pixels, tiny_model)
    symbols = codec.latent_symbols(tiny_model, pixels)
    parsed = unpack(result.data)
    decoded = entropy.decode(parsed.payload, tiny_model.tables, symbols.shape[1] * symbols.shape[2])
    np.testing.assert_array_equal(decoded.reshape(symbols.shape), symbols)
    assert result.escapes > 0
    np.testing.assert_array_equal(codec.decode(result.data, tiny_model), codec.reconstruct(tiny_model, symbols, 48, 48))


@pytest.mark.parametrize("runtime", ["onnx", "torch"])
def test_same_bytes_every_run_and_thread_count(tiny_registry, sample_path, runtime):
    """The transforms' thread count is the model's (``threads``), for either runtime."""
    before = torch.get_num_threads()
    try:
        streams = []
        for threads in (1, 1, 2):
            model = codec.load_model(registry=tiny_registry, runtime=runtime, threads=threads)
            assert model.transforms.name == ("onnxruntime" if runtime == "onnx" else "torch")
            streams.append(codec.encode(sample_path, model))
    finally:
        torch.set_num_threads(before)
    assert streams[0] == streams[1] == streams[2]


def test_other_model_and_altered_weights_are_refused(tiny_model, tmp_path):
    data = codec.encode(synthetic_image(16, 16), tiny_model)
    other = export_tiny(tmp_path / "other", model_id="other")
    with pytest.raises(codec.CodecError, match="not installed"):
        codec.decode_stream(data, registry=other)
    same_id = export_tiny(tmp_path / "retrained", model_id="tiny", seed=1)
    with pytest.raises(codec.CodecError, match="digest mismatch"):
        codec.decode_stream(data, registry=same_id)


def test_altered_model_file_is_refused(tiny_registry, tmp_path):
    import shutil

    from rdcodec.zoo.registry import ModelNotFoundError, Registry

    copy = tmp_path / "models"
    shutil.copytree(tiny_registry.directory, copy)
    entry = Registry(copy).find()
    (copy / entry.tables).write_bytes((copy / entry.tables).read_bytes() + b"x")
    with pytest.raises(ModelNotFoundError, match="SHA-256"):
        codec.load_model(registry=Registry(copy))


def test_tables_are_loaded_not_recomputed(tiny_registry, monkeypatch):
    """Loading a model must not evaluate the float prior."""
    from rdcodec.model.network import RDAutoencoder

    def boom(*args, **kwargs):
        raise AssertionError("prior evaluated at load time")

    monkeypatch.setattr(RDAutoencoder, "discrete_pmf", boom)
    model = codec.load_model(registry=tiny_registry)
    data = codec.encode(synthetic_image(20, 20), model)
    codec.decode(data, model)


def test_public_api(tiny_model, sample_path):
    import rdcodec

    data = rdcodec.encode(sample_path, tiny_model)
    pixels = rdcodec.decode(data, tiny_model)
    assert pixels.shape == (300, 451, 3)


def test_quantization_step_trades_rate_for_distortion(tmp_path, sample_path):
    """Δ > 1 coarsens the grid: fewer bits, and the stream decodes to g_s(symbols · Δ + median)."""
    from rdcodec.image_io import read_image

    fine = codec.load_model(registry=export_tiny(tmp_path / "fine", model_id="t", step=1.0))
    coarse = codec.load_model(registry=export_tiny(tmp_path / "coarse", model_id="t", step=3.0))
    assert coarse.step == 3.0
    a, b = codec.encode_image(sample_path, fine), codec.encode_image(sample_path, coarse)
    assert b.bits_per_pixel < a.bits_per_pixel
    pixels = read_image(sample_path).pixels
    expected = codec.reconstruct(coarse, codec.latent_symbols(coarse, pixels), *pixels.shape[:2])
    np.testing.assert_array_equal(codec.decode(b.data, coarse), expected)


def test_small_images_are_refined_and_decode_to_their_refined_symbols(tiny_model):
    pixels = synthetic_image(20, 30, seed=7)
    assert codec.is_small_image(20, 30)
    result = codec.encode_image(pixels, tiny_model)
    padded = codec._padded(pixels)
    with torch.no_grad():
        z = tiny_model.network.encode_latent(torch.from_numpy(padded).permute(2, 0, 1)[None].float() / 255)
    plain = torch.round(z[0] - torch.from_numpy(tiny_model.medians).view(-1, 1, 1)).numpy().astype(np.int32)
    decoded = codec.decode(result.data, tiny_model)
    np.testing.assert_array_equal(decoded, codec.reconstruct(tiny_model, result.symbols, 20, 30))

    def mse(symbols):
        return float(((codec.reconstruct(tiny_model, symbols, 20, 30).astype(float) - pixels) ** 2).mean())

    assert (result.symbols != plain).any()
    assert mse(result.symbols) < mse(plain)


def test_a_negative_search_is_refused(tiny_model):
    with pytest.raises(ValueError, match="non-negative"):
        codec.encode_image(synthetic_image(48, 48), tiny_model, search=-1)


def test_a_small_image_with_search_still_gets_the_refinement(tiny_model):
    pixels = synthetic_image(20, 30, seed=7)
    plain_refined = codec.latent_symbols(tiny_model, pixels)
    searched = codec.latent_symbols(tiny_model, pixels, search=5)  # fewer than the refinement's steps
    np.testing.assert_array_equal(searched, plain_refined)
