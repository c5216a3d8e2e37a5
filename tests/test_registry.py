"""Model registry: lookup order, entries, verification."""

from __future__ import annotations

import pytest

from rdcodec.registry import ModelNotFoundError, Registry, default_models_dir
from conftest import export_tiny


def test_env_var_wins(tmp_path, monkeypatch):
    monkeypatch.setenv("RDCODEC_MODELS_DIR", str(tmp_path))
    assert default_models_dir() == tmp_path
    monkeypatch.delenv("RDCODEC_MODELS_DIR")
    assert default_models_dir().name in ("models", "shipped_models")


def test_find_by_id_name_default_and_quality(tmp_path):
    reg = export_tiny(tmp_path, model_id="a", default=False)
    export_tiny(tmp_path, model_id="b", seed=1, default=True)
    assert reg.find().id == "b"
    assert reg.find("a").id == "a"
    with pytest.raises(ModelNotFoundError, match="available: a, b"):
        reg.find("c")
    with pytest.raises(ModelNotFoundError, match="quality"):
        reg.find_quality(3)


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
