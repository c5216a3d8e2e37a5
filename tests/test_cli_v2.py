"""`rdcodec encode --format-version 2` and `rdcodec decode --partial / --max-bytes`, in process."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import synthetic_image
from PIL import Image

from rdcodec.cli import main
from rdcodec.format import container


@pytest.fixture
def env(grid_registry, monkeypatch):
    monkeypatch.setenv("RDCODEC_MODELS_DIR", str(grid_registry.directory))
    return grid_registry


@pytest.fixture
def png(tmp_path):
    path = tmp_path / "in.png"
    Image.fromarray(synthetic_image(80, 112, seed=2)).save(path)
    return path


def _bad(result, out=None):
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("rdcodec: error: "), result.stderr
    assert "Traceback" not in result.output
    if out is not None:
        assert not out.exists()


def _encode(tmp_path, png, *args):
    rdc = tmp_path / "a.rdc"
    result = CliRunner().invoke(main, ["encode", str(png), "-o", str(rdc), "--format-version", "2", "--json", *args])
    assert result.exit_code == 0, result.output
    return rdc, json.loads(result.stdout)


def test_encode_and_decode_version_2(tmp_path, png, env):
    rdc, summary = _encode(tmp_path, png, "--chunks", "4")
    assert summary["format_version"] == 2 and len(summary["chunk_bytes"]) == 4
    assert rdc.read_bytes()[4] == 2 and summary["bytes"] == rdc.stat().st_size
    out = tmp_path / "a.png"
    result = CliRunner().invoke(main, ["decode", str(rdc), "-o", str(out), "--reference", str(png)])
    assert result.exit_code == 0, result.output
    assert "PSNR" in result.stderr and np.asarray(Image.open(out)).shape == (80, 112, 3)
    info = CliRunner().invoke(main, ["info", str(rdc), "--json"])
    fields = json.loads(info.stdout)
    assert fields["format_version"] == 2 and len(fields["chunks"]) == 4 and fields["block"] > 0


def test_max_bytes_and_partial_decode_the_whole_chunks_they_get(tmp_path, png, env):
    rdc, summary = _encode(tmp_path, png, "--chunks", "3")
    data = rdc.read_bytes()
    header = container.unpack_v2(data).header
    first = container.header_size_v2(header.model_id, 3) + header.chunks[0][1] + 4
    out = tmp_path / "p.png"
    r = CliRunner().invoke(main, ["decode", str(rdc), "-o", str(out), "--max-bytes", str(first + 3), "--json"])
    assert r.exit_code == 0, r.output
    report = json.loads(r.stdout)
    assert (report["chunks_decoded"], report["chunks"], report["bytes_decoded"], report["bytes"]) == (1, 3, first, len(data))
    cut = tmp_path / "cut.rdc"
    cut.write_bytes(data[: first + 3])
    refused = tmp_path / "refused.png"
    _bad(CliRunner().invoke(main, ["decode", str(cut), "-o", str(refused)]), refused)  # damage without --partial
    r = CliRunner().invoke(main, ["decode", str(cut), "-o", str(tmp_path / "q.png"), "--partial"])
    assert r.exit_code == 0 and "partial: 1 of 3 chunks" in r.stderr
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "q.png")), np.asarray(Image.open(out)))


def test_encode_writes_format_2_where_the_model_has_grid_tables(tmp_path, png, env):
    out = tmp_path / "d.rdc"
    r = CliRunner().invoke(main, ["encode", str(png), "-o", str(out), "--json"])
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout)
    assert summary["format_version"] == 2 and out.read_bytes()[4] == 2
    # the stream names the grid entry; the summary also names the ladder point whose Δ it codes at
    assert summary["model"].endswith("-grid") and summary["point"] in {e.id for e in env.entries() if e.kind == "tables"}
    r = CliRunner().invoke(main, ["encode", str(png), "-o", str(tmp_path / "n.rdc")])
    assert f"(point {summary['point']})" in r.stderr
    v1 = tmp_path / "v1.rdc"
    assert CliRunner().invoke(main, ["encode", str(png), "-o", str(v1), "--format-version", "1"]).exit_code == 0
    assert v1.read_bytes()[4] == 1


def test_encode_writes_format_1_where_the_model_has_no_grid_tables(tmp_path, png, models_env):
    out = tmp_path / "d.rdc"
    r = CliRunner().invoke(main, ["encode", str(png), "-o", str(out), "--json"])
    assert r.exit_code == 0, r.output
    assert out.read_bytes()[4] == 1 and json.loads(r.stdout).get("format_version", 1) == 1
    _bad(CliRunner().invoke(main, ["encode", str(png), "-o", str(tmp_path / "c.rdc"), "--chunks", "3"]), tmp_path / "c.rdc")


def test_version_2_errors_keep_the_contract(tmp_path, png, env):
    out = tmp_path / "x.rdc"
    _bad(CliRunner().invoke(main, ["encode", str(png), "-o", str(out), "--format-version", "1", "--chunks", "3"]), out)
    _bad(CliRunner().invoke(main, ["encode", str(png), "-o", str(out), "--format-version", "2", "--chunks", "99"]), out)
    v1 = tmp_path / "v1.rdc"
    assert CliRunner().invoke(main, ["encode", str(png), "-o", str(v1), "--format-version", "1"]).exit_code == 0
    png_out = tmp_path / "v1.png"
    _bad(CliRunner().invoke(main, ["decode", str(v1), "-o", str(png_out), "--partial"]), png_out)
    rdc, _ = _encode(tmp_path, png)
    damaged = bytearray(rdc.read_bytes())
    damaged[-10] ^= 0x04
    bad = tmp_path / "bad.rdc"
    bad.write_bytes(bytes(damaged))
    r = CliRunner().invoke(main, ["decode", str(bad), "-o", str(png_out), "--partial"])
    _bad(r, png_out)
    assert "CRC mismatch in chunk" in r.stderr
    _bad(
        CliRunner().invoke(main, ["encode", str(png), "-o", str(out), "-m", "tiny-grid", "--format-version", "1"]), out
    )  # grid: v2 only


def test_encode_and_decode_version_3_layers(tmp_path, png, env):
    rdc = tmp_path / "l.rdc"
    r = CliRunner().invoke(main, ["encode", str(png), "-o", str(rdc), "--format-version", "3", "--json"])
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout)
    assert summary["format_version"] == 3 and summary["layers"] == [9, 3, 1]
    data = rdc.read_bytes()
    assert data[4] == 3 and summary["bytes"] == len(data)
    info = json.loads(CliRunner().invoke(main, ["info", str(rdc), "--json"]).stdout)
    assert info["format_version"] == 3 and info["layers"] == [9, 3, 1] and info["chunk_layers"][0] == 0
    assert len(info["chunk_layers"]) == len(info["chunks"]) == len(summary["chunk_bytes"])
    text = CliRunner().invoke(main, ["info", str(rdc)]).stdout
    assert "layers          9,3,1" in text
    full, part = tmp_path / "full.png", tmp_path / "part.png"
    assert CliRunner().invoke(main, ["decode", str(rdc), "-o", str(full)]).exit_code == 0
    header = container.unpack_v2(data).header
    base = container.header_size_v3(header.model_id, len(header.chunks), 3) + header.chunks[0][1] + 4
    r = CliRunner().invoke(main, ["decode", str(rdc), "-o", str(part), "--max-bytes", str(base), "--json"])
    assert r.exit_code == 0, r.output
    report = json.loads(r.stdout)
    assert (report["chunks_decoded"], report["layers_decoded"], report["layers"], report["bytes_decoded"]) == (1, 1, 3, base)
    assert report["channels_decoded"] == 0  # every channel known to its bin of 9, none exactly
    r = CliRunner().invoke(main, ["decode", str(rdc), "-o", str(tmp_path / "p2.png"), "--max-bytes", str(base)])
    assert "1 of 3 layers complete, 0 of 16 channels exact" in r.stderr
    a, b = np.asarray(Image.open(full)).astype(int), np.asarray(Image.open(part)).astype(int)
    assert a.shape == b.shape and not np.array_equal(a, b)
    rdc2 = tmp_path / "two.rdc"
    r = CliRunner().invoke(main, ["encode", str(png), "-o", str(rdc2), "--format-version", "3", "--layers", "3,1"])
    assert r.exit_code == 0 and container.unpack_v2(rdc2.read_bytes()).header.factors == (3, 1)
    t = tmp_path / "t.rdc"
    r = CliRunner().invoke(main, ["encode", str(png), "-o", str(t), "--format-version", "3", "--target-bpp", "1.5", "--json"])
    assert r.exit_code == 0, r.output
    assert t.read_bytes()[4] == 3 and json.loads(r.stdout)["bpp"] <= 1.5


def test_version_3_errors_keep_the_contract(tmp_path, png, env):
    out = tmp_path / "x.rdc"
    for args in (
        ["--layers", "9,3,1"],  # needs format 3
        ["--format-version", "2", "--layers", "9,3,1"],
        ["--format-version", "3", "--layers", "9,4,1"],
        ["--format-version", "3", "--layers", "9,3"],
        ["--format-version", "3", "--layers", "x"],
    ):
        r = CliRunner().invoke(main, ["encode", str(png), "-o", str(out), *args])
        _bad(r, out)
        assert "--layers" in r.stderr
    rdc = tmp_path / "l.rdc"
    assert CliRunner().invoke(main, ["encode", str(png), "-o", str(rdc), "--format-version", "3"]).exit_code == 0
    damaged = bytearray(rdc.read_bytes())
    damaged[-10] ^= 0x04
    bad = tmp_path / "bad.rdc"
    bad.write_bytes(bytes(damaged))
    png_out = tmp_path / "o.png"
    r = CliRunner().invoke(main, ["decode", str(bad), "-o", str(png_out), "--partial"])
    _bad(r, png_out)
    assert "CRC mismatch in chunk" in r.stderr
