"""rdcodec rd-curve: JSON schema, real-file rates, BD-rate."""

from __future__ import annotations

import json
import math

import pytest
from click.testing import CliRunner
from conftest import export_tiny, synthetic_image
from PIL import Image, features

from rdcodec.cli import main
from rdcodec.eval.bd_rate import bd_rate, rate_ratios, to_db


def test_bd_rate_of_a_curve_against_itself_is_zero():
    rates, quality = [0.1, 0.2, 0.4, 0.8, 1.2], [28.0, 30.5, 33.0, 35.2, 36.4]
    assert bd_rate(rates, quality, rates, quality) == pytest.approx(0.0, abs=1e-9)


def test_bd_rate_of_a_scaled_curve():
    rates, quality = [0.1, 0.2, 0.4, 0.8], [28.0, 30.5, 33.0, 35.2]
    assert bd_rate([r * 0.8 for r in rates], quality, rates, quality) == pytest.approx(-20.0, abs=1e-6)
    assert bd_rate([r * 1.5 for r in rates], quality, rates, quality) == pytest.approx(50.0, abs=1e-6)


def test_bd_rate_of_log_linear_curves_over_their_common_interval():
    # log2 R is linear in quality, which PCHIP reproduces: the BD-rate is exact
    quality = [30.0, 32.0, 34.0, 36.0]
    anchor = [0.1 * 2 ** ((q - 30) / 2) for q in quality]
    test = [0.1 * 2 ** ((q - 30) / 3) for q in quality]  # log2 ratio −(q − 30)/6, mean −1/2 on [30, 36]
    assert bd_rate(test, quality, anchor, quality) == pytest.approx((2**-0.5 - 1) * 100, abs=1e-9)
    shifted = [q + 4 for q in quality]  # test covers [34, 40]: only [34, 36] is common, mean log2 ratio −5/6
    assert bd_rate([0.1 * 2 ** ((q - 30) / 3) for q in shifted], shifted, anchor, quality) == pytest.approx(
        (2 ** (-5 / 6) - 1) * 100, abs=1e-9
    )
    two = bd_rate(
        test[1:3], quality[1:3], anchor[1:3], quality[1:3]
    )  # two points: a straight line, mean log2 ratio −1/2 on [32, 34]
    assert two == pytest.approx((2**-0.5 - 1) * 100, abs=1e-9)


def test_bd_rate_cleans_its_points():
    rates, quality = [0.1, 0.2, 0.4, 0.8], [28.0, 30.5, 33.0, 35.2]
    anchor = ([0.12, 0.25, 0.45, 0.9], [27.5, 30.0, 33.5, 36.0])
    clean = bd_rate(rates, quality, *anchor)
    # unsorted, a repeated quality (the lower rate is kept), a perfect score (∞ dB) and a zero rate are all dropped or reordered
    messy = bd_rate([0.8, 0.1, 0.4, 0.5, 0.2, 0.6, 0.0], [35.2, 28.0, 33.0, 33.0, 30.5, math.inf, 31.0], *anchor)
    assert messy == pytest.approx(clean, abs=1e-12) and clean < 0
    assert bd_rate([0.2, 0.1], [30.0, 31.0], *anchor) is not None  # rate falling with quality is still a curve
    assert bd_rate([0.1, 0.2], [30.0, 30.0], *anchor) is None  # one distinct quality is too few points
    assert bd_rate([0.1], [30.0], *anchor) is None


def test_rate_ratios_say_where_a_curve_loses():
    """Per point, the test's rate over the anchor's at equal quality: a curve level with the
    anchor below 32 dB and needing 1.5× its bits above is read as exactly that, and a point
    beyond the anchor's quality range has no ratio."""
    quality = [26.0, 28.0, 30.0, 32.0, 34.0, 36.0]
    anchor = [0.1 * 2 ** ((q - 26) / 3) for q in quality]
    test_quality = [27.0, 29.0, 31.0, 33.0, 35.0, 37.0]
    test = [0.1 * 2 ** ((q - 26) / 3) * (1.0 if q < 32 else 1.5) for q in test_quality]
    ratios = rate_ratios(test, test_quality, anchor, quality)
    assert ratios[:3] == pytest.approx([1.0, 1.0, 1.0], abs=1e-9)
    assert ratios[3:5] == pytest.approx([1.5, 1.5], abs=1e-9)
    assert ratios[5] is None
    assert rate_ratios([0.5], [30.0], [0.4], [30.0]) == [None]  # one anchor point: no curve
    bad = rate_ratios([0.0, math.inf, 0.2, 0.2], [30.0, 30.0, math.nan, 30.0], anchor, quality)
    assert bad[:3] == [None, None, None] and bad[3] == pytest.approx(0.2 / (0.1 * 2 ** (4 / 3)))
    with pytest.raises(ValueError):
        rate_ratios([0.2, 0.3], [30.0], anchor, quality)


