"""Per-channel rates (rdcodec.analysis.rates, tools/channel_rates.py) add up to the codec's own estimate."""

import json

import pytest
import torch
from conftest import assert_refused, load_tool, synthetic_image


def test_channel_rates_sum_to_the_estimated_bits_and_idle_channels_cost_nothing(tiny_model):
    from rdcodec.analysis import channel_rates

    net = tiny_model.network
    images = [synthetic_image(64, 48, seed=1), synthetic_image(32, 64, seed=2)]
    pixels = sum(i.shape[0] * i.shape[1] for i in images)
    half, one = channel_rates(net, images, [0.5, 1.0])
    medians = net.medians()
    with torch.no_grad():
        expected = 0.0
        for image in images:
            z = net.g_a(torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255)
            expected += float(net.bin_bits(net.quantize(z, medians, 1.0), medians, 1.0))
    assert one.total_bpp == pytest.approx(expected / pixels, rel=1e-5)
    assert sum(one.bpp) == pytest.approx(one.total_bpp, rel=1e-9)
    assert half.total_bpp > one.total_bpp  # a finer step costs more bits
    assert sorted(one.bpp, reverse=True) == [one.bpp[c] for c in one.order]
    assert 1 <= one.channels_for(0.9) <= one.channels_for(0.99) <= len(one.bpp)

    # a channel whose encoder output is the prior's median everywhere costs one median bin per
    # latent element, whatever the images: −log₂ P_c(median bin) (near 0 for a trained prior)
    idle = one.order[0]
    with torch.no_grad():
        net_idle = type(net)(net.config)
        net_idle.load_state_dict(net.state_dict())
        last = net_idle.g_a[-1]
        last.weight[idle].zero_()
        last.bias[idle] = net_idle.medians()[idle]
        elements = sum(net_idle.g_a(torch.zeros(1, 3, *i.shape[:2])).shape[-2:].numel() for i in images)
        zero = torch.zeros(1, len(one.bpp), 1, 1)
        median_bin_bits = float(net_idle.channel_bin_bits(zero, net_idle.medians(), 0.5)[idle])
    (idle_rates,) = channel_rates(net_idle, images, [0.5])
    assert idle_rates.bpp[idle] == pytest.approx(median_bin_bits * elements / pixels, rel=1e-5)
    assert idle_rates.bpp[idle] < half.bpp[idle]


def test_channel_rates_tool_writes_its_report(models_env, tmp_path, sample_path, capsys):
    tool = load_tool("tools/channel_rates.py")
    out = tmp_path / "rates.json"
    assert tool.main(["tiny", str(sample_path), "--steps", "1,2", "-o", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["schema"] == "rdcodec.channel-rates/1" and report["model"] == "tiny"
    assert [s["step"] for s in report["steps"]] == [1.0, 2.0]
    assert report["steps"][0]["total_bpp"] > report["steps"][1]["total_bpp"] > 0
    # an existing report is kept unless --force
    assert_refused(capsys, tool.main, ["tiny", str(sample_path), "-o", str(out)], "exists (give --force")


def test_network_source_from_a_model_and_from_a_checkpoint(tiny_registry, tmp_path):
    """rdcodec.zoo.network_source: the analysis tools' one way to a network, by model id or checkpoint."""
    from conftest import synthetic_folder, tiny_train_config

    from rdcodec.train.codec_task import train
    from rdcodec.zoo.network_source import load_network_source, network_source_of

    source = load_network_source("tiny", registry=tiny_registry)
    entry = tiny_registry.find("tiny")
    assert source.provenance == {"model": entry.id, "digest": entry.digest}
    assert source.objective == (entry.objective.to_dict() if entry.objective is not None else {})
    assert not source.network.training

    images = synthetic_folder(tmp_path / "imgs", [(40, 40), (40, 48)])
    objective = {"kind": "radogaga", "metric": "mse", "h": "identity", "lambda1": 7.0, "lambda2": 3.0}
    config = tiny_train_config(images, steps=1, objective=objective, batch_size=1, val_every=10, checkpoint_every=1)
    train(config, tmp_path / "run", progress=False)
    source = load_network_source(checkpoint=tmp_path / "run" / "checkpoint.pt")
    assert source.provenance == {"checkpoint": str(tmp_path / "run" / "checkpoint.pt"), "step": 1}
    assert source.objective["lambda2"] == 3.0 and source.objective["metric"] == "mse"
    assert source.network.config.M == 8 and not source.network.training
    # a tool's argument: a file is a checkpoint, anything else a model id
    assert network_source_of(str(tmp_path / "run" / "checkpoint.pt")).provenance["step"] == 1
    assert network_source_of("tiny", registry=tiny_registry).provenance["model"] == entry.id
