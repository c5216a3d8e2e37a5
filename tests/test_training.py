"""Training loop: a few steps on synthetic images, checkpoint, resume, export."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import assert_refused, load_tool, synthetic_folder, synthetic_image, tiny_train_config

from rdcodec.train.codec_task import train
from rdcodec.train.config import ConfigError, apply_override, load_train_config
from rdcodec.train.run_log import log_path, read_records


@pytest.fixture
def image_dir(tmp_path):
    return synthetic_folder(tmp_path / "imgs", [(48, 40 + 8 * i) for i in range(3)])


def _config(image_dir, steps, kind="radogaga"):
    return tiny_train_config(image_dir, steps, kind=kind)


def _records(run_dir, kind):
    return [r for r in read_records(log_path(run_dir)) if r["kind"] == kind]


@pytest.mark.parametrize("kind", ["radogaga", "balle"])
def test_train_checkpoint_resume(image_dir, tmp_path, kind):
    import torch

    run = tmp_path / "run"
    train(_config(image_dir, 2, kind), run, progress=False)
    first = torch.load(run / "checkpoint.pt", weights_only=False)
    assert first["step"] == 2
    train(_config(image_dir, 4, kind), run, progress=False)
    second = torch.load(run / "checkpoint.pt", weights_only=False)
    assert second["step"] == 4
    train_steps = [r["step"] for r in _records(run, "train")]
    assert train_steps == [1, 2, 3, 4]
    val = _records(run, "val")
    assert [r["step"] for r in val] == [2, 4]
    assert all(np.isfinite(r["bpp"]) and 0 < r["ssim"] <= 1 for r in val)
    changed = any(not torch.equal(first["model"][k], second["model"][k]) for k in first["model"])
    assert changed


def test_export_checkpoint_makes_a_working_model(image_dir, tmp_path):
    from rdcodec import codec
    from rdcodec.zoo.export import export_checkpoint
    from rdcodec.zoo.registry import Registry

    run = tmp_path / "run"
    train(_config(image_dir, 2), run, progress=False)
    registry = Registry(tmp_path / "models")
    entry = export_checkpoint(run / "checkpoint.pt", registry, "trained-tiny", default=True)
    assert entry.training["steps"] == 2 and entry.metric == "ssim"
    model = codec.load_model("trained-tiny", registry)
    px = synthetic_image(20, 30)
    assert codec.decode(codec.encode(px, model), model).shape == px.shape


def test_overrides_and_bad_options(tmp_path):
    config = {"network": {"N": 8}}
    apply_override(config, "network.M=16")
    apply_override(config, "objective.metric=mse")
    apply_override(config, "steps=3")
    assert config == {"network": {"N": 8, "M": 16}, "objective": {"metric": "mse"}, "steps": 3}
    with pytest.raises(ConfigError, match="bogus"):
        load_train_config(None, ["train_dirs=[]", "bogus=1"])
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        load_train_config(None, ["foo"])
    with pytest.raises(ConfigError, match="no such file"):
        load_train_config(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_train_config(tmp_path / "bad.json")
    with pytest.raises(ConfigError, match="metric"):
        load_train_config(None, ["train_dirs=[]", "objective.metric=psnr"])
    with pytest.raises(ConfigError, match="crop"):
        load_train_config(None, ["train_dirs=[]", "crop=30"])
    for flag in ("compile", "bf16", "channels_last"):
        with pytest.raises(ConfigError, match=f"{flag} must be true or false"):
            load_train_config(None, ["train_dirs=[]", f"{flag}=1"])
    cfg = load_train_config(None, ['train_dirs=["a"]', "network.N=8", "step_range=[0.5,2]"])
    assert cfg.network.N == 8 and cfg.step_range == [0.5, 2]


# dynamo reads .grad of non-leaf tensors while it traces compressai's EntropyBottleneck
@pytest.mark.filterwarnings("ignore:The .grad attribute of a Tensor that is not a leaf:UserWarning")
def test_compiled_training_pass_trains_like_the_eager_one(image_dir, tmp_path, monkeypatch):
    """``compile = true`` runs the training pass through torch.compile: same checkpoint schema and
    steps, and (float32, with inductor drawing the noise as eager torch does) the same losses
    and, to Adam's rounding, the same weights as the eager run."""
    import dataclasses

    import torch
    import torch._inductor.config

    monkeypatch.setattr(torch._inductor.config, "fallback_random", True)
    eager_cfg = _config(image_dir, 2)
    train(eager_cfg, tmp_path / "eager", progress=False)
    train(dataclasses.replace(eager_cfg, compile=True), tmp_path / "compiled", progress=False)
    eager = torch.load(tmp_path / "eager" / "checkpoint.pt", weights_only=False)
    compiled = torch.load(tmp_path / "compiled" / "checkpoint.pt", weights_only=False)
    assert compiled["step"] == eager["step"] == 2
    assert compiled["model"].keys() == eager["model"].keys()
    assert compiled["config"]["compile"] is True and eager["config"]["compile"] is False
    losses = [[r["loss"] for r in _records(tmp_path / run, "train")] for run in ("eager", "compiled")]
    assert len(losses[1]) == 2 and np.allclose(losses[0], losses[1], rtol=1e-5)
    for k in [k for k in eager["model"] if eager["model"][k].is_floating_point()]:
        torch.testing.assert_close(compiled["model"][k], eager["model"][k], rtol=1e-3, atol=1e-5)


def test_a_machine_where_compiling_fails_trains_eagerly(image_dir, tmp_path, monkeypatch):
    """compile = true on a machine without a working toolchain: one warning, then the eager pass,
    and the same weights as an eager run (the loss function is the same)."""
    import dataclasses

    import torch

    from rdcodec.train import codec_task

    def broken_compile(fn):
        def compiled(*args, **kwargs):
            raise RuntimeError("InvalidCxxCompiler: No working C++ compiler found\n(details)")

        return compiled

    monkeypatch.setattr(codec_task.torch, "compile", broken_compile)
    eager_cfg = _config(image_dir, 2)
    train(eager_cfg, tmp_path / "eager", progress=False)
    with pytest.warns(RuntimeWarning, match="torch.compile failed here \\(InvalidCxxCompiler"):
        train(dataclasses.replace(eager_cfg, compile=True), tmp_path / "fallback", progress=False)
    eager = torch.load(tmp_path / "eager" / "checkpoint.pt", weights_only=False)["model"]
    fallback = torch.load(tmp_path / "fallback" / "checkpoint.pt", weights_only=False)["model"]
    assert all(torch.equal(eager[k], fallback[k]) for k in eager)