def test_bd_rate_without_overlap_is_none():
    assert bd_rate([0.1, 0.2], [10, 11], [0.1, 0.2], [20, 21]) is None
    assert bd_rate([0.1, 0.2], [10, 11], [0.1, 0.2], [11, 21]) is None  # touching at one quality
    assert to_db(0.9) == pytest.approx(10.0)
    assert math.isinf(to_db(1.0))


@pytest.fixture
def two_images(tmp_path):
    paths = []
    for i, (h, w) in enumerate([(40, 56), (33, 47)]):
        p = tmp_path / f"img{i}.png"
        Image.fromarray(synthetic_image(h, w, seed=i)).save(p)
        paths.append(p)
    return paths


@pytest.fixture
def two_models(tmp_path, monkeypatch):
    """Two tiny models at different rates, so the rdcodec curve has two points."""
    models = tmp_path / "models"
    export_tiny(models, model_id="tiny-a")
    export_tiny(models, model_id="tiny-b", seed=3, default=False, spread=10.0)
    monkeypatch.setenv("RDCODEC_MODELS_DIR", str(models))
    return models


def test_rd_curve_cli(tmp_path, two_images, two_models):
    ref = tmp_path / "pub.json"
    ref.write_text(
        json.dumps(
            {"name": "pub", "results": {"bpp": [0.1, 0.3, 0.6], "psnr-rgb": [20, 24, 28], "ms-ssim-rgb": [0.8, 0.9, 0.95]}}
        )
    )
    out_json, out_png = tmp_path / "c.json", tmp_path / "c.png"
    r = CliRunner().invoke(
        main,
        [
            "rd-curve",
            *map(str, two_images),
            "--baselines",
            "jpeg,webp",
            "--qualities",
            "20,50,80",
            "--reference",
            str(ref),
            "--json",
            str(out_json),
            "-o",
            str(out_png),
            "--no-progress",
        ],
    )
    assert r.exit_code == 0, r.output
    report = json.loads(out_json.read_text())
    assert report["schema"] == "rdcodec.rd-curve/1"
    assert [im["name"] for im in report["images"]] == ["img0.png", "img1.png"]
    kinds = {c["name"]: c["kind"] for c in report["curves"]}
    assert kinds == {"rdcodec-ssim": "rdcodec", "jpeg": "baseline", "webp": "baseline", "ref:pub": "reference"}
    pixels = {"img0.png": 40 * 56, "img1.png": 33 * 47}
    for curve in report["curves"]:
        for point in curve["points"]:
            for score in point["per_image"]:
                assert score["bpp"] == pytest.approx(score["bytes"] * 8 / pixels[score["image"]])
                assert {"psnr", "ssim", "ms_ssim"} <= set(score)
            if point["per_image"]:
                assert point["bpp"] == pytest.approx(sum(s["bpp"] for s in point["per_image"]) / 2)
    rd = next(c for c in report["curves"] if c["kind"] == "rdcodec")
    assert len(rd["points"]) == 2 and all(p["estimated_bpp"] > 0 for p in rd["points"])
    axes = {(e["anchor"], e["axis"]) for e in report["bd_rate"]}
    assert ("jpeg", "ssim-db") in axes and ("ref:pub", "psnr") in axes
    assert out_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "BD-rate" in r.stderr


def test_rd_curve_refuses_bad_arguments(tmp_path, two_images, models_env):
    r = CliRunner().invoke(main, ["rd-curve", str(two_images[0]), "--baselines", "gif", "--json", str(tmp_path / "x.json")])
    assert r.exit_code == 2 and "unknown baseline" in r.stderr
    assert not (tmp_path / "x.json").exists()
    r = CliRunner().invoke(main, ["rd-curve", str(two_images[0])])
    assert r.exit_code == 2


