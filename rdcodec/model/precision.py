"""Whether bfloat16 autocast pays on this machine.

On a CPU without bf16 instructions (``avx512_bf16`` or AMX), PyTorch emulates bfloat16
arithmetic: measured on an Ice Lake Xeon, a training step of the N = 96, M = 128 network at
16 × 128² took 9.6 s under bf16 autocast against about 1 s in float32. So a bf16 request on such
a CPU runs in float32, with one warning, rather than ten times slower.

A network trained under bf16 autocast is a function of its weights *rounded to bfloat16*: the
autocast casts every convolution's weight and bias (and GDN's β and γ, which it applies by a
convolution) before it computes, and the float32 master weights only accumulate the updates.
So the float32 master weights are not what was trained; where the gradient keeps pushing a
whole filter one way in steps below half a bfloat16 ulp, they drift coherently away from the
rounded values the loss saw. :func:`round_to_autocast_weights` gives back the weights the
forward pass used. Measured on the campaign's MSE network at step 74 000 (8 validation crops,
Δ = 1; ``tools/as_trained_weights.py``, docs/rd/campaign/long/as-trained-weights-step74000.json):
float32 master weights 31.58 dB, rounded 31.93 dB, all of it in the encoder's first layer (its
master weights' offsets from the bfloat16 grid are coherent within each filter); uniform random
offsets of the same size around the rounded weights cost nothing (32.03 dB). On Kodak, real
files, the rounded weights are −4.0 % PSNR BD-rate against the master weights.
"""

from __future__ import annotations

import functools
import warnings
from pathlib import Path

#: /proc/cpuinfo flags of x86 CPUs with native bfloat16 arithmetic.
NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16")


@functools.cache
def _cpu_flags() -> frozenset[str] | None:
    """The CPU's feature flags (Linux), or None where they cannot be read."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith(("flags", "Features")):
            return frozenset(line.split(":", 1)[1].split())
    return None


def bf16_is_native(device_type: str) -> bool:
    """True when bfloat16 runs in hardware on this device (or when it cannot be told)."""
    if device_type == "cuda":
        import torch

        return bool(torch.cuda.is_bf16_supported())
    if device_type != "cpu":
        return True
    flags = _cpu_flags()
    if flags is None or not any(f.startswith(("avx", "sse")) for f in flags):
        return True  # not an x86 Linux machine: nothing to go by, so trust the request
    return any(flag in flags for flag in NATIVE_BF16_FLAGS)


@functools.cache
def usable_bf16(requested: bool, device_type: str) -> bool:
    """``requested``, unless this device would emulate bfloat16 (then False, with a warning)."""
    if requested and not bf16_is_native(device_type):
        message = (
            f"bf16 autocast was asked for, but this {device_type.upper()} has no bfloat16 instructions "
            f"({' or '.join(NATIVE_BF16_FLAGS)}); running in float32 instead (emulated bf16 is about 10x slower)"
        )
        warnings.warn(message, RuntimeWarning, stacklevel=2)
        return False
    return requested


def bf16_autocast(x, enabled: bool):
    """bfloat16 autocast on ``x``'s device (a no-op context when not ``enabled``): the one
    context every bf16 training or search pass runs its transforms under."""
    import torch

    return torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=enabled)


def round_to_autocast_weights(transforms) -> int:
    """Round, in place, the weights bf16 autocast computes with to bfloat16 values (kept float32).

    Every ``Conv2d`` / ``ConvTranspose2d`` weight and bias under ``transforms`` (a module, e.g. an
    ``RDAutoencoder``'s ``g_a`` or ``g_s``), and every GDN's effective β and γ (its
    reparametrised values, set back through the reparametrisation). Returns how many tensors
    were rounded. For a network trained in float32 this only adds offsets below half an ulp.
    """
    import torch

    def bf16(t: torch.Tensor) -> torch.Tensor:
        return t.to(torch.bfloat16).to(t.dtype)

    rounded = 0
    with torch.no_grad():
        for module in transforms.modules():
            if isinstance(module, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)):
                for tensor in (module.weight, module.bias):
                    if tensor is not None:
                        tensor.copy_(bf16(tensor))
                        rounded += 1
            elif hasattr(module, "beta_reparam") and hasattr(module, "gamma_reparam"):  # compressai's GDN
                for name in ("beta", "gamma"):
                    raw, reparam = getattr(module, name), getattr(module, f"{name}_reparam")
                    effective = bf16(reparam(raw))  # what the autocast convolution used
                    floor = reparam.lower_bound.bound.to(raw.dtype) ** 2
                    raw.copy_(torch.sqrt(torch.clamp(effective + reparam.pedestal, min=floor)))
                    rounded += 1
    return rounded


__all__ = ["NATIVE_BF16_FLAGS", "bf16_autocast", "bf16_is_native", "round_to_autocast_weights", "usable_bf16"]
