"""tools/experiments/celeba_ssim_gap.py (issue 19 §2): the held-out SSIM trend and the SSIM definitions."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from conftest import load_tool


def _power_law_log(path, a=2.0, alpha=0.25, sec_per_step=2.0):
    records = [{"step": 0, "kind": "start"}]
    for t in range(1000, 21000, 1000):
        records.append({"step": t, "kind": "train", "sec_per_step": sec_per_step, "loss": 0.3})
        records.append({"step": t, "kind": "val", "held_out_ssim": 1 - a * t**-alpha})
    records.append({"step": 20000, "kind": "val", "held_out_ssim": 1 - a * 20000**-alpha})  # a resumed run repeats a step
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_the_trend_fit_recovers_a_power_law_and_solves_it_for_the_target(tmp_path):
    gap = load_tool("tools/experiments/celeba_ssim_gap.py")
    fit = gap.fit_trend(_power_law_log(tmp_path / "log.jsonl"), fit_from=5000, target=0.93)
    assert [p[0] for p in fit.points] == list(range(5000, 21000, 1000))
    assert fit.alpha == pytest.approx(0.25) and fit.a == pytest.approx(2.0) and fit.r2 == pytest.approx(1.0)
    assert fit.steps_to_target == pytest.approx((2.0 / 0.07) ** 4, rel=1e-6)
    assert fit.hours_to_target == pytest.approx(fit.steps_to_target * 2.0 / 3600, rel=1e-6)
    assert fit.last_step == 20000 and fit.last_ssim == pytest.approx(1 - 2.0 * 20000**-0.25)


def test_a_run_that_does_not_improve_never_reaches_the_target(tmp_path):
    gap = load_tool("tools/experiments/celeba_ssim_gap.py")
    log = tmp_path / "flat.jsonl"
    log.write_text(
        "".join(json.dumps({"step": t, "kind": "val", "held_out_ssim": 0.7 - 1e-6 * t}) + "\n" for t in (1000, 2000, 3000))
    )
    fit = gap.fit_trend(log, fit_from=0, target=0.93)
    assert fit.alpha < 0 and fit.steps_to_target is None and fit.hours_to_target is None
    with pytest.raises(ValueError, match="the fit needs 3"):
        gap.fit_trend(log, fit_from=2500, target=0.93)
    log.write_text(log.read_text() + "{broken\n")
    with pytest.raises(ValueError, match=r"flat.jsonl:4: not a JSON record"):
        gap.fit_trend(log, fit_from=0, target=0.93)


def test_identical_images_score_one_under_every_ssim_definition():
    import torch

    gap = load_tool("tools/experiments/celeba_ssim_gap.py")
    x = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    same = gap.ssim_definitions(x, x.clone())
    assert all(same[k] == pytest.approx(1.0, abs=1e-5) for k in same if k != "psnr_db") and same["psnr_db"] > 100
    blurred = torch.nn.functional.avg_pool2d(x, 3, stride=1, padding=1)
    scores = gap.ssim_definitions(x, blurred)
    assert all(0 < v < 1 for k, v in scores.items() if k != "psnr_db")
    # the stabilising constants raise SSIM: eq. 61 without them scores a blur lower
    assert scores["eq61_gaussian11"] < scores["training_ssim_rgb"]


def test_eq61_on_uniform_windows_is_the_universal_quality_index_computed_by_hand():
    import torch

    gap = load_tool("tools/experiments/celeba_ssim_gap.py")
    g = torch.Generator().manual_seed(1)
    x = torch.rand(1, 3, 12, 12, generator=g, dtype=torch.float64)
    y = (x + 0.2 * torch.rand(1, 3, 12, 12, generator=g, dtype=torch.float64)).clamp(0, 1)
    c = 1e-8  # (K·1)² with K = 10⁻⁴
    values = []
    for ch in range(3):
        for i in range(12 - 6):
            for j in range(12 - 6):
                a, b = x[0, ch, i : i + 7, j : j + 7].numpy(), y[0, ch, i : i + 7, j : j + 7].numpy()
                ma, mb = a.mean(), b.mean()
                va, vb, cov = (a * a).mean() - ma**2, (b * b).mean() - mb**2, (a * b).mean() - ma * mb
                values.append((2 * ma * mb + c) / (ma**2 + mb**2 + c) * (2 * cov + c) / (va + vb + c))
    scores = gap.ssim_definitions(x, y)
    assert scores["eq61_uniform7"] == pytest.approx(float(np.mean(values)), abs=1e-7)
    assert abs(scores["eq61_uniform7"] - scores["eq61_gaussian11"]) > 1e-3  # the window is not the Gaussian one


def test_a_face_snapshot_is_scored_as_the_driver_scores_it(tmp_path):
    import torch
    from PIL import Image

    from rdcodec.model.face import FaceConfig, FaceRaDOGAGA, load_faces, reconstruction_ssim

    gap = load_tool("tools/experiments/celeba_ssim_gap.py")
    rng = np.random.default_rng(0)
    data = tmp_path / "faces"
    data.mkdir()
    for i in range(6):
        Image.fromarray(rng.integers(0, 256, (109, 89, 3), dtype=np.uint8)).save(data / f"{i:06d}.jpg")
    config = FaceConfig(channels=8, hidden=32, latent=6, size=32)
    torch.manual_seed(0)
    model = FaceRaDOGAGA(config).eval()
    snapshot = tmp_path / "snapshot.pt"
    state = {k: v.to(torch.bfloat16) if v.is_floating_point() else v for k, v in model.state_dict().items()}
    torch.save({"config": {"kind": "radogaga", "model": config.to_dict()}, "model": state, "step": 7}, snapshot)

    out = tmp_path / "gap.json"
    log = _power_law_log(tmp_path / "log.jsonl")
    args = ["--log", f"radogaga={log}", "--snapshot", f"radogaga={snapshot}", "--data", str(data), "--held-out", "4"]
    assert gap.main([*args, "-o", str(out)]) == 0
    scores = json.loads(out.read_text())["definitions"]["radogaga"]
    assert scores["step"] == 7 and scores["kind"] == "radogaga" and scores["faces"] == 4
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})  # as shipped: bf16
    expected = reconstruction_ssim(model, load_faces(data, limit=4, size=32))
    assert scores["training_ssim_rgb"] == pytest.approx(expected, abs=1e-6)
    assert math.isfinite(scores["eq61_uniform7"]) and scores["psnr_db"] > 0
    # the output is never overwritten
    before = out.read_bytes()
    assert gap.main([*args, "-o", str(out)]) == 2
    assert out.read_bytes() == before


@pytest.mark.parametrize("content", [b"not a torch file", None])
def test_a_file_that_is_not_a_face_network_is_one_error_line(tmp_path, capsys, content):
    import torch

    gap = load_tool("tools/experiments/celeba_ssim_gap.py")
    bad = tmp_path / "bad.pt"
    if content is None:  # a checkpoint, but of no face network
        torch.save({"model": {}, "step": 1, "config": {"kind": "radogaga", "model": {"channels": 8, "bogus": 1}}}, bad)
    else:
        bad.write_bytes(content)
    (tmp_path / "faces").mkdir()
    args = ["--snapshot", f"x={bad}", "--data", str(tmp_path / "faces"), "-o", str(tmp_path / "g.json")]
    assert gap.main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("celeba_ssim_gap: error:") and str(bad) in err[0]
    assert not (tmp_path / "g.json").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--log", "nolabel.jsonl"], "NAME=PATH"),
        (["--snapshot", "a=b.pt"], "--snapshot needs --data"),
        (["--snapshot", "a=b.pt", "--data", ".", "--held-out", "0"], "at least 1"),
        ([], "at least one"),
    ],
)
def test_bad_arguments_are_one_error_line(tmp_path, capsys, args, message):
    gap = load_tool("tools/experiments/celeba_ssim_gap.py")
    assert gap.main([*args, "-o", str(tmp_path / "g.json")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("celeba_ssim_gap: error:") and message in err[0]
    assert not (tmp_path / "g.json").exists()
