"""The rdcodec CLI, in process through click's CliRunner."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import export_tiny, synthetic_image
from PIL import Image

from rdcodec.cli import main


@pytest.fixture
def runner():
    return CliRunner()


@pytest.fixture
def png(tmp_path):
    path = tmp_path / "in.png"
    Image.fromarray(synthetic_image(37, 53)).save(path)
    return path


def _bad(result, tmp_path_out=None):
    """One clear line on stderr, exit status 2, no traceback, no output file."""
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("rdcodec: error: ")
    assert "Traceback" not in result.output
    if tmp_path_out is not None:
        assert not tmp_path_out.exists()
        assert not list(tmp_path_out.parent.glob(f".{tmp_path_out.name}.*"))


def test_help_does_not_import_torch():
    code = "import sys; from rdcodec.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass\nprint('torch' in sys.modules, 'compressai' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().endswith("False False")
    assert "encode" in out.stdout and "rd" not in out.stderr


@pytest.mark.parametrize("command", ["encode", "decode", "info", "models", "analyze", "rd-curve", "train", "export"])
def test_subcommand_help_does_not_import_torch(command):
    code = (
        f"import sys; from rdcodec.cli import main\ntry:\n    main([{command!r}, '--help'])\nexcept SystemExit:\n    pass\n"
        "print('torch' in sys.modules, 'compressai' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().endswith("False False")


def test_encode_decode_round_trip(runner, models_env, png, tmp_path):
    rdc, out = tmp_path / "x.rdc", tmp_path / "x.png"
    r = runner.invoke(main, ["encode", str(png), "-o", str(rdc)])
    assert r.exit_code == 0, r.output
    assert "bpp" in r.stderr and r.stdout == ""
    bpp = rdc.stat().st_size * 8 / (37 * 53)
    assert f"{bpp:.4f} bpp" in r.stderr
    r = runner.invoke(main, ["decode", str(rdc), "-o", str(out), "--reference", str(png)])
    assert r.exit_code == 0, r.output
    assert "SSIM" in r.stderr and "PSNR" in r.stderr
    assert np.asarray(Image.open(out)).shape == (37, 53, 3)


def test_json_outputs(runner, models_env, png, tmp_path):
    rdc = tmp_path / "x.rdc"
    r = runner.invoke(main, ["encode", str(png), "-o", str(rdc), "--json"])
    enc = json.loads(r.stdout)
    assert enc["bytes"] == rdc.stat().st_size and enc["bpp"] == pytest.approx(enc["bytes"] * 8 / (37 * 53))
    assert enc["model"] == "tiny"
    r = runner.invoke(main, ["info", str(rdc), "--json"])
    info = json.loads(r.stdout)
    assert (info["width"], info["height"], info["model_id"], info["format_version"]) == (53, 37, "tiny", 1)
    assert info["latent_shape"] == [8, 3, 4]
    r = runner.invoke(main, ["decode", str(rdc), "-o", str(tmp_path / "o.png"), "--json", "--reference", str(png)])
    dec = json.loads(r.stdout)
    assert 0 < dec["ssim"] <= 1 and dec["psnr"] > 0


def test_stdin_stdout(runner, models_env, png):
    r = runner.invoke(main, ["encode", "-", "-o", "-"], input=png.read_bytes())
    assert r.exit_code == 0
    assert r.stdout_bytes[:4] == b"\x89RDC"
    r2 = runner.invoke(main, ["decode", "-", "-o", "-"], input=r.stdout_bytes)
    assert r2.exit_code == 0
    assert r2.stdout_bytes[:8] == b"\x89PNG\r\n\x1a\n"


def test_info_text_and_models(runner, models_env, png, tmp_path):
    rdc = tmp_path / "x.rdc"
    runner.invoke(main, ["encode", str(png), "-o", str(rdc)])
    r = runner.invoke(main, ["info", str(rdc)])
    assert r.exit_code == 0 and "model_id" in r.stdout and "tiny" in r.stdout
    r = runner.invoke(main, ["models"])
    assert r.exit_code == 0 and "tiny" in r.stdout and "(default)" in r.stdout
    r = runner.invoke(main, ["models", "--json"])
    assert json.loads(r.stdout)["models"][0]["id"] == "tiny"


def test_existing_output_needs_force(runner, models_env, png, tmp_path):
    rdc = tmp_path / "x.rdc"
    rdc.write_bytes(b"keep me")
    r = runner.invoke(main, ["encode", str(png), "-o", str(rdc)])
    _bad(r)
    assert rdc.read_bytes() == b"keep me"
    r = runner.invoke(main, ["encode", str(png), "-o", str(rdc), "--force"])
    assert r.exit_code == 0 and rdc.read_bytes()[:4] == b"\x89RDC"


def _good_stream(runner, png, tmp_path):
    rdc = tmp_path / "good.rdc"
    assert runner.invoke(main, ["encode", str(png), "-o", str(rdc)]).exit_code == 0
    return rdc.read_bytes()


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(lambda d: d[: len(d) // 2], id="truncated"),
        pytest.param(lambda d: b"GIF89a" + d[6:], id="wrong-magic"),
        pytest.param(lambda d: d[:4] + bytes([9]) + d[5:], id="future-version"),
        pytest.param(lambda d: d[:-8] + bytes([d[-8] ^ 0x40]) + d[-7:], id="corrupt-payload"),
        pytest.param(lambda d: d[:12] + bytes([d[12] ^ 0x01]) + d[13:], id="corrupt-header"),
        pytest.param(lambda d: b"", id="empty"),
    ],
)
def test_bad_rdc_files(runner, models_env, png, tmp_path, mutate):
    bad = tmp_path / "bad.rdc"
    bad.write_bytes(mutate(_good_stream(runner, png, tmp_path)))
    out = tmp_path / "out.png"
    _bad(runner.invoke(main, ["decode", str(bad), "-o", str(out)]), out)


def test_other_model_file(runner, models_env, png, tmp_path):
    from rdcodec import codec

    other = export_tiny(tmp_path / "other", model_id="stranger")
    data = codec.encode(png, codec.load_model(registry=other))
    bad = tmp_path / "other.rdc"
    bad.write_bytes(data)
    out = tmp_path / "out.png"
    r = runner.invoke(main, ["decode", str(bad), "-o", str(out)])
    _bad(r, out)
    assert "stranger" in r.stderr


def test_declared_size_over_limit(runner, models_env, tmp_path):
    from rdcodec.format.container import Header, pack

    header = Header("tiny", bytes(16), 1 << 15, 1 << 14, 8, 1 << 10, 1 << 11, 4)
    bad = tmp_path / "huge.rdc"
    bad.write_bytes(pack(header, b"\x00" * 4))
    out = tmp_path / "out.png"
    r = runner.invoke(main, ["decode", str(bad), "-o", str(out)])
    _bad(r, out)
    assert "over the limit" in r.stderr


@pytest.mark.parametrize("content", [b"", b"this is not an image", b"\x89PNG\r\n\x1a\n\x00\x00garbage"])
def test_unreadable_images(runner, models_env, tmp_path, content):
    src = tmp_path / "in.png"
    src.write_bytes(content)
    out = tmp_path / "out.rdc"
    _bad(runner.invoke(main, ["encode", str(src), "-o", str(out)]), out)


def test_missing_input_and_unknown_model(runner, models_env, png, tmp_path):
    out = tmp_path / "out.rdc"
    _bad(runner.invoke(main, ["encode", str(tmp_path / "nope.png"), "-o", str(out)]), out)
    _bad(runner.invoke(main, ["encode", str(png), "-o", str(out), "--model", "nonexistent"]), out)
    _bad(runner.invoke(main, ["decode", str(tmp_path / "nope.rdc"), "-o", str(out)]), out)
    _bad(runner.invoke(main, ["info", str(png)]))


def test_image_over_pixel_limit_is_refused(runner, models_env, tmp_path):
    src = tmp_path / "in.png"
    Image.fromarray(synthetic_image(11, 10)).save(src)
    out = tmp_path / "out.rdc"
    r = runner.invoke(main, ["encode", str(src), "-o", str(out), "--max-pixels", "100"])
    _bad(r, out)
    assert "in.png: image is 10×11 = 110 pixels, over the limit of 100" in r.stderr
    r = runner.invoke(main, ["encode", str(src), "-o", str(out), "--max-pixels", "110"])
    assert r.exit_code == 0 and out.exists()


def test_stream_over_pixel_limit_is_refused_and_the_limit_can_be_raised(runner, models_env, tmp_path):
    src, rdc, png = tmp_path / "in.png", tmp_path / "in.rdc", tmp_path / "out.png"
    Image.fromarray(synthetic_image(11, 10)).save(src)
    assert runner.invoke(main, ["encode", str(src), "-o", str(rdc)]).exit_code == 0
    r = runner.invoke(main, ["decode", str(rdc), "-o", str(png), "--max-pixels", "109"])
    _bad(r, png)
    assert "over the limit of 109" in r.stderr
    assert runner.invoke(main, ["decode", str(rdc), "-o", str(png), "--max-pixels", "110"]).exit_code == 0


def test_conversion_notes(runner, models_env, tmp_path):
    src = tmp_path / "rgba.png"
    rgba = np.dstack([synthetic_image(20, 20), np.full((20, 20), 128, np.uint8)])
    Image.fromarray(rgba, "RGBA").save(src)
    r = runner.invoke(main, ["encode", str(src), "-o", str(tmp_path / "o.rdc")])
    assert r.exit_code == 0
    assert "alpha channel dropped" in r.stderr


def test_quality_and_metric_pick_ladder_points(runner, png, tmp_path, monkeypatch):
    from conftest import make_tiny_network

    from rdcodec.format.container import unpack
    from rdcodec.zoo.export import export_model
    from rdcodec.zoo.registry import Registry

    reg = Registry(tmp_path / "ladder")
    net = make_tiny_network(0, spread=40.0)
    for q, step in ((1, 3.0), (2, 1.0)):
        export_model(net, reg, f"ssim-q{q}", objective={"metric": "ssim"}, quality=q, step=step, default=q == 2)
    export_model(make_tiny_network(1), reg, "mse-q1", objective={"metric": "mse"}, quality=1)
    monkeypatch.setenv("RDCODEC_MODELS_DIR", str(reg.directory))
    sizes = {}
    for args, expected in ((["-q", "1"], "ssim-q1"), (["-q", "2"], "ssim-q2"), (["-q", "1", "--metric", "mse"], "mse-q1")):
        out = tmp_path / f"{expected}.rdc"
        r = runner.invoke(main, ["encode", str(png), "-o", str(out), *args])
        assert r.exit_code == 0, r.output
        assert unpack(out.read_bytes()).header.model_id == expected
        sizes[expected] = out.stat().st_size
        r = runner.invoke(main, ["decode", str(out), "-o", str(tmp_path / f"{expected}.png")])
        assert r.exit_code == 0, r.output
    assert sizes["ssim-q1"] < sizes["ssim-q2"]  # a coarser step spends fewer bits
    out = tmp_path / "bad.rdc"
    _bad(runner.invoke(main, ["encode", str(png), "-o", str(out), "-q", "3"]), out)
    _bad(runner.invoke(main, ["encode", str(png), "-o", str(out), "--metric", "mse"]), out)
    _bad(runner.invoke(main, ["encode", str(png), "-o", str(out), "-q", "1", "-m", "mse-q1"]), out)


def test_encode_with_search(runner, models_env, png, tmp_path):
    rdc, out = tmp_path / "s.rdc", tmp_path / "s.png"
    r = runner.invoke(main, ["encode", str(png), "-o", str(rdc), "--search", "3"])
    assert r.exit_code == 0, r.output
    assert runner.invoke(main, ["decode", str(rdc), "-o", str(out)]).exit_code == 0
    _bad(runner.invoke(main, ["encode", str(png), "-o", str(tmp_path / "n.rdc"), "--search", "-1"]), tmp_path / "n.rdc")


def test_outputs_get_the_usual_file_mode(runner, models_env, png, tmp_path):
    import os
    import stat

    mask = os.umask(0o022)
    try:
        rdc = tmp_path / "mode.rdc"
        assert runner.invoke(main, ["encode", str(png), "-o", str(rdc)]).exit_code == 0
        assert stat.S_IMODE(rdc.stat().st_mode) == 0o644
    finally:
        os.umask(mask)


def _pngs(tmp_path, count, size=(24, 40)):
    paths = []
    for k in range(count):
        p = tmp_path / "in" / f"img{k}.png"
        p.parent.mkdir(exist_ok=True)
        Image.fromarray(synthetic_image(*size, seed=k)).save(p)
        paths.append(p)
    return paths


def test_many_files_in_one_command_with_one_model_load(runner, models_env, tmp_path, monkeypatch):
    import rdcodec.codec

    loads = []
    real_load = rdcodec.codec.load_model
    monkeypatch.setattr(rdcodec.codec, "load_model", lambda *a, **k: loads.append(a) or real_load(*a, **k))
    sources = _pngs(tmp_path, 3)
    bad = tmp_path / "in" / "broken.png"
    bad.write_bytes(b"not an image")
    out = tmp_path / "rdc"
    r = runner.invoke(main, ["encode", *map(str, [sources[0], bad, *sources[1:]]), "-o", f"{out}/"])
    assert r.exit_code == 2  # one file failed, the others were coded
    assert len(loads) == 1
    assert sorted(p.name for p in out.iterdir()) == ["img0.rdc", "img1.rdc", "img2.rdc"]
    errors = [line for line in r.stderr.splitlines() if line.startswith("rdcodec: error:")]
    assert len(errors) == 1 and str(bad) in errors[0]
    assert "encoded 3 of 4 files" in r.stderr and "1 failed" in r.stderr

    import rdcodec.codec as codec_module

    entries = []
    real_entry = codec_module.load_entry
    monkeypatch.setattr(codec_module, "load_entry", lambda *a, **k: entries.append(a) or real_entry(*a, **k))
    decoded = tmp_path / "png"
    r = runner.invoke(main, ["decode", *map(str, sorted(out.iterdir())), "-o", f"{decoded}/", "--json"])
    assert r.exit_code == 0, r.stderr
    assert len(entries) == 1  # one model for three streams
    summaries = json.loads(r.stdout)
    assert [Path(s["output"]).name for s in summaries] == ["img0.png", "img1.png", "img2.png"]
    for source, summary in zip(sources, summaries):
        with Image.open(summary["output"]) as decoded_image, Image.open(source) as original:
            assert decoded_image.size == original.size


def test_a_folder_output_for_one_file_and_the_rules_of_folder_mode(runner, models_env, tmp_path):
    (source,) = _pngs(tmp_path, 1)
    r = runner.invoke(main, ["encode", str(source), "-o", f"{tmp_path / 'out'}/"])
    assert r.exit_code == 0 and (tmp_path / "out" / "img0.rdc").is_file()
    two = _pngs(tmp_path, 2)
    _bad(runner.invoke(main, ["encode", *map(str, two), "-o", str(tmp_path / "file.rdc")]), tmp_path / "file.rdc")
    _bad(runner.invoke(main, ["encode", str(two[0]), "-", "-o", f"{tmp_path / 'o2'}/"]))
    other = tmp_path / "other" / "img0.png"
    other.parent.mkdir()
    other.write_bytes(two[0].read_bytes())
    r = runner.invoke(main, ["encode", str(two[0]), str(other), "-o", f"{tmp_path / 'o3'}/"])
    _bad(r)
    assert "would both be written to" in r.stderr
    kept = (tmp_path / "out" / "img0.rdc").read_bytes()
    r = runner.invoke(main, ["encode", str(two[0]), str(two[1]), "-o", f"{tmp_path / 'out'}/"])
    assert r.exit_code == 2 and "exists (use --force to overwrite)" in r.stderr
    assert (tmp_path / "out" / "img0.rdc").read_bytes() == kept
    assert (tmp_path / "out" / "img1.rdc").is_file()
    assert not (tmp_path / "o3").exists()  # refused before the folder was made


def test_thread_count_does_not_change_the_stream(runner, models_env, tmp_path):
    (source,) = _pngs(tmp_path, 1, size=(64, 96))
    outputs = []
    for n in (1, 2):
        out = tmp_path / f"t{n}.rdc"
        assert runner.invoke(main, ["encode", str(source), "-o", str(out), "--threads", str(n)]).exit_code == 0
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1]


def test_a_file_that_cannot_be_written_is_one_error_line_and_the_batch_goes_on(runner, models_env, tmp_path, monkeypatch):
    import rdcodec.atomic_file

    real_write = rdcodec.atomic_file.write_bytes

    def failing_write(path, data):
        if str(path).endswith("img1.rdc"):
            raise OSError(28, "No space left on device", str(path))
        return real_write(path, data)

    monkeypatch.setattr(rdcodec.atomic_file, "write_bytes", failing_write)
    sources = _pngs(tmp_path, 3)
    out = tmp_path / "rdc"
    r = runner.invoke(main, ["encode", *map(str, sources), "-o", f"{out}/"])
    assert r.exit_code == 2 and "Traceback" not in r.output
    errors = [line for line in r.stderr.splitlines() if line.startswith("rdcodec: error:")]
    assert len(errors) == 1 and "No space left on device" in errors[0] and "img1" in errors[0]
    assert sorted(p.name for p in out.iterdir()) == ["img0.rdc", "img2.rdc"]


def test_models_table_columns_fit_the_longest_id(runner, tmp_path, monkeypatch):
    """`rdcodec models` on the shipped manifest: every row's columns line up under the header,
    the longest id (a ladder's grid entry) included."""
    import shutil
    from pathlib import Path

    shutil.copy(Path(__file__).resolve().parent.parent / "models" / "manifest.json", tmp_path / "manifest.json")
    monkeypatch.setenv("RDCODEC_MODELS_DIR", str(tmp_path))
    r = runner.invoke(main, ["models"])
    assert r.exit_code == 0
    header, *rows, footer = r.stdout.splitlines()
    metric_at = header.index("metric")
    assert footer.startswith("(figures:")
    assert len(rows) > 10 and max(len(row.split()[0]) for row in rows) > 26
    for row in rows:
        model_id = row.split()[0]
        assert row[metric_at - 4 : metric_at - 1].strip() in ("", *map(str, range(1, 20)))  # the q column
        assert row[metric_at:].split()[0] in ("mse", "ssim", "-"), row
        assert len(model_id) <= metric_at - 4
