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