def test_compiled_or_eager_propagates_errors_once_the_compile_has_worked():
    from rdcodec.train.codec_task import CompiledOrEager

    calls = []

    def fn(x):
        calls.append(x)
        if x < 0:
            raise ValueError("negative")
        return x

    wrapped = CompiledOrEager(fn)
    wrapped.compiled = fn  # stands for a compiled fn that works
    assert wrapped(1) == 1 and wrapped.proven
    with pytest.raises(ValueError, match="negative"):
        wrapped(-1)
    assert calls == [1, -1]  # not retried eagerly


@pytest.mark.slow
def test_torchrun_two_cpu_processes_gloo(image_dir, tmp_path):
    """DistributedDataParallel through torchrun: 2 CPU processes, gloo backend, a few steps."""
    import os
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    import torch

    config = _config(image_dir, 3)
    config.checkpoint_every = 3
    cfg_path = tmp_path / "cfg.json"
    import dataclasses

    cfg_path.write_text(json.dumps(dataclasses.asdict(config)))
    torchrun = shutil.which("torchrun") or str(Path(sys.executable).parent / "torchrun")
    run = tmp_path / "ddp"
    root = Path(__file__).resolve().parent.parent
    env = dict(os.environ, OMP_NUM_THREADS="1")
    subprocess.run(
        [
            torchrun,
            "--standalone",
            "--nproc_per_node",
            "2",
            str(root / "tools" / "train.py"),
            "--config",
            str(cfg_path),
            "--run-dir",
            str(run),
            "--no-progress",
        ],
        check=True,
        env=env,
        timeout=300,
    )
    state = torch.load(run / "checkpoint.pt", weights_only=False)
    assert state["step"] == 3
    starts = _records(run, "start")
    assert starts and starts[-1]["world_size"] == 2
    assert [r["step"] for r in _records(run, "train")] == [1, 2, 3]


def test_cosine_learning_rate_schedule():
    import torch

    from rdcodec.train.loop import LoopSettings, cosine_schedule

    def rates(settings, base, at_steps):
        opt = torch.optim.Adam(
            [{"params": [torch.zeros(1, requires_grad=True)]}, {"params": [torch.zeros(1, requires_grad=True)]}]
        )
        out = []
        for s in at_steps:  # each as a fresh resume at step s: the schedule depends on the step only
            cosine_schedule(opt, base, settings, s)
            out.append([g["lr"] for g in opt.param_groups])
        return out

    constant = rates(LoopSettings(steps=100), [1e-3, 1e-2], [0, 50, 100])
    assert constant == [[1e-3, 1e-2]] * 3
    decay = LoopSettings(steps=100, lr_final=1e-5, lr_decay_start=20)
    (at10, at60, at100) = rates(decay, [1e-3, 1e-2], [10, 60, 100])
    assert at10 == [1e-3, 1e-2]
    assert at60[0] == pytest.approx((1e-3 + 1e-5) / 2) and at60[1] == pytest.approx((1e-2 + 1e-5) / 2)
    assert at100[0] == pytest.approx(1e-5)
    assert rates(LoopSettings(steps=10, lr_final=0.0), [1.0, 1.0], [5])[0][0] == pytest.approx(0.5)


def test_resume_follows_the_new_schedule_not_the_saved_rates(image_dir, tmp_path):
    import torch

    run = tmp_path / "run"
    cfg = _config(image_dir, 2)
    train(cfg, run, progress=False)
    cfg = _config(image_dir, 4)
    cfg.lr, cfg.lr_final, cfg.lr_decay_start = 1e-3, 1e-5, 2
    train(cfg, run, progress=False)
    lrs = [r["lr"] for r in _records(run, "train")]
    assert lrs[:2] == [1e-4, 1e-4] and lrs[2] == pytest.approx((1e-3 + 1e-5) / 2) and lrs[3] == pytest.approx(1e-5)
    assert torch.load(run / "checkpoint.pt", weights_only=False)["schema"] == "rdcodec.checkpoint/1"


def test_init_from_exported_weights(image_dir, tmp_path):
    import torch

    from rdcodec.zoo.export import export_checkpoint
    from rdcodec.zoo.registry import Registry

    first = tmp_path / "first"
    train(_config(image_dir, 2), first, progress=False)
    entry = export_checkpoint(first / "checkpoint.pt", Registry(tmp_path / "models"), "seed-model")
    cfg = _config(image_dir, 1)
    cfg.init_from = str(tmp_path / "models" / entry.weights)
    cfg.lr = 0.0  # no update: the new run's weights must equal the exported ones
    cfg.prior_lr_scale = 0.0
    second = tmp_path / "second"
    train(cfg, second, progress=False)
    exported = torch.load(tmp_path / "models" / entry.weights, weights_only=True)["state_dict"]
    resumed = torch.load(second / "checkpoint.pt", weights_only=False)["model"]
    for key in ("g_a.0.weight", "g_s.6.weight"):
        assert torch.equal(exported[key], resumed[key])


def test_decoder_phase_changes_only_the_decoder(image_dir, tmp_path):
    import torch

    run = tmp_path / "run"
    train(_config(image_dir, 1), run, progress=False)
    cfg = _config(image_dir, 2)
    cfg.phase, cfg.init_from, cfg.lr = "decoder", str(run / "checkpoint.pt"), 1e-2
    refined = tmp_path / "refined"
    train(cfg, refined, progress=False)
    before = torch.load(run / "checkpoint.pt", weights_only=False)["model"]
    after = torch.load(refined / "checkpoint.pt", weights_only=False)
    assert after["step"] == 2 and after["config"]["phase"] == "decoder"
    changed = {k.split(".")[0] for k in before if not torch.equal(before[k], after["model"][k])}
    assert "g_s" in changed and "g_a" not in changed
    for k in before:
        if k.startswith("entropy_bottleneck") and "quantiles" not in k:
            assert torch.equal(before[k], after["model"][k])


