"""The shipped default model: present, verified, and it compresses a sample sensibly."""

from __future__ import annotations

import json

import pytest

from rdcodec import codec
from rdcodec.eval.quality import measure
from rdcodec.image_io import read_image
from rdcodec.zoo.registry import Registry, default_models_dir


@pytest.fixture(scope="module")
def shipped():
    registry = Registry(default_models_dir())
    return registry, codec.load_model(registry=registry)


def test_manifest_documents_the_default_model(shipped):
    registry, model = shipped
    entry = model.entry
    assert entry.default
    written = next(e for e in json.loads((registry.directory / "manifest.json").read_text())["models"] if e["id"] == entry.id)
    assert {"N", "M"} <= set(written["network"])  # in the file itself, not filled in by the reader's defaults
    assert {"metric", "lambda1", "lambda2", "h", "kind"} <= set(written["objective"])
    assert entry.training.get("steps", 0) > 0 and entry.training.get("data")
    assert set(entry.kodak) >= {"bpp", "psnr", "ssim", "ms_ssim"}
    # measured figures (tools/bench_codec.py --update-manifest), not targets: those live in the bench JSON
    assert entry.kodak["images"] == 24
    assert 0 < entry.kodak["bpp"] < 2 and 0 < entry.kodak["ssim"] < 1 and entry.kodak["psnr"] > 20


def test_default_model_round_trip_on_a_sample(shipped, sample_path):
    registry, model = shipped
    result = codec.encode_image(sample_path, model)
    decoded = codec.decode_stream(result.data, registry=registry)
    original = read_image(sample_path).pixels
    q = measure(original, decoded.pixels)
    assert 0.05 < result.bits_per_pixel < 2.0
    assert q.ssim > 0.8 and q.psnr > 24


@pytest.mark.slow
def test_default_model_bench_on_samples(tmp_path):
    """Runs tools/bench_codec.py end to end on samples/ (with the compressai comparison)."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    out = tmp_path / "bench.json"
    subprocess.run([sys.executable, str(root / "tools" / "bench_codec.py"), str(root / "samples"), "-o", str(out)], check=True)
    report = json.loads(out.read_text())
    assert report["images"] == 2 and report["mean"]["all_symbols_exact"]
    assert report["mean"]["max_real_over_estimate"] < 1.01


def test_shipped_ladders_are_verified_and_ordered(shipped):
    registry, _ = shipped
    ladders: dict[str, list] = {}
    for entry in registry.entries():
        registry.read_files(entry)  # every file matches its SHA-256
        if entry.quality is not None:
            ladders.setdefault(entry.metric, []).append(entry)
    assert "ssim" in ladders
    for metric, ladder in ladders.items():
        qualities = [e.quality for e in ladder]
        assert len(set(qualities)) == len(qualities), f"{metric} ladder repeats a quality"
        measured = [e.kodak["bpp"] for e in sorted(ladder, key=lambda e: e.quality)]
        assert measured == sorted(measured), f"{metric} ladder: a higher quality must spend more bits on Kodak"
