"""Capacity of a trained codec network: its ceiling (tools/reconstruction_ceiling.py), idle-channel
revival (rdcodec.train.revival, tools/revive_channels.py: only the idle channels change, the
reconstruction ignores them until training uses them, the fitted prior prices them) and
function-preserving widening (RDAutoencoder.widened, tools/widen_network.py)."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest
import torch
from conftest import assert_refused, load_tool, synthetic_folder, tiny_train_config

from rdcodec.model.network import NetworkConfig, RDAutoencoder
from rdcodec.train.revival import fit_revived_prior, revive_channels


def _network(seed=0):
    """A tiny network whose parameters have moved away from their initial values, as training moves them."""
    torch.manual_seed(seed)
    net = RDAutoencoder(NetworkConfig(N=8, M=6))
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return net


def _copy(net):
    other = RDAutoencoder(net.config)
    other.load_state_dict(net.state_dict())
    return other


def test_revival_touches_only_the_idle_channels_and_the_decoder_ignores_them():
    net = _network()
    before = _copy(net)
    revival = revive_channels(net, [4, 1], seed=3)
    assert revival.channels == [1, 4] and revival.seed == 3
    live = [0, 2, 3, 5]
    norms = before.g_a[-1].weight.detach().flatten(1).norm(dim=1)
    assert revival.encoder_norm == pytest.approx(0.5 * float(torch.quantile(norms[live], 0.1)))
    after = net.state_dict()
    for name, value in before.state_dict().items():
        if name in ("g_a.6.weight", "g_a.6.bias", "g_s.0.weight") or (
            name.startswith("entropy_bottleneck.") and value.ndim and value.shape[0] == 6
        ):
            assert torch.equal(after[name][live], value[live]), name  # live channels untouched
            assert not torch.equal(after[name][[1, 4]], value[[1, 4]]), name  # idle ones renewed
        else:
            assert torch.equal(after[name], value), name
    revived_norms = net.g_a[-1].weight[[1, 4]].flatten(1).norm(dim=1)
    assert torch.allclose(revived_norms, torch.full((2,), revival.encoder_norm))
    assert torch.count_nonzero(net.g_s[0].weight[[1, 4]]) == 0
    # the reconstruction does not depend on a revived channel (yet)
    z = torch.randn(1, 6, 3, 4)
    moved = z.clone()
    moved[:, [1, 4]] += 5.0
    with torch.no_grad():
        assert torch.equal(net.decode_latent(z), net.decode_latent(moved))
    # the same seed gives the same revival
    again = _copy(before)
    revive_channels(again, [1, 4], seed=3)
    assert all(torch.equal(v, net.state_dict()[k]) for k, v in again.state_dict().items())
    with pytest.raises(ValueError):
        revive_channels(_network(), list(range(6)))  # no live filter to take a scale from
    with pytest.raises(ValueError):
        _network().reinitialise_channels([6], 1.0, 2.0, torch.Generator())


def test_fitted_prior_prices_the_revived_latents_and_keeps_the_others():
    net = _network()
    revive_channels(net, [2], seed=0)
    kept = {k: v.clone() for k, v in net.entropy_bottleneck.state_dict().items()}
    latents = torch.randn(4, 6, 8, 8) * 3.0
    before, after = fit_revived_prior(net, latents, [2], iterations=150)
    assert after < before - 0.2  # a prior fitted to the latents codes them in fewer bits
    for name, value in net.entropy_bottleneck.state_dict().items():
        if name.endswith("quantiles") or not value.ndim or value.shape[0] != 6:
            continue
        assert torch.equal(value[[0, 1, 3, 4, 5]], kept[name][[0, 1, 3, 4, 5]]), name
        assert not torch.equal(value[2], kept[name][2]), name


def test_idle_channels_are_the_complement_of_the_active_ones():
    from rdcodec.analysis.rates import ChannelRates

    rates = ChannelRates(1.0, [0.5, 0.0, 0.0004, 0.3, 0.2], 1.0004)
    assert rates.idle(0.001) == [1, 2]
    assert rates.active(0.001) == 3


def test_revive_tool_continues_a_run_with_an_idle_channel_revived(tmp_path, capsys):
    from rdcodec.train.codec_task import train

    images = synthetic_folder(tmp_path / "imgs", [(48, 48), (48, 56), (56, 48)])
    config = tiny_train_config(images, steps=2, metric="mse", lam=50.0)
    train(config, tmp_path / "run", progress=False)
    source = tmp_path / "run" / "checkpoint.pt"
    # make channel 3 idle the way training does: its prior narrows to a spike and its encoder
    # output sits at the spike's median
    state = torch.load(source, weights_only=False)
    state["model"]["entropy_bottleneck.matrices.0"][3] += 6.0
    net = RDAutoencoder(NetworkConfig(N=8, M=8))
    net.load_state_dict(state["model"])
    net.settle_quantiles()
    state["model"] = {k: v.detach().clone() for k, v in net.state_dict().items()}
    state["model"]["g_a.6.weight"][3] = 0.0
    state["model"]["g_a.6.bias"][3] = net.medians()[3]
    torch.save(state, source)

    tool = load_tool("tools/revive_channels.py")
    out = tmp_path / "revived" / "checkpoint.pt"
    out.parent.mkdir()
    record = tmp_path / "revival.json"
    argv = [str(source), str(images), "--crop", "32", "--share", "0.05", "--as-checkpoint", "-o", str(out)]
    assert tool.main([*argv, "--record", str(record)]) == 0
    written = json.loads(record.read_text())
    assert written["channels"] == [3] and written["source"]["step"] == 2
    revived = torch.load(out, weights_only=False)
    assert revived["step"] == 2 and revived["history"] == state["history"]
    assert revived["optimizer"]["param_groups"] == state["optimizer"]["param_groups"]
    moments, source_moments = revived["optimizer"]["state"], state["optimizer"]["state"]
    assert moments.keys() == source_moments.keys() and all(  # the Adam moments are kept as they were
        torch.equal(moments[k]["exp_avg_sq"], source_moments[k]["exp_avg_sq"]) for k in moments
    )
    assert revived["revival"]["channels"] == [3]
    assert float(revived["model"]["g_a.6.weight"][3].norm()) > 0
    assert torch.count_nonzero(revived["model"]["g_s.0.weight"][3]) == 0
    live = [0, 1, 2, 4, 5, 6, 7]
    assert torch.equal(revived["model"]["g_a.6.weight"][live], state["model"]["g_a.6.weight"][live])
    assert_refused(capsys, tool.main, argv, "exists (give --force")  # an existing file is kept unless --force
    # the run goes on from the revived checkpoint
    train(dataclasses.replace(config, steps=4), out.parent, progress=False)
    assert torch.load(out, weights_only=False)["step"] == 4

    # the weights-only form is what init_from reads
    weights = tmp_path / "revived.pt"
    assert tool.main([str(source), str(images), "--crop", "32", "--share", "0.05", "-o", str(weights)]) == 0
    from rdcodec.train.codec_task import load_weights

    assert set(load_weights(weights)) == set(state["model"])


def test_reconstruction_ceiling_reports_the_clean_autoencoder_beside_delta_points(models_env, tmp_path, capsys):
    """tools/reconstruction_ceiling.py: g(f(x))'s PSNR, and validation's points at each Δ."""
    from rdcodec.codec import load_model
    from rdcodec.image_tensor import to_tensor
    from rdcodec.train.codec_task import validate
    from rdcodec.train.data import center_crop, load_images

    images = synthetic_folder(tmp_path / "imgs", [(48, 48), (40, 56)])
    tool = load_tool("tools/reconstruction_ceiling.py")
    out = tmp_path / "ceiling.json"
    argv = ["tiny", "--images", str(images), "--crop", "32", "--steps", "1,4", "-o", str(out)]
    assert tool.main(argv) == 0
    report = json.loads(out.read_text())
    (entry,) = report["networks"]
    assert entry["model"] == "tiny" and report["count"] == 2 and [p["step"] for p in entry["points"]] == [1.0, 4.0]

    net = load_model("tiny").network.eval()
    crops = [to_tensor(center_crop(im, 32)) for im in load_images([str(images)])]
    psnrs = []
    with torch.no_grad():
        for x in crops:
            x_hat = torch.round(net.g_s(net.g_a(x)).clamp(0, 1) * 255) / 255
            psnrs.append(10 * math.log10(1 / torch.mean((x - x_hat) ** 2).item()))
    assert entry["clean_psnr"] == pytest.approx(sum(psnrs) / len(psnrs), rel=1e-6)
    assert entry["points"][1]["psnr"] == pytest.approx(validate(net, crops, "ssim", 4.0)["psnr"], rel=1e-6)
    assert entry["points"][0]["bpp"] > entry["points"][1]["bpp"] > 0
    assert_refused(capsys, tool.main, argv, "exists (give --force")  # an existing report is kept unless --force


def test_widening_keeps_the_function_and_the_run_trains_the_new_channels(tmp_path, capsys):
    """RDAutoencoder.widened and tools/widen_network.py: same f, g and P_ψ; a run starts from it."""
    from rdcodec.train.codec_task import train

    net = _network(seed=4)
    wide = net.widened(11, seed=2)
    assert wide.config == NetworkConfig(N=11, M=6)
    x = torch.rand(2, 3, 32, 48)
    with torch.no_grad():
        z = net.g_a(x)
        assert torch.allclose(wide.g_a(x), z, atol=1e-6)  # equal but for the kernels' summation order
        assert torch.allclose(wide.g_s(z), net.g_s(z), atol=1e-6)
        assert torch.equal(wide.medians(), net.medians())
        # the new channels are live: their incoming filters are not 0
        assert torch.count_nonzero(wide.g_a[2].weight[8:]) > 0 and torch.count_nonzero(wide.g_s[0].weight[:, 8:]) > 0
    assert all(torch.equal(a, b) for a, b in zip(net.widened(11, seed=2).parameters(), wide.parameters()))
    with pytest.raises(ValueError):
        net.widened(8)

    images = synthetic_folder(tmp_path / "imgs", [(48, 48), (48, 56)])
    config = tiny_train_config(images, steps=1, metric="mse", lam=50.0, batch_size=1, val_every=10, checkpoint_every=1)
    train(config, tmp_path / "narrow", progress=False)
    tool = load_tool("tools/widen_network.py")
    out = tmp_path / "wide.pt"
    assert tool.main([str(tmp_path / "narrow" / "checkpoint.pt"), "--hidden", "12", "-o", str(out)]) == 0
    payload = torch.load(out, weights_only=False)
    assert payload["network"] == {"N": 12, "M": 8} and payload["source"]["step"] == 1
    assert_refused(capsys, tool.main, [str(tmp_path / "narrow" / "checkpoint.pt"), "--hidden", "12", "-o", str(out)], "exists")
    wide_config = dataclasses.replace(config, network=NetworkConfig(N=12, M=8), init_from=str(out), steps=2)
    train(wide_config, tmp_path / "wide", progress=False)
    trained = torch.load(tmp_path / "wide" / "checkpoint.pt", weights_only=False)
    assert trained["step"] == 2 and trained["model"]["g_a.2.weight"].shape[:2] == (12, 12)
    # training moved the zero weights from new channels into old ones
    assert torch.count_nonzero(trained["model"]["g_a.2.weight"][:8, 8:]) > 0


def test_latent_widening_keeps_the_function_and_the_old_channels_prior():
    """RDAutoencoder.widened(latent=…): old latents and prior as they were, g ignores the new ones."""
    from rdcodec.train.widening import padded

    net = _network(seed=5)
    wide = net.widened(latent=9, seed=1)
    assert wide.config == NetworkConfig(N=8, M=9)
    x = torch.rand(2, 3, 32, 48)
    with torch.no_grad():
        z = net.g_a(x)
        z_wide = wide.g_a(x)
        assert torch.allclose(z_wide[:, :6], z, atol=1e-6) and z_wide[:, 6:].abs().max() > 0
        assert torch.allclose(wide.g_s(z_wide), net.g_s(z), atol=1e-6)
        assert torch.equal(wide.medians()[:6], net.medians())
        symbols = net.quantize(z, net.medians(), 2.0)
        bits = net.channel_bin_bits(symbols, net.medians(), 2.0)
        symbols_wide = wide.quantize(z_wide, wide.medians(), 2.0)
        assert torch.equal(symbols_wide[:, :6], symbols)
        assert torch.allclose(wide.channel_bin_bits(symbols_wide, wide.medians(), 2.0)[:6], bits, rtol=1e-6)
    rng_state = torch.random.get_rng_state()
    both = net.widened(12, 9, seed=1)
    assert torch.equal(torch.random.get_rng_state(), rng_state)  # the caller's generator is untouched
    assert both.config == NetworkConfig(N=12, M=9)
    with torch.no_grad():
        assert torch.allclose(both.g_s(both.g_a(x)), net.g_s(z), atol=1e-6)
    for hidden, latent in ((None, None), (8, 6), (7, 9), (12, 5)):
        with pytest.raises(ValueError):
            net.widened(hidden, latent)
    assert torch.equal(padded(torch.ones(2, 3), torch.Size([3, 3])), torch.tensor([[1.0] * 3] * 2 + [[0.0] * 3]))
    with pytest.raises(ValueError):
        padded(torch.ones(2, 3), torch.Size([3, 2]))


def test_widen_tool_carries_the_run_over_with_its_moments_and_new_latents(tmp_path, capsys):
    """tools/widen_network.py --latent --as-checkpoint: the run goes on at the same step, its Adam
    moments in place (0 for the new entries), the new latent channels revived."""
    from rdcodec.train.codec_task import eq5_parameter_groups, train
    from rdcodec.train.widening import widened_checkpoint

    images = synthetic_folder(tmp_path / "imgs", [(48, 48), (48, 56), (56, 48)])
    config = tiny_train_config(images, steps=2, metric="mse", lam=50.0, batch_size=1, val_every=10, checkpoint_every=1)
    train(config, tmp_path / "narrow", progress=False)
    source = tmp_path / "narrow" / "checkpoint.pt"
    state = torch.load(source, weights_only=False)
    tool = load_tool("tools/widen_network.py")
    out = tmp_path / "wide" / "checkpoint.pt"  # the tool makes the new run directory
    record = tmp_path / "widening.json"
    argv = [str(source), str(images), "--hidden", "12", "--latent", "10", "--crop", "32", "--as-checkpoint", "-o", str(out)]
    # new latents need training images for their priors
    assert_refused(capsys, tool.main, [str(source), "--latent", "10", "-o", str(out)], "training images fit the new latent")
    assert tool.main([*argv, "--record", str(record)]) == 0
    written = json.loads(record.read_text())
    assert written["network"] == {"N": 12, "M": 10} and written["new_latents"]["channels"] == [8, 9]
    carried = torch.load(out, weights_only=False)
    assert carried["step"] == 2 and carried["history"] == state["history"] and carried["network"] == {"N": 12, "M": 10}
    assert carried["config"]["network"] == {"N": 12, "M": 10}
    encoder = carried["model"]["g_a.6.weight"]
    assert encoder.shape[:2] == (10, 12) and torch.equal(encoder[:8, :8], state["model"]["g_a.6.weight"])
    norms = encoder[8:].flatten(1).norm(dim=1)
    assert torch.allclose(norms, torch.full_like(norms, written["new_latents"]["encoder_norm"]), rtol=1e-5)
    assert torch.count_nonzero(carried["model"]["g_s.0.weight"][8:]) == 0
    # each moment sits where its weight went; the new entries start at 0
    narrow = RDAutoencoder(NetworkConfig(N=8, M=8))
    wide = RDAutoencoder(NetworkConfig(N=12, M=10))
    old_params, new_params = (sum(eq5_parameter_groups(n)[:2], []) for n in (narrow, wide))
    for index, (old, new) in enumerate(zip(old_params, new_params)):
        before, after = state["optimizer"]["state"][index], carried["optimizer"]["state"][index]
        assert torch.equal(after["step"], before["step"])
        leading = tuple(slice(0, n) for n in old.shape)
        for moment in ("exp_avg", "exp_avg_sq"):
            assert after[moment].shape == new.shape and torch.equal(after[moment][leading], before[moment])
            assert torch.count_nonzero(after[moment]) == torch.count_nonzero(before[moment])  # 0 elsewhere
    assert carried["aux_optimizer"]["state"][0]["exp_avg"].shape == (10, 1, 3)
    assert carried["widening"] == written and "revival" not in carried
    written_bytes = out.read_bytes(), record.read_bytes()
    assert_refused(capsys, tool.main, argv, "exists (give --force")  # existing files are kept unless --force
    assert (out.read_bytes(), record.read_bytes()) == written_bytes
    # a weights-only snapshot has no moments to carry: refused before anything is written
    snapshot = tmp_path / "snapshot.pt"
    torch.save(dict(state, optimizer=None, aux_optimizer=None), snapshot)
    refused = tmp_path / "refused" / "checkpoint.pt"
    argv = [str(snapshot), str(images), "--latent", "10", "--as-checkpoint", "-o", str(refused)]
    assert_refused(capsys, tool.main, argv, "holds no optimiser state")
    assert not refused.parent.exists()

    capsys.readouterr()
    wide_config = dataclasses.replace(config, network=NetworkConfig(N=12, M=10), steps=4)
    train(wide_config, out.parent, progress=False)
    assert "fresh moments" not in capsys.readouterr().err  # the carried moments loaded
    trained = torch.load(out, weights_only=False)
    assert trained["step"] == 4 and int(trained["optimizer"]["state"][0]["step"]) == 4
    assert torch.count_nonzero(trained["model"]["g_s.0.weight"][8:]) > 0  # the decoder took up the new latents

    decoder_phase = dict(state, config=dict(state["config"], phase="decoder"))
    with pytest.raises(ValueError, match="eq5"):
        widened_checkpoint(decoder_phase, narrow, wide)
    mismatched = dict(state, optimizer={**state["optimizer"], "state": {**state["optimizer"]["state"]}})
    mismatched["optimizer"]["state"][0] = dict(mismatched["optimizer"]["state"][0], exp_avg=torch.zeros(3))
    with pytest.raises(ValueError, match="exp_avg"):
        widened_checkpoint(mismatched, narrow, wide)


def test_a_restored_snapshot_gains_moments_at_lr_zero_and_can_then_be_widened(tmp_path):
    """A weights-only snapshot restored into a run carries no Adam moments, so --as-checkpoint
    refuses it; resumed with lr = aux_lr = 0 the run fills the moments and moves no weight, and
    its checkpoint is then carried over to the wide network (docs/training.md, "Adding capacity")."""
    from rdcodec.train.codec_task import train
    from rdcodec.train.widening import check_carriable

    snapshot_tool = load_tool("tools/campaign_snapshot.py")
    images = synthetic_folder(tmp_path / "imgs", [(48, 48), (48, 56), (56, 48)])
    config = tiny_train_config(images, steps=2, metric="mse", lam=50.0, batch_size=1, val_every=10, checkpoint_every=1)
    train(config, tmp_path / "narrow", progress=False)
    snapshot_tool.save(tmp_path / "narrow" / "checkpoint.pt", tmp_path / "snap.pt")
    restored = tmp_path / "restored"
    snapshot_tool.restore(tmp_path / "snap.pt", restored)
    before = torch.load(restored / "checkpoint.pt", weights_only=False)
    with pytest.raises(ValueError, match="lr=0"):
        check_carriable(before)

    train(dataclasses.replace(config, steps=5, lr=0.0, aux_lr=0.0), restored, progress=False)
    after = torch.load(restored / "checkpoint.pt", weights_only=False)
    assert after["step"] == 5
    assert all(torch.equal(after["model"][k], before["model"][k]) for k in before["model"])
    moments = after["optimizer"]["state"]
    assert all(int(m["step"]) == 3 for m in moments.values())
    assert all(torch.count_nonzero(m["exp_avg_sq"]) > 0 for m in moments.values())
    check_carriable(after)
    tool = load_tool("tools/widen_network.py")
    out = tmp_path / "wide" / "checkpoint.pt"
    assert tool.main([str(restored / "checkpoint.pt"), "--hidden", "12", "--as-checkpoint", "-o", str(out)]) == 0
    assert torch.load(out, weights_only=False)["step"] == 5