def test_decoder_phase_minimises_h_of_the_distortion(image_dir, tmp_path):
    """The decoder phase applies the run's h (eq. 5): h = log weighs the batches of a Δ range by
    their relative distortion, so it trains another decoder than h = identity; the log keeps
    the plain distortion either way."""
    import dataclasses
    import json

    import torch

    run = tmp_path / "run"
    train(_config(image_dir, 1), run, progress=False)
    decoders, logged = {}, {}
    for h in ("identity", "log"):
        cfg = _config(image_dir, 4)
        cfg.phase, cfg.init_from, cfg.lr, cfg.step_range = "decoder", str(run / "checkpoint.pt"), 1e-2, [0.5, 4.0]
        cfg.objective = dataclasses.replace(cfg.objective, h=h)
        train(cfg, tmp_path / h, progress=False)
        model = torch.load(tmp_path / h / "checkpoint.pt", weights_only=False)["model"]
        decoders[h] = {k: v for k, v in model.items() if k.startswith("g_s")}
        records = [json.loads(line) for line in (tmp_path / h / "log.jsonl").read_text().splitlines()]
        logged[h] = [r["distortion"] for r in records if r["kind"] == "train"]
    assert any(not torch.equal(decoders["identity"][k], decoders["log"][k]) for k in decoders["log"])
    # the first batch meets the same weights in both runs: the same 1 − SSIM is logged, not its log
    assert logged["log"][0] == pytest.approx(logged["identity"][0]) and logged["log"][0] > 0


def test_legacy_codec_checkpoint_resumes(image_dir, tmp_path):
    """A checkpoint written before the schema (no "schema", sampler RNG at top level) resumes."""
    import torch

    run = tmp_path / "run"
    train(_config(image_dir, 2), run, progress=False)
    state = torch.load(run / "checkpoint.pt", weights_only=False)
    legacy = {k: v for k, v in state.items() if k not in ("schema", "task", "task_state", "history", "config", "train_seconds")}
    legacy["sampler_rng"] = state["task_state"]["sampler_rng"]
    torch.save(legacy, run / "checkpoint.pt")
    train(_config(image_dir, 3), run, progress=False)
    resumed = torch.load(run / "checkpoint.pt", weights_only=False)
    assert resumed["step"] == 3 and resumed["task"] == "codec"


