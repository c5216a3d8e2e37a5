"""tools/experiments/celeba_geometry_trend.py (issue 19 §2): the driver's measurements on a run's snapshots."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest
from conftest import load_tool


def _faces(folder, count=6):
    from PIL import Image

    rng = np.random.default_rng(0)
    folder.mkdir()
    for i in range(count):
        Image.fromarray(rng.integers(0, 256, (109, 89, 3), dtype=np.uint8)).save(folder / f"{i:06d}.jpg")
    return folder


def _snapshot(path, kind, step, seed):
    import torch

    from rdcodec.model.face import FaceBetaVAE, FaceConfig, FaceRaDOGAGA

    config = FaceConfig(channels=8, hidden=32, latent=12, size=32)
    torch.manual_seed(seed)
    model = (FaceRaDOGAGA if kind == "radogaga" else FaceBetaVAE)(config).eval()
    state = {k: v.to(torch.bfloat16) if v.is_floating_point() else v for k, v in model.state_dict().items()}
    run_config = {"kind": kind, "model": config.to_dict(), "lambda2": 0.5}
    torch.save({"config": run_config, "model": state, "step": step}, path)
    return path


def test_each_snapshot_gets_the_drivers_measurements(tmp_path):
    trend = load_tool("tools/experiments/celeba_geometry_trend.py")
    driver = load_tool("tools/experiments/celeba_isometry.py")
    from rdcodec.model.face import load_faces
    from rdcodec.train.face_task import load_face_network

    data = _faces(tmp_path / "faces")
    early, late = _snapshot(tmp_path / "a.pt", "radogaga", 100, 0), _snapshot(tmp_path / "b.pt", "betavae", 200, 1)
    out = tmp_path / "trend.json"
    args = ["--data", str(data), "--held-out", "5", "--analysis-images", "2"]
    assert trend.main([str(early), str(late), *args, "-o", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["settings"] == {"held_out": 5, "analysis_images": 2, "delta": 0.25}
    rows = report["rows"]
    assert [(r["kind"], r["step"]) for r in rows] == [("radogaga", 100), ("betavae", 200)]
    network = load_face_network(early)
    faces = load_faces(data, limit=5, size=32)
    expected, _, _ = driver.measure("radogaga", network.model, faces, 2, 0.25, 0.5)
    assert rows[0]["top10_variance_share"] == pytest.approx(expected["top10_variance_share"])
    assert rows[0]["d_prime_top9_cv"] == pytest.approx(expected["d_prime_top9_cv"])
    assert rows[0]["reconstruction_ssim"] == pytest.approx(expected["reconstruction_ssim"])
    assert rows[0]["d_prime_top9"] == pytest.approx(expected["d_prime_top9"]) and len(rows[0]["d_prime_top9"]) == 9
    assert rows[0]["top10_variance_share"] != rows[1]["top10_variance_share"]
    before = out.read_bytes()  # never replaced
    assert trend.main([str(early), *args, "-o", str(out)]) == 2 and out.read_bytes() == before


def test_a_snapshot_is_read_from_git_at_a_commit(tmp_path):
    trend = load_tool("tools/experiments/celeba_geometry_trend.py")
    repo = tmp_path / "repo"
    repo.mkdir()
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(repo)]
    subprocess.run([*git, "init", "-q"], check=True)
    (repo / "snap.pt").write_bytes(b"first")
    subprocess.run([*git, "add", "snap.pt"], check=True)
    subprocess.run([*git, "commit", "-qm", "one"], check=True)
    rev = subprocess.run([*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True).stdout.strip()
    (repo / "snap.pt").write_bytes(b"second")
    folder = tmp_path / "copies"
    folder.mkdir()
    assert trend.read_source(f"snap.pt@{rev}", folder, repo).read_bytes() == b"first"
    assert trend.read_source("plain.pt", folder, repo) == trend.Path("plain.pt")
    at_sign = tmp_path / "run@2"  # a file that exists is itself, "@" or not
    at_sign.write_bytes(b"x")
    assert trend.read_source(str(at_sign), folder, repo) == at_sign
    with pytest.raises(ValueError, match="git cannot show it"):
        trend.read_source("missing.pt@" + rev, folder, repo)
    with pytest.raises(ValueError, match="PATH@REV"):
        trend.read_source("snap.pt@", folder, repo)


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("not a face network", "bad.pt"),
        ("no faces", "no face images"),
        ("delta 0", "--delta must be positive"),
        ("no output folder", "no such directory"),
    ],
)
def test_bad_input_is_one_error_line_before_any_work(tmp_path, capsys, case, message):
    trend = load_tool("tools/experiments/celeba_geometry_trend.py")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a torch file")
    source = str(bad) if case == "not a face network" else str(_snapshot(tmp_path / "ok.pt", "radogaga", 1, 0))
    data = tmp_path / "empty" if case == "no faces" else _faces(tmp_path / "faces", count=2)
    data.mkdir(exist_ok=True)
    out = tmp_path / ("missing/t.json" if case == "no output folder" else "t.json")
    extra = ["--delta", "0"] if case == "delta 0" else []
    assert trend.main([source, "--data", str(data), *extra, "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("celeba_geometry_trend: error:") and message in err[0]
    assert not out.exists()
