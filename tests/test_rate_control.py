"""Encoding to a target bpp, SSIM or PSNR (format version 2), with a tiny seeded model."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import load_tool, synthetic_image
from PIL import Image

from rdcodec import codec
from rdcodec.cli import main
from rdcodec.eval.quality import measure
from rdcodec.rate_control import _deadzone_round, encode_to_target


@pytest.fixture(scope="module")
def model(grid_registry):
    return codec.load_model(registry=grid_registry)


@pytest.fixture(scope="module")
def pixels():
    return synthetic_image(96, 128, seed=21)


def test_a_bpp_target_is_met_from_below(model, grid_registry, pixels):
    finest = encode_to_target(pixels, model, grid_registry, bpp=1e3).encoded.bits_per_pixel
    coarsest = encode_to_target(pixels, model, grid_registry, bpp=1e-3).encoded.bits_per_pixel  # out of reach
    for fraction in (0.2, 0.5, 0.8):
        target = coarsest + fraction * (finest - coarsest)
        r = encode_to_target(pixels, model, grid_registry, bpp=target)
        real = len(r.encoded.data) * 8 / pixels[..., 0].size
        assert r.met and real == pytest.approx(r.achieved) and real <= target
        assert real >= 0.9 * target, (fraction, real, target)
        decoded = codec.decode_stream(r.encoded.data, registry=grid_registry).pixels
        assert decoded.shape == pixels.shape


@pytest.mark.parametrize("kind", ["ssim", "psnr"])
def test_a_quality_target_is_met_on_the_decoded_image(model, grid_registry, pixels, kind):
    fine = encode_to_target(pixels, model, grid_registry, bpp=1e3)  # the finest grid step
    best = getattr(measure(pixels, codec.decode_stream(fine.encoded.data, registry=grid_registry).pixels), kind)
    target = best - (0.02 if kind == "ssim" else 0.5)
    r = encode_to_target(pixels, model, grid_registry, **{kind: target})
    achieved = getattr(measure(pixels, codec.decode_stream(r.encoded.data, registry=grid_registry).pixels), kind)
    assert r.met and achieved >= target and achieved == pytest.approx(r.achieved, abs=1e-9)
    assert r.encoded.bits_per_pixel <= fine.encoded.bits_per_pixel


def test_an_unreachable_target_says_so(model, grid_registry, pixels):
    r = encode_to_target(pixels, model, grid_registry, psnr=99.0)
    assert not r.met and r.achieved < 99.0 and r.encoded.data


def test_the_plain_rounding_is_the_encoders():
    v = np.array([-2.5, -1.5, -0.5, 0.49, 0.5, 1.5, 2.5], dtype=np.float32)
    np.testing.assert_array_equal(_deadzone_round(v, 0.5), np.rint(v))
    np.testing.assert_array_equal(_deadzone_round(v, 0.9), [-2, -1, 0, 0, 0, 1, 2])


def test_one_target_at_a_time(model, grid_registry, pixels):
    with pytest.raises(ValueError):
        encode_to_target(pixels, model, grid_registry, bpp=0.5, ssim=0.9)
    with pytest.raises(ValueError):
        encode_to_target(pixels, model, grid_registry, ssim=1.5)


def model_of(registry):
    return codec.load_model(registry=registry)


def test_cli_target_bpp(tmp_path, grid_registry, monkeypatch, pixels):
    monkeypatch.setenv("RDCODEC_MODELS_DIR", str(grid_registry.directory))
    png = tmp_path / "in.png"
    Image.fromarray(pixels).save(png)
    out = tmp_path / "t.rdc"
    target = encode_to_target(pixels, model_of(grid_registry), grid_registry, bpp=1e3).encoded.bits_per_pixel * 0.8
    r = CliRunner().invoke(main, ["encode", str(png), "-o", str(out), "--target-bpp", str(target), "--json"])
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout)
    assert summary["format_version"] == 2 and summary["target"] == "bpp" and summary["met"]
    assert out.stat().st_size * 8 / (96 * 128) <= target
    for args in (["--target-bpp", "1", "--target-ssim", "0.9"], ["--target-bpp", "1", "--format-version", "1"]):
        bad = tmp_path / "bad.rdc"
        r = CliRunner().invoke(main, ["encode", str(png), "-o", str(bad), *args])
        assert r.exit_code == 2 and r.stderr.startswith("rdcodec: error: ") and not bad.exists()


def test_bench_targets_resumes_and_refuses_another_models_record(grid_registry, tmp_path, monkeypatch, capsys):
    """tools/bench_targets.py keeps every row it measured and measures nothing twice."""
    import rdcodec.rate_control

    monkeypatch.setenv("RDCODEC_MODELS_DIR", str(grid_registry.directory))
    bench = load_tool("tools/bench_targets.py")
    folder = tmp_path / "imgs"
    folder.mkdir()
    Image.fromarray(synthetic_image(40, 48, seed=3)).save(folder / "a.png")
    monkeypatch.setattr(bench, "TARGETS", {"bpp": (0.5, 2.0), "psnr": (10.0,)})
    out = tmp_path / "targets.json"
    assert bench.main([str(folder), "-o", str(out)]) == 0
    first = json.loads(out.read_text())
    assert sorted(first["rows"]) == ["bpp|0.5|a.png", "bpp|2|a.png", "psnr|10|a.png"]
    assert [t["requested"] for t in first["targets"]["bpp"]] == [0.5, 2.0]
    assert all(r["bpp"] > 0 and r["seconds"] >= 0 for r in first["rows"].values())

    def no_encode(*args, **kwargs):
        raise AssertionError("a row already in the record was measured again")

    monkeypatch.setattr(rdcodec.rate_control, "encode_to_target", no_encode)
    assert bench.main([str(folder), "-o", str(out)]) == 0
    assert json.loads(out.read_text())["rows"] == first["rows"]

    elsewhere = tmp_path / "elsewhere"
    folder.rename(elsewhere)  # the same file names in another folder are other images
    with pytest.raises(SystemExit):
        bench.main([str(elsewhere), "-o", str(out)])
    assert "was measured on" in capsys.readouterr().err
    out.write_text(json.dumps(dict(first, model="another-model")))
    with pytest.raises(SystemExit):
        bench.main([str(elsewhere), "-o", str(out)])
    assert "another-model" in capsys.readouterr().err