def test_not_a_checkpoint_is_refused(tmp_path):
    from rdcodec.train.checkpoint import CheckpointError, load_checkpoint

    (tmp_path / "x.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="not a training checkpoint"):
        load_checkpoint(tmp_path / "x.pt")
    with pytest.raises(CheckpointError, match="no such file"):
        load_checkpoint(tmp_path / "missing.pt")


def test_weights_snapshot_restores_a_run_on_a_new_machine(image_dir, tmp_path):
    import torch

    snapshot_tool = load_tool("tools/campaign_snapshot.py")

    run = tmp_path / "run"
    train(_config(image_dir, 2), run, progress=False)
    snapshot_tool.save(run / "checkpoint.pt", tmp_path / "snap.pt")
    snap = torch.load(tmp_path / "snap.pt", weights_only=False)
    assert snap["step"] == 2 and all(v.dtype == torch.bfloat16 for v in snap["model"].values() if v.is_floating_point())
    assert snap["bf16_autocast"] is False  # what the run's steps ran, kept for load_trained_network
    fresh = tmp_path / "fresh"
    snapshot_tool.restore(tmp_path / "snap.pt", fresh)
    with pytest.raises(FileExistsError):
        snapshot_tool.restore(tmp_path / "snap.pt", fresh)
    train(_config(image_dir, 3), fresh, progress=False)
    state = torch.load(fresh / "checkpoint.pt", weights_only=False)
    assert state["step"] == 3 and [r["step"] for r in state["history"]] == [2, 3]


def test_campaign_progress_collects_validation_per_step(image_dir, tmp_path):
    progress = load_tool("tools/campaign_progress.py")

    cfg = _config(image_dir, 4)
    cfg.val_steps = [0.5, 2.0]
    train(cfg, tmp_path / "run", progress=False)
    rows = progress.collect([tmp_path / "run"])
    assert [(r["step"], r["quant_step"]) for r in rows] == [(2, 0.5), (2, 2.0), (4, 0.5), (4, 2.0)]
    assert all(r["bpp"] > 0 and 0 < r["ssim"] <= 1 and r["hours"] >= 0 for r in rows)
    coarse = [r for r in rows if r["quant_step"] == 2.0]
    fine = [r for r in rows if r["quant_step"] == 0.5]
    assert all(c["bpp"] < f["bpp"] for c, f in zip(coarse, fine))  # a coarser step spends fewer bits
    progress.plot(rows, tmp_path / "p.png", "tiny")
    assert (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"


def test_campaign_progress_keeps_the_committed_rows_after_a_restore(image_dir, tmp_path, capsys):
    """A run rebuilt from a snapshot starts a fresh log.jsonl; the committed log must not shrink."""
    import json

    progress = load_tool("tools/campaign_progress.py")

    cfg = _config(image_dir, 4)
    cfg.val_steps = [1.0]
    train(cfg, tmp_path / "run", progress=False)
    out = tmp_path / "progress.json"
    kodak = tmp_path / "kodak.json"
    kodak.write_text(json.dumps({"step": 2, "bd_rate": {"jpeg": -40.0}}))
    assert progress.main([str(tmp_path / "run"), "--name", "t", "--out", str(out), "--kodak", str(kodak)]) == 0
    first = json.loads(out.read_text())
    assert [r["step"] for r in first["validation"]] == [2, 4]
    assert first["kodak"] == [{"source": str(kodak), "step": 2, "bd_rate": {"jpeg": -40.0}}]

    # the machine is lost: a new run directory whose log holds only the steps after the snapshot
    restored = tmp_path / "restored"
    restored.mkdir()
    (restored / "log.jsonl").write_text(
        json.dumps({"kind": "train", "step": 6, "train_seconds": 10.0})
        + "\n"
        + json.dumps({"kind": "val", "step": 6, "quant_step": 1.0, "bpp": 1.0, "ssim": 0.5, "psnr": 20.0})
        + "\n"
    )
    cid22 = tmp_path / "cid22.json"
    cid22.write_text(json.dumps({"step": 6, "bd_rate": {"webp": -5.0}}))
    assert progress.main([str(restored), "--name", "t", "--out", str(out), "--cid22", str(cid22)]) == 0
    second = json.loads(out.read_text())
    assert [r["step"] for r in second["validation"]] == [2, 4, 6]
    assert second["validation"][-1]["ssim"] == 0.5
    assert second["kodak"] == first["kodak"]
    assert second["cid22"] == [{"source": str(cid22), "step": 6, "bd_rate": {"webp": -5.0}}]
    assert second["runs"] == [str(tmp_path / "run"), str(restored)]

    # a check measured again replaces the earlier one; a checkpoint_rd report keeps only its summary
    kodak.write_text(
        json.dumps(
            {
                "schema": "rdcodec.rd-curve/1",
                "images": [{"name": "a"}],
                "curves": [],
                "bd_rate": [],
                "step": 2,
                "checkpoint": "c.pt",
                "summary": {"jpeg": {"ssim-db": -41.0}},
            }
        )
    )
    assert progress.main([str(restored), "--name", "t", "--out", str(out), "--kodak", str(kodak)]) == 0
    third = json.loads(out.read_text())
    assert third["kodak"] == [
        {"source": str(kodak), "images": 1, "step": 2, "checkpoint": "c.pt", "summary": {"jpeg": {"ssim-db": -41.0}}}
    ]
    assert progress.main([str(restored), "--name", "t", "--out", str(out), "--kodak", str(kodak)]) == 0
    assert json.loads(out.read_text())["kodak"] == third["kodak"]
    # a format version 2 check of the same step, in its own file, is kept beside it, with its version
    kodak_v2 = tmp_path / "kodak-v2.json"
    kodak_v2.write_text(json.dumps({**json.loads(kodak.read_text()), "format_version": 2}))
    png = tmp_path / "progress.png"
    argv = [str(restored), "--name", "t", "--out", str(out), "--kodak", str(kodak_v2), "--plot", str(png)]
    assert progress.main([*argv, "--quality", "psnr"]) == 0
    checks = json.loads(out.read_text())["kodak"]
    assert [c.get("format_version") for c in checks] == [None, 2] and png.read_bytes()[:4] == b"\x89PNG"
    assert_refused(capsys, progress.main, [*argv, "--quality", "ms-ssim"], "invalid choice: 'ms-ssim'")
    # the log of another network is not extended
    assert_refused(capsys, progress.main, [str(restored), "--name", "mse", "--out", str(out)], "network, not 'mse'")


def test_checkpoint_rd_sweeps_a_checkpoint_against_a_reference(image_dir, tmp_path, capsys):
    """tools/checkpoint_rd.py: real files at each Δ, one curve, BD-rates against the reference's curves."""
    from rdcodec.eval import rd_curve

    tool = load_tool("tools/checkpoint_rd.py")

    train(_config(image_dir, 2), tmp_path / "run", progress=False)
    images = {p.name: p.read_bytes() for p in sorted(image_dir.iterdir())}
    jpeg = rd_curve.Curve("jpeg", "baseline", [rd_curve.score_baseline("jpeg", q, images) for q in (10, 50, 90)])
    info = [{"name": n, "width": 48, "height": 40 + 8 * i} for i, n in enumerate(images)]
    reference = tmp_path / "baselines.json"
    reference.write_text(json.dumps(rd_curve.to_json([jpeg], [], info)))

    out = tmp_path / "report.json"
    argv = [str(tmp_path / "run" / "checkpoint.pt"), str(image_dir), "--steps", "0.5,2,8"]
    assert tool.main([*argv, "--reference", str(reference), "-o", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["step"] == 2 and report["quant_steps"] == [0.5, 2.0, 8.0]
    ours = next(c for c in report["curves"] if c["kind"] == "rdcodec")
    assert ours["name"] == "step-2" and len(ours["points"]) == 3
    rates = [p["bpp"] for p in ours["points"]]
    assert rates == sorted(rates) and rates[0] < rates[-1]  # a coarser Δ writes smaller files
    assert set(report["summary"]) == {"jpeg"} and set(report["summary"]["jpeg"]) >= {"ssim-db", "psnr"}
    # the report is itself an rd-curve reference, and an existing report is not replaced unasked
    assert [c.name for c in rd_curve.load_reference(out, list(images))] == ["jpeg"]
    assert_refused(capsys, tool.main, [*argv, "-o", str(out)], "exists (--force replaces it)")
    # an earlier report is an anchor for a later checkpoint; the jpeg curve both files hold counts once
    train(_config(image_dir, 4), tmp_path / "run", progress=False)
    later = tmp_path / "later.json"
    refs = ["--reference", str(reference), "--reference", str(out)]
    assert tool.main([*argv, *refs, "-o", str(later)]) == 0
    report = json.loads(later.read_text())
    assert [c["name"] for c in report["curves"]] == ["step-4", "jpeg", "step-2"]
    assert set(report["summary"]) == {"jpeg", "step-2"}
    assert report["summary"]["step-2"]["ssim-db"] is not None
    # a reference at the checkpoint's own step is refused, before anything is measured
    assert tool.main([*argv, "--reference", str(later), "-o", str(tmp_path / "again.json")]) == 2
    assert not (tmp_path / "again.json").exists()
    # --name: a phase that restarts the step count (the decoder phase) is compared under its own name
    named = tmp_path / "named.json"
    assert tool.main([*argv, "--name", "decoder-4", "--reference", str(later), "-o", str(named)]) == 0
    report = json.loads(named.read_text())
    assert [c["name"] for c in report["curves"]] == ["decoder-4", "step-4", "jpeg", "step-2"]
    assert set(report["summary"]) == {"step-4", "jpeg", "step-2"}


def test_checkpoint_rd_in_format_version_2(image_dir, tmp_path):
    """--format-version 2: the files `rdcodec encode --format-version 2` writes, at the grid step
    nearest each Δ; the version 1 report of the same checkpoint is a reference of its own."""
    from rdcodec import codec
    from rdcodec.codec_v2 import encode_image_v2
    from rdcodec.eval.step_sweep import exported_models
    from rdcodec.image_io import read_image
    from rdcodec.zoo.export import load_trained_network

    tool = load_tool("tools/checkpoint_rd.py")
    train(_config(image_dir, 2), tmp_path / "run", progress=False)
    checkpoint = tmp_path / "run" / "checkpoint.pt"
    v1, v2 = tmp_path / "v1.json", tmp_path / "v2.json"
    argv = [str(checkpoint), str(image_dir), "--steps", "0.5,1.3,4"]
    assert tool.main([*argv, "-o", str(v1)]) == 0
    assert tool.main([*argv, "--format-version", "2", "--reference", str(v1), "-o", str(v2)]) == 0
    report = json.loads(v2.read_text())
    assert report["format_version"] == 2 and report["quant_steps"] == [0.5, 1.3, 4.0]
    ours = next(c for c in report["curves"] if c["kind"] == "rdcodec")
    assert ours["name"] == "step-2-v2"
    assert [p["setting"] for p in ours["points"]] == ["Δ=4", "Δ=1.297", "Δ=0.5"]  # by rate; 1.3 → 2^(3/8)
    assert set(report["summary"]) == {"step-2"} and report["summary"]["step-2"]["ssim-db"] is not None
    # every point is the real version 2 file of that Δ
    network, state = load_trained_network(checkpoint)
    images = sorted(image_dir.iterdir())
    sizes = {(p["setting"], s["image"]): s["bytes"] for p in ours["points"] for s in p["per_image"]}
    for x in exported_models(network, state, [1.3], format_version=2):
        assert x.coded_step == pytest.approx(2 ** (3 / 8))
        for path in images:
            data = encode_image_v2(str(path), x.model, x.registry).data
            assert sizes["Δ=1.297", path.name] == len(data)
            assert codec.decode_stream(data, x.model, x.registry).pixels.shape == read_image(path).pixels.shape
    # a Δ the grid does not reach is refused before anything is measured
    assert (
        tool.main([str(checkpoint), str(image_dir), "--steps", "1,8", "--format-version", "2", "-o", str(tmp_path / "x.json")])
        == 2
    )
    assert not (tmp_path / "x.json").exists()


def test_step_sweep_rates_match_with_and_without_decoding(image_dir, tmp_path):
    """tools/step_sweep.py: the rate-only sweep and the full one measure the same files."""
    tool = load_tool("tools/step_sweep.py")

    train(_config(image_dir, 2), tmp_path / "run", progress=False)
    ckpt = str(tmp_path / "run" / "checkpoint.pt")
    assert tool.main([ckpt, str(image_dir), "--steps", "0.5,4", "-o", str(tmp_path / "rate.json")]) == 0
    assert tool.main([ckpt, str(image_dir), "--steps", "0.5,4", "--quality", "-o", str(tmp_path / "full.json")]) == 0
    rate = json.loads((tmp_path / "rate.json").read_text())["sweep"]
    full = json.loads((tmp_path / "full.json").read_text())["sweep"]
    assert [r["step"] for r in rate] == [r["step"] for r in full] == [0.5, 4.0]
    assert [r["bpp"] for r in rate] == pytest.approx([r["bpp"] for r in full])
    assert "ssim" not in rate[0] and 0 < full[0]["ssim"] <= 1 and full[1]["bpp"] < full[0]["bpp"]


def test_a_run_stopped_and_resumed_is_the_straight_run(image_dir, tmp_path):
    """Stopping at a step and resuming (the chunks of tools/experiments/objective_isometry.py)
    changes nothing at a constant rate: same batches, noise and Adam state, so the same weights."""
    import dataclasses

    import torch

    cfg = _config(image_dir, 5)
    train(cfg, tmp_path / "straight", progress=False)
    # stopped at step 3, off the validation and checkpoint grid of 2: the stop adds a validation
    # and a checkpoint at step 3 that the straight run does not make
    train(dataclasses.replace(cfg, steps=3), tmp_path / "chunked", progress=False)
    train(cfg, tmp_path / "chunked", progress=False)
    straight = torch.load(tmp_path / "straight" / "checkpoint.pt", weights_only=False)["model"]
    chunked = torch.load(tmp_path / "chunked" / "checkpoint.pt", weights_only=False)["model"]
    assert straight.keys() == chunked.keys()
    assert all(torch.equal(straight[k], chunked[k]) for k in straight)


def test_training_speed_bench_interleaves_the_chosen_variants(tmp_path, capsys):
    """tools/bench_training_speed.py: only the variants asked for, each with its timed steps, the
    speed-up against the first; an unknown variant is refused."""
    import torch

    d = synthetic_folder(tmp_path / "imgs", [(144, 160)] * 2)
    bench = load_tool("tools/bench_training_speed.py")
    out = tmp_path / "speed.json"
    chosen = "fp32 128x16,bf16 channels_last 128x16,fp32 channels_last 128x16,face fp32"
    args = [str(d), "-o", str(out), "--N", "8", "--M", "8", "--face-hidden", "32", "--threads", "1"]
    args += ["--steps", "2", "--warmup", "1"]
    assert bench.main([*args, "--interleave", "--variants", chosen]) == 0
    report = json.loads(out.read_text())
    assert report["schema"] == "rdcodec.training-speed/3" and report["interleaved"] is True
    assert report["heap"] == "default" and report["heap_retained"] is False
    assert report["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert [r["variant"] for r in report["variants"]] == chosen.split(",")
    assert report["speedup_against"] == "fp32 128x16" and report["variants"][0]["speedup"] == 1.0
    for row in report["variants"]:
        assert len(row["step_seconds"]) == 2 and row["sec_per_step"] > 0 and row["compile"] is False
        assert row["minor_faults_per_step"] >= 0 and row["system_seconds_per_step"] >= 0
    assert_refused(capsys, bench.main, [*args, "--variants", "fp32 128x16,warp drive"], "unknown variant(s): warp drive")


def test_ship_model_exports_a_ladder_with_its_training_history(image_dir, tmp_path):
    """tools/ship_model.py: one network as a Δ ladder (shared weights, one default, qualities),
    the grid entry of format version 2, and the run's launches as phases in the manifest."""
    from rdcodec import codec
    from rdcodec.zoo.registry import Registry

    run = tmp_path / "run"
    train(_config(image_dir, 2), run, progress=False)
    train(_config(image_dir, 4), run, progress=False)  # a second launch: a second phase
    ship = load_tool("tools/ship_model.py")
    models = tmp_path / "models"
    args = [str(run), "--id", "tiny", "--name", "ssim", "--models-dir", str(models), "--ladder", "1:2.0,2:1.0"]
    assert ship.main([*args, "--default-quality", "2", "--commands", "rdcodec train ..."]) == 0
    registry = Registry(models)
    entries = {e.id: e for e in registry.entries()}
    assert set(entries) == {"tiny-q1", "tiny-q2", "tiny-grid"}
    q1, q2 = entries["tiny-q1"], entries["tiny-q2"]
    assert (q1.quality, q2.quality) == (1, 2) and q2.default and not q1.default
    assert q1.weights == q2.weights == entries["tiny-grid"].weights and q1.tables != q2.tables
    assert entries["tiny-grid"].kind == "grid" and q1.metric == "ssim"
    history = q1.training
    assert history["steps"] == 4 and history["quantization_step"] == 2.0 and history["commands"] == ["rdcodec train ..."]
    assert [(p["from_step"], p["to_step"]) for p in history["phases"]] == [(0, 2), (2, 4)]
    px = synthetic_image(24, 32)
    for entry in (q1, q2):
        model = codec.load_model(entry.id, registry)
        assert codec.decode(codec.encode(px, model), model).shape == px.shape
    # the coarser step makes the smaller file
    sizes = [len(codec.encode(px, codec.load_model(e.id, registry))) for e in (q1, q2)]
    assert sizes[0] <= sizes[1]
    old_stream = codec.encode(px, codec.load_model("tiny-q2", registry))
    # a second network replaces the ladder: the old points leave it and still decode
    run2 = tmp_path / "run2"
    train(_config(image_dir, 2), run2, progress=False)
    args2 = [str(run2), "--id", "new", "--name", "ssim2", "--models-dir", str(models), "--ladder", "1:2.0,2:1.0"]
    assert ship.main([*args2, "--default-quality", "1", "--supersede", "tiny-q1,tiny-q2", "--history-from", str(run)]) == 0
    entries = {e.id: e for e in Registry(models).entries()}
    assert entries["new-q1"].default and entries["new-q1"].quality == 1 and entries["new-grid"].kind == "grid"
    for old in ("tiny-q1", "tiny-q2"):
        assert (entries[old].quality, entries[old].default, entries[old].superseded_by) == (None, False, "new")
    history = entries["new-q2"].training
    assert [(p["from_step"], p["to_step"]) for p in history["phases"]] == [(0, 2), (2, 4), (0, 2)] and history["steps"] == 6
    assert codec.decode(old_stream, codec.load_model("tiny-q2", Registry(models))).shape == px.shape


def test_compare_sweeps_bd_rate_between_two_step_sweeps(tmp_path, capsys):
    """tools/compare_sweeps.py: a sweep with 10 % fewer bits at every quality is −10 % on both
    axes; a sweep without quality figures is refused with one error line and exit 2."""
    compare = load_tool("tools/compare_sweeps.py")

    def sweep(name, scale):
        rows = [{"step": d, "bpp": scale * 0.8 / d, "ssim": 1 - 0.05 * d, "psnr": 30 - 2 * d} for d in (0.5, 1, 2, 4)]
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps({"checkpoint": name, "sweep": rows}))
        return str(path)

    out = tmp_path / "comparison.json"
    assert compare.main([sweep("anchor", 1.0), sweep("test", 0.9), "-o", str(out)]) == 0
    (result,) = json.loads(out.read_text())["comparisons"]
    assert result["anchor"] == "anchor" and result["test"] == "test"
    assert abs(result["bd_rate_ssim_db_percent"] + 10) < 1e-6 and abs(result["bd_rate_psnr_percent"] + 10) < 1e-6
    assert result["bpp_range"]["test"] == pytest.approx([0.9 * 0.2, 0.9 * 1.6])
    assert [p["rate_ratio_psnr"] for p in result["points"]] == pytest.approx([0.9] * 4)
    assert [p["rate_ratio_ssim_db"] for p in result["points"]] == pytest.approx([0.9] * 4)
    bare = tmp_path / "bare.json"
    bare.write_text(json.dumps({"checkpoint": "x", "sweep": [{"step": 1, "bpp": 0.5}]}))
    capsys.readouterr()
    assert compare.main([sweep("anchor", 1.0), str(bare)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("compare_sweeps: error:") and "--quality" in err[0]


def test_compare_sweeps_reads_a_checkpoint_rd_report_by_its_own_curve(tmp_path):
    """A tools/checkpoint_rd.py report is compared by its checkpoint's curve (step-STEP), not by
    the reference curves it also holds; one without its own curve is refused."""
    compare = load_tool("tools/compare_sweeps.py")

    def points(scale):
        return [{"setting": f"Δ={d}", "bpp": scale * 0.8 / d, "ssim": 1 - 0.05 * d, "psnr": 30 - 2 * d} for d in (0.5, 1, 2, 4)]

    def report(name, step, scale):
        body = {
            "checkpoint": name,
            "step": step,
            # a reference curve listed first, far better than the checkpoint: it must not be read
            "curves": [
                {"name": "webp", "kind": "baseline", "points": points(0.1)},
                {"name": f"step-{step}", "kind": "rdcodec", "points": points(scale)},
            ],
        }
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(body))
        return str(path)

    sweep = tmp_path / "sweep.json"
    sweep.write_text(json.dumps({"checkpoint": "sweep", "sweep": [{"step": 0.5, **p} for p in points(1.0)]}))
    out = tmp_path / "comparison.json"
    assert compare.main([str(sweep), report("constant", 53000, 0.8), report("cosine", 53000, 1.25), "-o", str(out)]) == 0
    first, second = json.loads(out.read_text())["comparisons"]
    assert first["test"] == "constant" and abs(first["bd_rate_ssim_db_percent"] + 20) < 1e-6
    assert abs(second["bd_rate_psnr_percent"] - 25) < 1e-6
    orphan_path = tmp_path / "orphan.json"
    report("orphan", 7, 1.0)
    orphan = json.loads(orphan_path.read_text())
    orphan["step"] = 8
    orphan_path.write_text(json.dumps(orphan))
    assert compare.main([str(sweep), str(orphan_path)]) == 2


def test_compare_sweeps_reads_a_named_curve_of_an_rd_curve_report(tmp_path, capsys):
    """REPORT.json:NAME picks one curve of an rdcodec rd-curve report (a ladder against a baseline
    measured in another run); an unknown name is one error line naming the curves there."""
    compare = load_tool("tools/compare_sweeps.py")

    def points(scale):
        return [{"setting": f"q{q}", "bpp": scale * 0.2 * q, "ssim": 1 - 0.2 / q, "psnr": 20 + 3 * q} for q in (1, 2, 3, 4)]

    curve = tmp_path / "curve.json"
    curve.write_text(
        json.dumps(
            {
                "schema": "rdcodec.rd-curve/1",
                "curves": [
                    {"name": "rdcodec-ssim", "kind": "rdcodec", "points": points(0.5)},
                    {"name": "avif", "kind": "baseline", "points": points(1.0)},
                    {"name": "ref:published", "kind": "reference", "points": [p | {"ssim": None} for p in points(2.0)]},
                ],
            }
        )
    )
    out = tmp_path / "comparison.json"
    assert compare.main([f"{curve}:avif", f"{curve}:rdcodec-ssim", "-o", str(out)]) == 0
    (result,) = json.loads(out.read_text())["comparisons"]
    assert result["anchor"] == f"{curve}:avif" and result["test"] == f"{curve}:rdcodec-ssim"
    assert abs(result["bd_rate_ssim_db_percent"] + 50) < 1e-6 and abs(result["bd_rate_psnr_percent"] + 50) < 1e-6
    assert compare.main([f"{curve}:avif", f"{curve}:ref:published", "-o", str(out)]) == 0  # a name holding ":"
    (result,) = json.loads(out.read_text())["comparisons"]
    assert result["test"] == f"{curve}:ref:published" and abs(result["bd_rate_psnr_percent"] - 100) < 1e-6
    assert result["bd_rate_ssim_db_percent"] is None  # a published curve without SSIM: PSNR only
    assert [p["rate_ratio_psnr"] for p in result["points"]] == pytest.approx([2.0] * 4)
    assert all(p["rate_ratio_ssim_db"] is None for p in result["points"])
    capsys.readouterr()
    assert compare.main([f"{curve}:avif", f"{curve}:webp"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no curve 'webp'" in err[0] and "'rdcodec-ssim'" in err[0]
    assert compare.main([f"{curve}:avif", str(curve)]) == 2  # a bare rd-curve report names no curve


def test_compare_sweeps_reads_a_training_log_at_a_step(tmp_path, capsys):
    """LOG.jsonl:STEP compares the validation points two runs logged at a step (the last record
    of a Δ wins, as after a resume); a step with no validation is one error line."""
    compare = load_tool("tools/compare_sweeps.py")

    def log(name, scale, stale=False):
        records = [{"step": 100, "kind": "train", "bpp": 9.0, "loss": 1.0}]
        for d in (0.5, 1.0, 2.0, 4.0):
            point = {"step": 200, "kind": "val", "quant_step": d, "ssim": 1 - 0.05 * d, "psnr": 30 - 2 * d}
            if stale:  # validated once before a resume, with other figures
                records.append(dict(point, bpp=5 * scale))
            records.append(dict(point, bpp=scale * 0.8 / d))
        path = tmp_path / f"{name}.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in records))
        return str(path)

    out = tmp_path / "comparison.json"
    anchor, test = log("anchor", 1.0), log("test", 0.8, stale=True)
    assert compare.main([f"{anchor}:200", f"{test}:200", "-o", str(out)]) == 0
    (result,) = json.loads(out.read_text())["comparisons"]
    assert result["anchor"] == f"{anchor}:200" and result["test"] == f"{test}:200"
    assert abs(result["bd_rate_psnr_percent"] + 20) < 1e-6 and abs(result["bd_rate_ssim_db_percent"] + 20) < 1e-6
    for wrong in (f"{test}:300", f"{test}:last", test):
        capsys.readouterr()
        assert compare.main([f"{anchor}:200", wrong]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("compare_sweeps: error:") and "step" in err[0]


def test_decoder_phase_draws_delta_from_step_range(image_dir):
    """A decoder shared by a ladder of Δ trains on the whole range; a fixed-Δ model on its one Δ."""
    import numpy as np

    from rdcodec.train.codec_task import decoder_step_size

    cfg = _config(image_dir, 1)
    cfg.phase = "decoder"
    rng = np.random.default_rng(0)
    assert decoder_step_size(rng, cfg) == 1.0
    cfg.val_steps = [0.7, 2.0]
    assert decoder_step_size(rng, cfg) == 0.7
    cfg.step_range = [0.5, 4.0]
    draws = np.array([decoder_step_size(rng, cfg) for _ in range(2000)])
    assert draws.min() >= 0.5 and draws.max() <= 4.0
    # log-uniform: the geometric middle of the range splits the draws in half
    assert 0.45 < np.mean(draws < np.sqrt(2.0)) < 0.55


def test_a_bf16_run_is_validated_and_exported_with_the_weights_it_trained(image_dir, tmp_path, cpu_flags):
    """Under bf16 autocast the loss saw the transforms' weights rounded to bfloat16: validation
    measures those, and load_trained_network (every export and real-file check) loads them. A
    CPU without bfloat16 instructions runs the same config in float32, and then the float32
    weights are the ones it trained, validated and loaded."""
    import dataclasses

    import torch

    from rdcodec.zoo.export import export_trained, load_trained_network
    from rdcodec.zoo.registry import Registry

    cpu_flags({"avx2", "avx512f", "avx512_bf16"})  # bf16 autocast runs (emulated, if this CPU lacks it)
    run = tmp_path / "run"
    train(dataclasses.replace(_config(image_dir, 2), bf16=True), run, progress=False)
    assert {r["weights"] for r in _records(run, "val")} == {"bfloat16"}
    assert torch.load(run / "checkpoint.pt", weights_only=False)["bf16_autocast"] is True

    network, state = load_trained_network(run / "checkpoint.pt")
    master, _ = load_trained_network(run / "checkpoint.pt", as_trained=False)
    assert state["transform_weights"] == "bfloat16"
    w, m = network.g_a[0].weight, master.g_a[0].weight
    assert torch.equal(w, w.to(torch.bfloat16).float()) and torch.equal(w, m.to(torch.bfloat16).float())
    assert torch.equal(network.entropy_bottleneck.quantiles, master.entropy_bottleneck.quantiles)
    entry = export_trained(network, state, Registry(tmp_path / "models"), "as-trained", step=1.0)
    assert entry.training["transform_weights"] == "bfloat16"  # the manifest says which weights it holds

    fp32_run = tmp_path / "fp32"
    train(_config(image_dir, 2), fp32_run, progress=False)
    assert {r["weights"] for r in _records(fp32_run, "val")} == {"float32"}
    _, fp32_state = load_trained_network(fp32_run / "checkpoint.pt")
    assert "transform_weights" not in fp32_state

    # the same bf16 config on a CPU without bfloat16 instructions: float32 throughout
    cpu_flags({"avx2"})
    fallback = tmp_path / "fallback"
    with pytest.warns(RuntimeWarning, match="no bfloat16 instructions"):
        train(dataclasses.replace(_config(image_dir, 2), bf16=True), fallback, progress=False)
    assert {r["weights"] for r in _records(fallback, "val")} == {"float32"}
    saved = torch.load(fallback / "checkpoint.pt", weights_only=False)
    assert saved["config"]["bf16"] is True and saved["bf16_autocast"] is False
    loaded, fallback_state = load_trained_network(fallback / "checkpoint.pt")
    assert "transform_weights" not in fallback_state
    assert torch.equal(loaded.g_a[0].weight, saved["model"]["g_a.0.weight"])  # not rounded
    # a checkpoint from before the record: the config's request decides, as it did
    legacy = {k: v for k, v in saved.items() if k != "bf16_autocast"}
    torch.save(legacy, tmp_path / "legacy.pt")
    assert load_trained_network(tmp_path / "legacy.pt")[1]["transform_weights"] == "bfloat16"


def test_as_trained_weights_tool_measures_master_and_rounded_weights(image_dir, tmp_path, cpu_flags):
    import dataclasses

    import torch

    from rdcodec.image_tensor import to_tensor
    from rdcodec.train.codec_task import validate
    from rdcodec.train.data import center_crop, load_images
    from rdcodec.zoo.export import load_trained_network

    tool = load_tool("tools/as_trained_weights.py")
    run = tmp_path / "run"
    cpu_flags({"avx2", "avx512f", "avx512_bf16"})  # bf16 autocast runs (emulated, if this CPU lacks it)
    train(dataclasses.replace(_config(image_dir, 2), bf16=True), run, progress=False)
    out = tmp_path / "w.json"
    argv = [str(run / "checkpoint.pt"), str(image_dir), "--steps", "1,2", "--images", "2", "--crop", "32", "-o", str(out)]
    assert tool.main(argv) == 0
    report = json.loads(out.read_text())
    assert report["trained_bf16"] and report["step"] == 2 and len(report["rows"]) == 6 * 2
    # its "as trained" row is the network every export loads
    network, _ = load_trained_network(run / "checkpoint.pt")
    (as_trained,) = [r for r in report["rows"] if r["weights"] == "bfloat16 (as trained)" and r["quant_step"] == 2.0]
    crops = [to_tensor(center_crop(im, 32)) for im in load_images([str(image_dir)])[:2]]
    with torch.no_grad():
        assert validate(network, crops, "ssim", 2.0)["psnr"] == pytest.approx(as_trained["psnr"], abs=1e-9)
    assert tool.main(argv) == 2 and json.loads(out.read_text()) == report  # never overwritten unasked


def test_validation_psnr_is_the_psnr_of_the_decoded_eight_bit_file():
    """validate's PSNR (and the ceiling tool's) is what rdcodec.eval.quality measures on uint8 pixels."""
    import torch

    from rdcodec.eval.quality import psnr
    from rdcodec.train.codec_task import to_eight_bits, unit_range_psnr

    rng = np.random.default_rng(3)
    pixels = rng.integers(0, 256, size=(16, 24, 3), dtype=np.uint8)
    x = torch.from_numpy(pixels).permute(2, 0, 1)[None].double() / 255
    x_hat = to_eight_bits(x + torch.from_numpy(rng.normal(0, 0.03, size=x.shape)))
    levels = x_hat * 255
    assert torch.allclose(levels, levels.round(), atol=1e-9) and 0 <= x_hat.min() and x_hat.max() <= 1
    assert torch.count_nonzero(x_hat == 0) > 0 and torch.count_nonzero(x_hat == 1) > 0  # clamped, not wrapped
    decoded = (x_hat[0].permute(1, 2, 0) * 255).round().to(torch.uint8).numpy()
    assert unit_range_psnr(x, x_hat) == pytest.approx(psnr(pixels, decoded), abs=1e-9)
    assert unit_range_psnr(x, x) == pytest.approx(120.0)