def test_baseline_curves_are_reused_from_an_earlier_report(tmp_path, two_images, two_models):
    first = tmp_path / "baselines.json"
    args = ["--qualities", "20,60", "--no-progress"]
    r = CliRunner().invoke(
        main, ["rd-curve", *map(str, two_images), "--models", "none", "--baselines", "jpeg", "--json", str(first), *args]
    )
    assert r.exit_code == 0, r.output
    base = json.loads(first.read_text())
    assert [c["name"] for c in base["curves"]] == ["jpeg"] and base["bd_rate"] == []
    second = tmp_path / "models.json"
    r = CliRunner().invoke(
        main, ["rd-curve", *map(str, two_images), "--baselines", "none", "--reference", str(first), "--json", str(second), *args]
    )
    assert r.exit_code == 0, r.output
    report = json.loads(second.read_text())
    jpeg = next(c for c in report["curves"] if c["name"] == "jpeg")
    assert jpeg == base["curves"][0]  # reused as measured, per-image scores included
    assert {(e["anchor"], e["axis"]) for e in report["bd_rate"]} >= {("jpeg", "ssim-db"), ("jpeg", "psnr")}
    r = CliRunner().invoke(
        main,
        ["rd-curve", str(two_images[0]), "--baselines", "none", "--reference", str(first), "--json", str(tmp_path / "x.json")],
    )
    assert r.exit_code == 2 and "other images" in r.stderr
    assert not (tmp_path / "x.json").exists()


@pytest.mark.skipif(not features.check("avif"), reason="this Pillow has no AVIF")
def test_avif_at_another_speed_is_a_baseline_of_its_own(tmp_path, two_images, models_env, monkeypatch):
    from PIL import Image as PILImage

    from rdcodec.eval import baselines

    saved = []
    real_save = PILImage.Image.save

    def spy(self, fp, format=None, **params):
        saved.append((format, params.get("speed")))
        return real_save(self, fp, format=format, **params)

    monkeypatch.setattr(PILImage.Image, "save", spy)
    pixels = synthetic_image(32, 40, seed=1)
    plain, fast = baselines.encode_decode("avif", pixels, 50), baselines.encode_decode("avif-speed10", pixels, 50)
    assert saved == [("AVIF", None), ("AVIF", 10)]  # Pillow's default speed, then speed 10
    assert plain.pixels.shape == fast.pixels.shape == pixels.shape
    assert baselines.default_qualities("avif-speed4") == baselines.DEFAULT_QUALITIES["avif"]
    for bad in ("avif-speed11", "avif-speed", "avif-speed04", "avif-speed-1", "webp-speed4", "avif-speed²"):
        assert not baselines.is_known(bad)
        with pytest.raises(ValueError, match="unknown baseline"):
            baselines.encode_decode(bad, pixels, 50)

    out = tmp_path / "curve.json"
    args = ["rd-curve", *map(str, two_images), "--models", "none", "--baselines", "avif,avif-speed10"]
    r = CliRunner().invoke(main, [*args, "--qualities", "30,70", "--json", str(out), "--no-progress"])
    assert r.exit_code == 0, r.stderr
    names = [c["name"] for c in json.loads(out.read_text())["curves"]]
    assert names == ["avif", "avif-speed10"]
    r = CliRunner().invoke(main, ["rd-curve", str(two_images[0]), "--baselines", "avif-speed42", "--json", str(out), "-f"])
    assert r.exit_code == 2 and "avif-speedN" in r.stderr


@pytest.fixture
def two_grid_models(tmp_path, monkeypatch):
    """Two tiny models of 16 channels, each with its grid entry (format version 2)."""
    models = tmp_path / "grid-models"
    export_tiny(models, model_id="tiny-a", grid=True, M=16)
    export_tiny(models, model_id="tiny-b", seed=3, default=False, spread=10.0, grid=True, M=16)
    monkeypatch.setenv("RDCODEC_MODELS_DIR", str(models))
    return models


def _image_bytes(report: dict, curve: str) -> dict:
    points = next(c for c in report["curves"] if c["name"] == curve)["points"]
    return {(p["setting"], s["image"]): s["bytes"] for p in points for s in p["per_image"]}


