"""tools/experiments/objective_isometry.py (issue 19 §1) on tiny seeded networks and synthetic images."""

from __future__ import annotations

import json
import shutil

import pytest
from conftest import load_tool, synthetic_folder


def _arm_configs(tmp_path, image_dir, **extra):
    configs = tmp_path / "configs"
    configs.mkdir()
    for kind in ("radogaga", "balle"):
        cfg = {
            "train_dirs": [str(image_dir)],
            "val_dir": str(image_dir),
            "network": {"N": 8, "M": 8},
            "objective": {"kind": kind, "metric": "ssim", "h": "identity", "lambda1": 5.0, "lambda2": 5.0},
            "steps": 4,
            "batch_size": 2,
            "crop": 32,
            "val_every": 2,
            "val_images": 2,
            "val_crop": 32,
            "checkpoint_every": 2,
            "log_every": 1,
            "val_steps": [1.0],
            **(extra if kind == "balle" else {}),
        }
        (configs / f"{kind}-ssim.json").write_text(json.dumps(cfg))
    return configs


@pytest.fixture
def image_dir(tmp_path):
    return synthetic_folder(tmp_path / "imgs", [(64, 64)] * 3)


def test_both_arms_train_in_turns_then_fine_tune_and_evaluate(tmp_path, image_dir):
    import torch

    driver = load_tool("tools/experiments/objective_isometry.py")
    configs = _arm_configs(tmp_path, image_dir)
    work, out = tmp_path / "work", tmp_path / "out"
    common = ["--work", str(work), "--configs", str(configs), "--lambda-factors", "0.5,2"]
    # a first session stops after one chunk of 2 steps ...
    assert driver.main(["train", *common, "--until", "2", "--chunk", "2", "--finetune-steps", "2", "--no-progress"]) == 0
    assert driver.trained_step(work / "radogaga") == driver.trained_step(work / "balle") == 2
    assert not (work / "radogaga" / "final-4.pt").exists() and not (work / "radogaga-lam2").exists()
    # ... the next goes on to 4, then fine-tunes each arm's final weights
    assert driver.main(["train", *common, "--chunk", "2", "--finetune-steps", "2", "--no-progress"]) == 0
    for arm in ("radogaga", "balle"):
        assert driver.trained_step(work / arm) == 4
        assert (work / arm / "final-4.pt").exists()
        for factor in ("0.5", "2"):
            state = torch.load(work / f"{arm}-lam{factor}" / "checkpoint.pt", weights_only=False)
            assert state["step"] == 2 and state["objective"]["lambda1"] == pytest.approx(5.0 * float(factor))
    starts = [json.loads(line) for line in (work / "balle" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in starts if r["kind"] == "start"] == [0, 2]

    args = ["evaluate", *common, "--images", str(image_dir), "--out", str(out), "--crop", "32", "--analysis-images", "2"]
    args += ["--quant-steps", "0.5,1,4", "--limit", "2", "--pairs", "4", "--finetune-steps", "2"]
    assert driver.main(args) == 0
    results = json.loads((out / "results.json").read_text())
    for arm in ("radogaga", "balle"):
        r = results["arms"][arm]
        assert sorted(pt["setting"] for pt in r["sweep"]) == ["Δ=0.5", "Δ=1", "Δ=4"]
        assert [pt["bpp"] for pt in r["sweep"]] == sorted(pt["bpp"] for pt in r["sweep"])
        assert {pt["setting"] for pt in r["lambda_curve"]} == {"Δ=1", "λ×0.5", "λ×2"}
        assert 0 < r["geometry"]["top10_energy_share"] <= 1 + 1e-9
        assert r["trained_steps"] == 4
    # eq. 10's prediction belongs to eq. 5 only
    assert results["arms"]["radogaga"]["geometry"]["isometry"]["predicted"] is not None
    assert results["arms"]["balle"]["geometry"]["isometry"]["predicted"] is None
    assert set(results["radogaga_against_balle"]) == {"sweep", "lambda_curve"} and len(results["images"]) == 2
    for name in ("geometry.png", "rd.png"):
        assert (out / name).read_bytes()[:4] == b"\x89PNG"


def test_arms_that_differ_beyond_the_objective_are_refused(tmp_path, image_dir, capsys):
    driver = load_tool("tools/experiments/objective_isometry.py")
    configs = _arm_configs(tmp_path, image_dir, seed=1)
    assert driver.main(["train", "--work", str(tmp_path / "w"), "--configs", str(configs)]) == 2
    assert "differ in more than objective.kind: seed" in capsys.readouterr().err
    assert not (tmp_path / "w").exists()


def test_both_arms_start_from_the_same_weights(tmp_path, image_dir):
    import dataclasses

    from rdcodec.train.codec_task import CodecTask

    driver = load_tool("tools/experiments/objective_isometry.py")
    arms = driver.load_arms(_arm_configs(tmp_path, image_dir), [])
    first = [CodecTask(dataclasses.replace(cfg)).model.state_dict() for cfg in arms.values()]
    assert all(v.equal(first[1][k]) for k, v in first[0].items())


def test_unfinished_or_foreign_fine_tunes_are_never_evaluated(tmp_path, image_dir, capsys):
    driver = load_tool("tools/experiments/objective_isometry.py")
    configs = _arm_configs(tmp_path, image_dir)
    work = tmp_path / "work"
    base = ["--work", str(work), "--configs", str(configs), "--lambda-factors", "2"]
    assert driver.main(["train", *base, "--finetune-steps", "2", "--chunk", "4", "--no-progress"]) == 0
    evaluate = ["evaluate", *base, "--images", str(image_dir), "--out", str(tmp_path / "out"), "--crop", "32"]
    # the fine-tunes were 2 steps; an evaluation that expects 4 finds them unfinished
    assert driver.main([*evaluate, "--finetune-steps", "4"]) == 2
    assert "fine-tune of 2 steps, not 4" in capsys.readouterr().err
    # the same weights under another spelling of the work folder are the same fine-tune
    record = work / "balle-lam2" / "init.json"
    assert driver.check_finetune(work / "balle-lam2", work / ".." / "work" / "balle" / "final-4.pt", 2)
    # other final weights: refused
    shutil.copyfile(work / "radogaga" / "final-4.pt", work / "balle" / "final-4.pt")
    assert driver.main([*evaluate, "--finetune-steps", "2"]) == 2
    assert "fine-tuned from other weights" in capsys.readouterr().err
    assert record.exists() and not (tmp_path / "out").exists()


def test_a_fine_tune_from_other_weights_is_refused(tmp_path, image_dir, capsys):
    driver = load_tool("tools/experiments/objective_isometry.py")
    configs = _arm_configs(tmp_path, image_dir)
    work = tmp_path / "work"
    base = ["train", "--work", str(work), "--configs", str(configs), "--lambda-factors", "2", "--no-progress"]
    assert driver.main([*base, "--set", "steps=2", "--chunk", "2", "--finetune-steps", "2"]) == 0
    # the arms are trained further: the fine-tune made from the step-2 weights no longer belongs to them
    assert driver.main([*base, "--chunk", "2", "--finetune-steps", "2"]) == 2
    assert "fine-tuned from other weights" in capsys.readouterr().err


def _warmup_config(configs, image_dir, **extra):
    cfg = json.loads((configs / "balle-ssim.json").read_text())
    cfg.update(objective={"kind": "balle", "metric": "mse", "lambda1": 100.0}, lr=3e-4, steps=2, **extra)
    (configs / "warmup.json").write_text(json.dumps(cfg))


def test_both_arms_start_from_the_shared_warmup(tmp_path, image_dir, capsys):
    import hashlib

    import torch

    driver = load_tool("tools/experiments/objective_isometry.py")
    configs = _arm_configs(tmp_path, image_dir)
    _warmup_config(configs, image_dir)
    work = tmp_path / "work"
    train = ["train", "--work", str(work), "--configs", str(configs), "--chunk", "2", "--no-progress"]
    assert driver.main([*train, "--until", "2"]) == 0
    final = work / "warmup" / "final-2.pt"
    digest = hashlib.sha256(final.read_bytes()).hexdigest()
    # the start is a weights-only snapshot: the very file can be committed and copied back
    snapshot = torch.load(final, weights_only=False)
    assert snapshot["snapshot_schema"] == "rdcodec.weights-snapshot/1" and snapshot["step"] == 2
    assert "optimizer" not in snapshot and all(
        v.dtype == torch.bfloat16 for v in snapshot["model"].values() if v.is_floating_point()
    )
    for arm in ("radogaga", "balle"):
        assert json.loads((work / arm / "init.json").read_text())["sha256"] == digest
        starts = [json.loads(line) for line in (work / arm / "log.jsonl").read_text().splitlines()]
        assert starts[0]["kind"] == "start" and starts[0]["config"]["init_from"] == str(final)
        assert starts[0]["config"]["lr"] == pytest.approx(1e-4)  # the arm's rate, not the warm-up's
    warm = json.loads((work / "warmup" / "log.jsonl").read_text().splitlines()[0])["config"]
    assert warm["objective"]["metric"] == "mse" and warm["lr"] == pytest.approx(3e-4) and warm["init_from"] is None

    # an arm that started from other weights is refused, not mixed
    (work / "balle" / "init.json").write_text(json.dumps({"sha256": "0" * 64}))
    assert driver.main(train) == 2
    assert "started from other weights" in capsys.readouterr().err
    assert driver.trained_step(work / "radogaga") == 2
    # ... and so is one trained before it had a record
    (work / "balle" / "init.json").unlink()
    assert driver.main(train) == 2
    assert "trained without the warm-up" in capsys.readouterr().err


def test_one_process_per_arm_trains_what_the_turns_train(tmp_path, image_dir, capsys):
    """``--arm``: two processes, one per arm (one core each), give each arm and its fine-tunes the
    very weights the alternating run gives; before the shared warm-up exists it is refused."""
    import torch

    from rdcodec.train.run_lock import holding

    driver = load_tool("tools/experiments/objective_isometry.py")
    configs = _arm_configs(tmp_path, image_dir)
    _warmup_config(configs, image_dir)
    turns, apart = tmp_path / "turns", tmp_path / "apart"
    opts = ["--configs", str(configs), "--chunk", "2", "--lambda-factors", "2", "--finetune-steps", "2", "--no-progress"]
    assert driver.main(["train", "--work", str(apart), *opts, "--arm", "balle"]) == 2
    assert "warm-up is not trained yet" in capsys.readouterr().err
    assert not (apart / "balle").exists()

    assert driver.main(["train", "--work", str(turns), *opts]) == 0
    (apart / "warmup").mkdir(parents=True)
    shutil.copyfile(turns / "warmup" / "final-2.pt", apart / "warmup" / "final-2.pt")
    assert driver.main(["train", "--work", str(apart), *opts, "--arm", "balle", "--until", "2"]) == 0
    assert driver.trained_step(apart / "balle") == 2 and not (apart / "radogaga").exists()
    # an arm another process trains (or holds paused) is refused, one line, nothing trained
    with holding(apart / "balle"):
        assert driver.main(["train", "--work", str(apart), *opts, "--arm", "balle"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("objective_isometry: error:") and "another process" in err[-1]
    assert driver.trained_step(apart / "balle") == 2
    for arm in ("balle", "radogaga"):
        assert driver.main(["train", "--work", str(apart), *opts, "--arm", arm]) == 0
    for run in ("radogaga", "balle", "radogaga-lam2", "balle-lam2"):
        a, b = (torch.load(w / run / "checkpoint.pt", weights_only=False)["model"] for w in (turns, apart))
        assert a.keys() == b.keys() and all(a[k].equal(b[k]) for k in a), run


def test_a_warmup_that_differs_beyond_its_objective_is_refused(tmp_path, image_dir, capsys):
    driver = load_tool("tools/experiments/objective_isometry.py")
    configs = _arm_configs(tmp_path, image_dir)
    _warmup_config(configs, image_dir, crop=48)
    assert driver.main(["train", "--work", str(tmp_path / "w"), "--configs", str(configs)]) == 2
    assert "warm-up differs from the arms in more than objective, lr, steps and val_every: crop" in capsys.readouterr().err
    assert not (tmp_path / "w").exists()


def test_the_evaluation_reports_the_common_start(tmp_path, image_dir):
    driver = load_tool("tools/experiments/objective_isometry.py")
    configs = _arm_configs(tmp_path, image_dir)
    _warmup_config(configs, image_dir)
    work, out = tmp_path / "work", tmp_path / "out"
    common = ["--work", str(work), "--configs", str(configs), "--lambda-factors", "2", "--finetune-steps", "2"]
    assert driver.main(["train", *common, "--chunk", "4", "--no-progress"]) == 0
    args = ["evaluate", *common, "--images", str(image_dir), "--out", str(out), "--crop", "32", "--analysis-images", "2"]
    assert driver.main([*args, "--quant-steps", "1,2", "--limit", "2", "--pairs", "4"]) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["start"]["trained_steps"] == 2 and results["start"]["objective"]["kind"] == "balle"
    assert results["start"]["geometry"]["isometry"]["predicted"] is None
    assert {arm: r["trained_steps"] for arm, r in results["arms"].items()} == {"radogaga": 4, "balle": 4}
