"""The ONNX runtime: graphs built at export match the torch network, encode and decode never
import torch, and every stream decodes with either runtime."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import synthetic_image

from rdcodec import codec
from rdcodec.zoo.registry import Registry, default_models_dir


@pytest.fixture(scope="module")
def runtimes(tiny_registry):
    return {name: codec.load_model(registry=tiny_registry, runtime=name) for name in ("onnx", "torch")}


def test_export_ships_graphs_listed_with_their_digests(tiny_registry):
    entry = tiny_registry.find()
    assert set(entry.runtime) == {"analysis", "synthesis"}
    for name in entry.runtime.values():
        assert name in entry.sha256 and (tiny_registry.directory / name).is_file()
    assert codec.load_model(registry=tiny_registry).transforms.name == "onnxruntime"


def test_onnx_transforms_match_torch(runtimes):
    pixels = codec._padded(synthetic_image(80, 112, seed=1))
    z = {name: m.transforms.analysis(pixels) for name, m in runtimes.items()}
    assert np.abs(z["onnx"] - z["torch"]).max() <= 1e-5 * np.abs(z["torch"]).max()
    out = {name: m.transforms.synthesis(z["torch"]) for name, m in runtimes.items()}
    diff = np.abs(out["onnx"].astype(int) - out["torch"])
    assert diff.max() <= 1 and (diff > 0).mean() <= 1e-3


def test_streams_decode_with_either_runtime(runtimes):
    pixels = synthetic_image(70, 90, seed=2)
    for name, m in runtimes.items():
        result = codec.encode_image(pixels, m)
        decoded = {other: codec.decode_stream(result.data, mm).pixels for other, mm in runtimes.items()}
        diff = np.abs(decoded["onnx"].astype(int) - decoded["torch"])
        assert diff.max() <= 1, name
    symbols = {name: codec.encode_image(pixels, m).symbols for name, m in runtimes.items()}
    assert (symbols["onnx"] != symbols["torch"]).mean() <= 1e-3


def test_the_network_is_loaded_only_when_asked_for(tiny_registry):
    model = codec.load_model(registry=tiny_registry, runtime="onnx")
    assert model._network is None
    codec.decode(codec.encode(synthetic_image(48, 48), model), model)
    assert model._network is None
    assert model.network.config.M == model.tables.channels  # loaded now, for the search or analysis


def test_a_model_without_graphs_runs_on_torch_or_refuses_onnx(tmp_path):
    import json
    import shutil

    from rdcodec.zoo.registry import ModelNotFoundError

    source = Registry(default_models_dir())
    entry = source.find()
    target = tmp_path / "models"
    target.mkdir()
    for name in (entry.weights, entry.tables):
        shutil.copy(source.directory / name, target / name)
    data = entry.to_dict()
    data["runtime"] = None
    (target / "manifest.json").write_text(json.dumps({"manifest_version": 1, "models": [data]}))
    registry = Registry(target)
    assert codec.load_model(registry=registry).transforms.name == "torch"
    with pytest.raises(ModelNotFoundError, match="ships no ONNX graphs"):
        codec.load_model(registry=registry, runtime="onnx")


def test_the_cli_encodes_and_decodes_without_importing_torch(tmp_path):
    """With the shipped default model: `rdcodec encode` and `decode` run on ONNX Runtime alone."""
    from PIL import Image

    src = tmp_path / "in.png"
    Image.fromarray(synthetic_image(64, 96)).save(src)
    code = (
        "import sys\nfrom rdcodec.cli import main\n"
        "try:\n    main(sys.argv[1:], prog_name='rdcodec')\n"
        "except SystemExit as e:\n    print(e.code, 'torch' in sys.modules, 'compressai' in sys.modules)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "RDCODEC_MODELS_DIR"}
    for args in (
        ["encode", str(src), "-o", str(tmp_path / "o.rdc")],
        ["decode", str(tmp_path / "o.rdc"), "-o", str(tmp_path / "o.png")],
    ):
        out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env)
        assert out.stdout.split() == ["0", "False", "False"], out.stderr
    assert (tmp_path / "o.png").is_file()


def test_the_subpixel_form_of_the_transposed_convolution_is_exact():
    import torch

    from rdcodec.runtime.graphs import subpixel_weights

    torch.manual_seed(0)
    deconv = torch.nn.ConvTranspose2d(6, 5, kernel_size=5, stride=2, padding=2, output_padding=1)
    x = torch.randn(1, 6, 7, 9)
    weight, bias = subpixel_weights(deconv.weight.detach().numpy(), deconv.bias.detach().numpy())
    with torch.no_grad():
        expected = deconv(x)
        phases = torch.nn.functional.conv2d(x, torch.from_numpy(weight), torch.from_numpy(bias), padding=1)
        got = torch.nn.functional.pixel_shuffle(phases.view(1, 4, 5, 7, 9).transpose(1, 2).reshape(1, 20, 7, 9), 2)
    assert got.shape == expected.shape == (1, 5, 14, 18)
    assert torch.allclose(got, expected, atol=1e-5)


def test_every_shipped_model_ships_graphs_that_match_their_digests():
    registry = Registry(default_models_dir())
    for entry in registry.entries():
        assert entry.runtime, entry.id
        for name in entry.runtime.values():
            assert name in entry.sha256
            registry.read_file(entry, name)  # raises on a missing or altered file


def test_add_runtime_graphs_leaves_the_model_digest_and_streams_alone(tmp_path):
    import shutil

    from rdcodec.zoo.export import add_runtime_graphs

    shutil.copytree(default_models_dir(), tmp_path / "models")
    registry = Registry(tmp_path / "models")
    entry = registry.find()
    updated = add_runtime_graphs(registry, entry)
    assert updated.digest == entry.digest and updated.runtime == entry.runtime
    assert updated.sha256 == entry.sha256  # the graphs are rebuilt byte for byte
    pixels = synthetic_image(64, 80, seed=3)
    assert codec.encode(pixels, codec.load_model(registry=registry)) == codec.encode(
        pixels, codec.load_model(registry=Registry(default_models_dir()))
    )


def test_a_rewritten_shared_graph_keeps_every_sibling_verifiable(tmp_path):
    """Ladder points share one weights file and its graphs: when one point's graphs are written
    again with other bytes, the siblings' recorded hashes follow."""
    import dataclasses
    import hashlib
    import shutil

    shutil.copytree(default_models_dir(), tmp_path / "models")
    registry = Registry(tmp_path / "models")
    entry = registry.find()
    siblings = [e for e in registry.entries() if e.weights == entry.weights and e.id != entry.id]
    assert siblings
    name = entry.runtime["synthesis"]
    altered = (registry.directory / name).read_bytes() + b"\0"  # stands for a graph from another onnx version
    weights, tables = registry.read_files(entry)
    registry.add(
        dataclasses.replace(entry, sha256={**entry.sha256, name: hashlib.sha256(altered).hexdigest()}),
        weights,
        tables,
        {name: altered},
    )
    for sibling in siblings:
        registry.read_file(registry.find(sibling.id), name)  # verifies against the new hash


def test_a_malformed_runtime_field_is_a_manifest_error(tmp_path):
    import json
    import shutil

    from rdcodec.zoo.registry import ManifestError

    shutil.copytree(default_models_dir(), tmp_path / "models")
    manifest = json.loads((tmp_path / "models" / "manifest.json").read_text())
    for bad in ({"analysis": "x.onnx"}, "graphs.onnx", {"analysis": "not-listed.onnx", "synthesis": "not-listed.onnx"}):
        manifest["models"][0]["runtime"] = bad
        (tmp_path / "models" / "manifest.json").write_text(json.dumps(manifest))
        with pytest.raises(ManifestError, match="runtime"):
            Registry(tmp_path / "models").entries()
