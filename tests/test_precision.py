"""bf16 autocast is used only where the CPU has bfloat16 instructions."""

from __future__ import annotations

import pytest

from rdcodec.model import precision


def test_an_x86_cpu_without_bf16_runs_float32_with_a_warning(cpu_flags):
    cpu_flags({"sse2", "avx2", "avx512f", "avx512bw", "avx512_vnni"})  # Ice Lake
    assert not precision.bf16_is_native("cpu")
    with pytest.warns(RuntimeWarning, match="no bfloat16 instructions"):
        assert precision.usable_bf16(True, "cpu") is False


@pytest.mark.parametrize("flag", precision.NATIVE_BF16_FLAGS)
def test_an_x86_cpu_with_bf16_keeps_the_request(cpu_flags, flag, recwarn):
    cpu_flags({"sse2", "avx2", "avx512f", flag})
    assert precision.usable_bf16(True, "cpu") is True
    assert precision.usable_bf16(False, "cpu") is False
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


def test_unknown_hardware_trusts_the_request(cpu_flags):
    cpu_flags(None)
    assert precision.usable_bf16(True, "cpu") is True
    cpu_flags({"fp", "asimd", "bf16"})  # an ARM CPU: no x86 flags to go by
    assert precision.usable_bf16(True, "cpu") is True


def _bf16(t):
    import torch

    return t.to(torch.bfloat16).float()


def test_rounding_gives_back_the_weights_autocast_computed_with():
    import torch

    from rdcodec.model.network import NetworkConfig, RDAutoencoder

    torch.manual_seed(0)
    net = RDAutoencoder(NetworkConfig(N=8, M=8))
    with torch.no_grad():  # float32 master weights sit off the bfloat16 grid
        for p in net.parameters():
            p.add_(torch.randn_like(p) * 1e-3)
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        seen_by_autocast = net.g_s(net.g_a(x)).float()
    with torch.no_grad():
        master_float32 = net.g_s(net.g_a(x))
    prior = {k: v.clone() for k, v in net.entropy_bottleneck.state_dict().items()}

    # four convolutions (weight + bias) and three GDNs (β, γ) in each transform
    assert precision.round_to_autocast_weights(net.g_a) == precision.round_to_autocast_weights(net.g_s) == 4 * 2 + 3 * 2
    for m in net.modules():
        if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)):
            assert torch.equal(m.weight, _bf16(m.weight)) and torch.equal(m.bias, _bf16(m.bias))
        elif hasattr(m, "gamma_reparam"):
            for name in ("beta", "gamma"):
                effective = getattr(m, f"{name}_reparam")(getattr(m, name))
                assert torch.allclose(effective, _bf16(effective), rtol=1e-6, atol=0)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        assert torch.equal(net.g_s(net.g_a(x)).float(), seen_by_autocast)  # the very values the loss saw
    with torch.no_grad():
        assert not torch.equal(net.g_s(net.g_a(x)), master_float32)  # ... which the master weights are not
    assert all(torch.equal(v, prior[k]) for k, v in net.entropy_bottleneck.state_dict().items())  # the prior stays float32
    # the whole network rounds exactly the transforms' tensors (what export and validation call)
    whole = RDAutoencoder(NetworkConfig(N=8, M=8))
    whole_prior = {k: v.clone() for k, v in whole.entropy_bottleneck.state_dict().items()}
    assert precision.round_to_autocast_weights(whole) == 2 * (4 * 2 + 3 * 2)
    assert all(torch.equal(v, whole_prior[k]) for k, v in whole.entropy_bottleneck.state_dict().items())
