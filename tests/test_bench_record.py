"""``tools/bench_codec.py --record``: bench reports made side by side, stored in one manifest write."""

import json
import shutil
from pathlib import Path

import pytest
from conftest import load_tool

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def models_copy(tmp_path, monkeypatch):
    """A models directory holding a copy of the shipped manifest (the weights are not read)."""
    shutil.copy(ROOT / "models" / "manifest.json", tmp_path / "manifest.json")
    monkeypatch.setenv("RDCODEC_MODELS_DIR", str(tmp_path))
    return tmp_path


def _report(entry, bpp, **extra):
    mean = {"bpp": bpp, "estimated_bpp": bpp * 0.99, "psnr": 30.0, "ssim": 0.9, "ms_ssim": 0.97, "bpp_v2": bpp * 0.95}
    return {
        "model": entry.id,
        "model_digest": entry.digest,
        "images": 24,
        "search_steps": 0,
        "mean": {**mean, "v2_same_pixels": True},
        **extra,
    }


def test_record_stores_each_report_and_leaves_the_rest(models_copy, tmp_path):
    from rdcodec.zoo.registry import Registry

    bench = load_tool("tools/bench_codec.py")
    before = {e.id: e for e in Registry().entries()}
    a, b = [e for e in before.values() if e.quality is not None][:2]
    paths = []
    for entry, bpp in ((a, 0.123456789), (b, 0.5)):
        path = tmp_path / f"{entry.id}.json"
        path.write_text(json.dumps(_report(entry, bpp)))
        paths.append(str(path))
    assert bench.main(["--record", *paths]) == 0
    after = {e.id: e for e in Registry().entries()}
    assert after[a.id].kodak == {
        "bpp": 0.12346,
        "estimated_bpp": 0.12222,
        "psnr": 30.0,
        "ssim": 0.9,
        "ms_ssim": 0.97,
        "bpp_v2": 0.11728,
        "images": 24,
    }
    assert after[b.id].kodak["bpp"] == 0.5
    assert all(after[k] == v for k, v in before.items() if k not in (a.id, b.id))


@pytest.mark.parametrize(
    "change, message",
    [({"model_digest": "0" * 64}, "digest"), ({"search_steps": 4}, "--search"), ({"limit": 3}, "--limit")],
)
def test_record_refuses_reports_that_are_not_the_plain_encoder_on_the_installed_model(models_copy, change, message):
    from rdcodec.zoo.registry import Registry

    bench = load_tool("tools/bench_codec.py")
    manifest = (models_copy / "manifest.json").read_text()
    entry = next(e for e in Registry().entries() if e.quality is not None)
    with pytest.raises(ValueError, match=message):
        bench.record_figures([{**_report(entry, 0.3), **change}])
    assert (models_copy / "manifest.json").read_text() == manifest  # nothing written
