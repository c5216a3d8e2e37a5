"""Tiled transforms (rdcodec.tiling): the tiles cover the image, the margin makes the kept
values equal to one pass (to float rounding), and tiled streams decode."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import synthetic_image

from rdcodec import codec
from rdcodec.tiling import MARGIN, analysis_tiled, spans, synthesis_tiled


@pytest.mark.parametrize("length,tile", [(1, 4), (4, 4), (5, 4), (13, 4), (100, 7), (97, 48)])
def test_spans_partition_the_axis_with_bounded_margins(length, tile):
    parts = spans(length, tile)
    assert parts[0].start == 0 and parts[-1].stop == length
    for a, b in zip(parts, parts[1:]):
        assert a.stop == b.start
    for p in parts:
        assert 0 < p.stop - p.start <= tile
        assert p.lo == max(0, p.start - MARGIN) and p.hi == min(length, p.stop + MARGIN)
    if length <= tile:
        assert len(parts) == 1


def _analysis(model):
    import torch

    from rdcodec.image_tensor import to_tensor

    def run(part):
        with torch.no_grad():
            return model.network.encode_latent(to_tensor(part))[0].numpy()

    return run


def _synthesis(model):
    import torch

    from rdcodec.image_tensor import to_pixels

    def run(part):
        with torch.no_grad():
            return to_pixels(model.network.decode_latent(torch.from_numpy(part)[None]))

    return run


def test_tiled_analysis_equals_one_pass_and_needs_the_margin(tiny_model):
    padded = synthetic_image(112, 144, seed=3)  # latent 7 × 9: tiles of 3 → 3 × 3 tiles
    one = analysis_tiled(padded, _analysis(tiny_model), tile=1 << 30)
    tiled = analysis_tiled(padded, _analysis(tiny_model), tile=3)
    scale = np.abs(one).max()
    assert np.abs(tiled - one).max() <= 1e-5 * scale
    without_margin = analysis_tiled(padded, _analysis(tiny_model), tile=3, margin=1)
    assert np.abs(without_margin - one).max() > 1e-3 * scale  # a margin of 1 is not enough


def test_tiled_synthesis_matches_one_pass_within_one_level(tiny_model):
    pixels = synthetic_image(100, 140, seed=4)
    symbols = codec.latent_symbols(tiny_model, pixels, tile=None)
    one = codec.reconstruct(tiny_model, symbols, 100, 140, tile=None)
    tiled = codec.reconstruct(tiny_model, symbols, 100, 140, tile=2)
    diff = np.abs(tiled.astype(int) - one)
    assert diff.max() <= 1 and (diff > 0).mean() <= 1e-3
    z_hat = symbols.astype(np.float32) * tiny_model.step + tiny_model.medians[:, None, None]
    no_margin = synthesis_tiled(z_hat, _synthesis(tiny_model), 100, 140, tile=2, margin=1)
    assert np.abs(no_margin.astype(int) - one).max() > 1


def test_a_tiled_stream_decodes_like_a_one_pass_stream(tiny_model):
    pixels = synthetic_image(90, 130, seed=5)
    tiled = codec.encode_image(pixels, tiny_model, tile=2)
    one = codec.encode_image(pixels, tiny_model, tile=None)
    mismatched = (tiled.symbols != one.symbols).mean()
    assert mismatched <= 1e-3
    decoded = codec.decode_stream(tiled.data, tiny_model, tile=3).pixels
    reference = codec.reconstruct(tiny_model, tiled.symbols, 90, 130, tile=None)
    assert decoded.shape == (90, 130, 3)
    assert np.abs(decoded.astype(int) - reference).max() <= 1


def test_an_image_in_one_tile_is_coded_exactly_as_in_one_pass(tiny_model):
    pixels = synthetic_image(64, 80, seed=6)
    assert codec.encode_image(pixels, tiny_model).data == codec.encode_image(pixels, tiny_model, tile=None).data


def test_padded_input_must_be_a_multiple_of_the_stride():
    with pytest.raises(ValueError, match="multiple"):
        analysis_tiled(np.zeros((20, 32, 3), np.uint8), lambda p: p)
