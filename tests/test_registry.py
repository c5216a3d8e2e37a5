"""Model registry: lookup order, entries, verification."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import export_tiny

from rdcodec.zoo.registry import ModelNotFoundError, Registry, default_models_dir


def test_env_var_wins(tmp_path, monkeypatch):
    monkeypatch.setenv("RDCODEC_MODELS_DIR", str(tmp_path))
    assert default_models_dir() == tmp_path
    monkeypatch.delenv("RDCODEC_MODELS_DIR")
    assert default_models_dir() == Path(__file__).resolve().parents[1] / "models"  # a checkout's own models/


def test_find_by_id_name_default_and_quality(tmp_path):
    reg = export_tiny(tmp_path, model_id="a", default=False)
    export_tiny(tmp_path, model_id="b", seed=1, default=True)
    assert reg.find().id == "b"
    assert reg.find("a").id == "a"
    with pytest.raises(ModelNotFoundError, match="available: a, b"):
        reg.find("c")
    with pytest.raises(ModelNotFoundError, match="ladder is installed"):
        reg.find_quality(3)  # no entry has a quality: no ladder at all


def test_empty_and_missing_files(tmp_path):
    with pytest.raises(ModelNotFoundError, match="no models"):
        Registry(tmp_path / "none").find()
    reg = export_tiny(tmp_path / "m")
    entry = reg.find()
    (reg.directory / entry.weights).unlink()
    with pytest.raises(ModelNotFoundError, match="missing"):
        reg.read_files(entry)


def test_exported_files_are_named_by_digest(tmp_path):
    entry = export_tiny(tmp_path).find()
    assert entry.weights == f"tiny-{entry.digest[:8]}.pt"
    assert entry.tables == f"tiny-{entry.digest[:8]}.tables.npz"


def test_step_ladder_shares_one_weights_file_and_is_found_by_quality_and_metric(tmp_path):
    from conftest import make_tiny_network

    from rdcodec.zoo.export import export_model

    reg = Registry(tmp_path)
    net = make_tiny_network(0, spread=40.0)
    for q, step in ((1, 2.0), (2, 1.0)):
        export_model(
            net, reg, f"ssim-q{q}", objective={"metric": "ssim"}, quality=q, step=step, default=q == 2, weights_stem="ssim-net"
        )
    export_model(make_tiny_network(1), reg, "mse-q1", objective={"metric": "mse"}, quality=1)
    entries = {e.id: e for e in reg.entries()}
    assert entries["ssim-q1"].weights.startswith("ssim-net-") and entries["mse-q1"].weights.startswith("mse-q1-")
    assert entries["ssim-q1"].weights == entries["ssim-q2"].weights != entries["mse-q1"].weights
    assert entries["ssim-q1"].tables != entries["ssim-q2"].tables
    assert entries["ssim-q1"].digest != entries["ssim-q2"].digest
    assert len(list(tmp_path.glob("*.pt"))) == 2
    assert reg.find_quality(1).id == "ssim-q1"  # the default model's ladder
    assert reg.find_quality(1, "mse").id == "mse-q1"
    with pytest.raises(ModelNotFoundError, match=r"no mse model for quality 2 \(available: \[1\]\)"):
        reg.find_quality(2, "mse")
    for entry in entries.values():
        reg.read_files(entry)  # every entry verifies against its SHA-256


def test_superseded_points_leave_the_ladder_and_still_decode(tmp_path, sample_path):
    """A ladder replaced by a better network keeps its files: what was written with it decodes."""
    import json

    from conftest import make_tiny_network

    from rdcodec import codec
    from rdcodec.zoo.export import export_model
    from rdcodec.zoo.registry import ManifestError

    reg = Registry(tmp_path)
    old = make_tiny_network(0, spread=40.0)
    export_model(old, reg, "old-q1", objective={"metric": "ssim"}, quality=1, default=True)
    written = codec.encode_image(sample_path, codec.load_model("old-q1", reg)).data
    export_model(make_tiny_network(1), reg, "new-q1", objective={"metric": "ssim"}, quality=1)
    changed = reg.supersede(["old-q1"], by="new")
    assert [e.id for e in changed] == ["old-q1"]
    entries = {e.id: e for e in reg.entries()}
    assert entries["old-q1"].superseded_by == "new" and entries["old-q1"].quality is None
    assert not entries["old-q1"].default
    assert reg.find_quality(1).id == "new-q1"  # one point per quality again
    decoded = codec.decode_stream(written, registry=reg)  # the stream names old-q1 by digest
    assert decoded.pixels.shape[2] == 3
    with pytest.raises(ModelNotFoundError, match="unknown model 'gone'"):
        reg.supersede(["gone"], by="new")
    # a superseded entry that still claims a quality is a malformed manifest
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    manifest["models"][0]["quality"] = 1
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ManifestError, match="superseded_by"):
        reg.entries()