def test_rd_curve_measures_the_files_of_either_format_version(tmp_path, two_images, two_grid_models):
    """The ladder points only are measured (a grid entry is no point of its own); --format-version
    2 measures, for the same points, exactly the files `rdcodec encode --format-version 2` writes,
    and is the default where every point has grid tables, as it is for `rdcodec encode`."""
    from rdcodec import codec
    from rdcodec.codec_v2 import encode_image_v2
    from rdcodec.zoo.registry import Registry

    args = ["rd-curve", *map(str, two_images), "--baselines", "jpeg", "--qualities", "20,80", "--no-progress"]
    reports = {}
    for version in ("1", "2", "default"):
        out = tmp_path / f"v{version}.json"
        named = [] if version == "default" else ["--format-version", version]
        r = CliRunner().invoke(main, [*args, *named, "--json", str(out)])
        assert r.exit_code == 0, r.stderr
        reports[version] = json.loads(out.read_text())
    names = {v: [c["name"] for c in rep["curves"] if c["kind"] == "rdcodec"] for v, rep in reports.items()}
    assert names == {"1": ["rdcodec-ssim"], "2": ["rdcodec-ssim-v2"], "default": ["rdcodec-ssim-v2"]}
    assert _image_bytes(reports["default"], "rdcodec-ssim-v2") == _image_bytes(reports["2"], "rdcodec-ssim-v2")
    v1, v2 = _image_bytes(reports["1"], "rdcodec-ssim"), _image_bytes(reports["2"], "rdcodec-ssim-v2")
    assert {setting for setting, _ in v1} == {setting for setting, _ in v2} == {"tiny-a", "tiny-b"}
    registry = Registry(two_grid_models)
    for (setting, image), size in v2.items():
        model = codec.load_model(setting, registry)
        path = next(p for p in two_images if p.name == image)
        assert size == len(encode_image_v2(str(path), model, registry).data)
        assert v1[setting, image] == len(codec.encode_image(str(path), model).data)
    v2_points = next(c for c in reports["2"]["curves"] if c["name"] == "rdcodec-ssim-v2")["points"]
    assert all(p["estimated_bpp"] is None for p in v2_points)  # the estimate is format 1's
    assert {e["curve"] for e in reports["2"]["bd_rate"]} == {"rdcodec-ssim-v2"}


def test_rd_curve_refuses_what_cannot_write_the_format(tmp_path, two_images, models_env, two_grid_models, monkeypatch):
    out = tmp_path / "x.json"
    args = ["rd-curve", str(two_images[0]), "--baselines", "none", "--json", str(out), "--no-progress"]
    r = CliRunner().invoke(main, [*args, "--models", "tiny-a-grid"])
    assert r.exit_code == 2 and "grid tables, not a ladder point" in r.stderr
    monkeypatch.setenv("RDCODEC_MODELS_DIR", str(models_env.directory))  # a model without grid tables
    r = CliRunner().invoke(main, [*args, "--format-version", "2"])
    assert r.exit_code == 2 and "no grid tables" in r.stderr
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.output
    r = CliRunner().invoke(main, [*args, "--format-version", "3"])
    assert r.exit_code == 2
    assert not out.exists()


def test_rd_curve_measures_superseded_points_only_when_named(tmp_path, two_images, two_grid_models):
    from rdcodec.zoo.registry import Registry

    Registry(two_grid_models).supersede(["tiny-b"], by="tiny-a")
    args = ["rd-curve", str(two_images[0]), "--baselines", "none", "--no-progress"]
    settings = {}
    for named in ([], ["--models", "tiny-a,tiny-b"]):
        out = tmp_path / f"{len(named)}.json"
        r = CliRunner().invoke(main, [*args, *named, "--json", str(out)])
        assert r.exit_code == 0, r.stderr
        settings[len(named)] = {s for s, _ in _image_bytes(json.loads(out.read_text()), "rdcodec-ssim-v2")}
    assert settings == {0: {"tiny-a"}, 2: {"tiny-a", "tiny-b"}}
    listing = CliRunner().invoke(main, ["models"]).stdout.splitlines()
    rows = [line for line in listing if line.startswith("tiny-")]
    assert rows[0].startswith("tiny-a ") and "(superseded by tiny-a; decodes older files)" in rows[-1]
