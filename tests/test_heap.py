"""rdcodec.train.heap: freed memory stays in the heap, so a repeated allocation faults no pages."""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import assert_refused, load_tool, synthetic_folder

from rdcodec.train import codec_task, face_task
from rdcodec.train.config import ConfigError, TrainConfig

ON_GLIBC = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"
glibc = pytest.mark.skipif(not ON_GLIBC, reason="mallopt is glibc's")

# malloc and fill a 64 MiB block five times (after one warm-up round), as a training step does
# with its buffers; print the minor page faults of those five rounds. In its own process: the
# setting is process-wide.
ROUNDS = """
import ctypes, ctypes.util, resource, sys
if sys.argv[1] == "retain":
    from rdcodec.train.heap import retain_freed_memory
    assert retain_freed_memory()
libc = ctypes.CDLL(ctypes.util.find_library("c"))
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
faults = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_minflt
def round_(n=2**26):
    block = libc.malloc(n)
    ctypes.memset(block, 1, n)
    libc.free(block)
round_()
before = faults()
for _ in range(5):
    round_()
print(faults() - before)
"""


def _faults(mode: str) -> int:
    done = subprocess.run([sys.executable, "-c", ROUNDS, mode], capture_output=True, text=True, check=True)
    return int(done.stdout)


@glibc
def test_retained_heap_reuses_its_pages():
    pages = 2**26 // 4096  # one round touches 16 384 pages
    assert _faults("default") >= 4 * pages  # glibc maps and unmaps a block this large every time
    assert _faults("retain") < pages // 10


HUGE_PAGES = """
import sys
from rdcodec.train.heap import advise_huge_pages, retain_freed_memory
if sys.argv[1] == "retain":
    advise_huge_pages()
    assert retain_freed_memory()
import torch
blocks = [torch.ones(2**24) for _ in range(2)]
print(next(int(line.split()[1]) for line in open("/proc/self/smaps_rollup") if line.startswith("AnonHugePages")))
"""


THP = Path("/sys/kernel/mm/transparent_hugepage/enabled")


def _thp_mode() -> str:
    try:
        return THP.read_text()
    except OSError:
        return "[never]"


@glibc
@pytest.mark.skipif("[never]" in _thp_mode(), reason="transparent huge pages are off on this machine")
def test_retained_heap_puts_torch_blocks_on_huge_pages():
    def huge_kib(mode):
        env = {k: v for k, v in os.environ.items() if k != "THP_MEM_ALLOC_ENABLE"}
        done = subprocess.run([sys.executable, "-c", HUGE_PAGES, mode], capture_output=True, text=True, check=True, env=env)
        return int(done.stdout)

    assert huge_kib("retain") >= 2**16  # most of the two 64 MiB blocks
    if "[madvise]" in _thp_mode():
        assert huge_kib("default") == 0  # only advised memory gets huge pages here


@glibc
def test_retain_is_applied_once_and_reports_success():
    from rdcodec.train.heap import retain_freed_memory

    assert retain_freed_memory() is True and retain_freed_memory() is True


@pytest.fixture
def image_dir(tmp_path):
    return synthetic_folder(tmp_path / "imgs", [(48, 48)] * 2)


@pytest.mark.parametrize("retain", [True, False])
def test_training_applies_the_setting_only_when_asked(image_dir, tmp_path, monkeypatch, retain):
    calls = []
    monkeypatch.setattr(codec_task, "retain_freed_memory", lambda: calls.append("codec") or True)
    monkeypatch.setattr(face_task, "retain_freed_memory", lambda: calls.append("face") or True)
    cfg = TrainConfig(
        train_dirs=[str(image_dir)],
        network={"N": 8, "M": 8},
        steps=1,
        batch_size=1,
        crop=32,
        retain_freed_memory=retain,
    )
    codec_task.train(cfg, tmp_path / "codec", progress=False)
    import torch

    from rdcodec.model.face import FaceConfig

    face = face_task.FaceTrainConfig(
        model=FaceConfig(channels=4, hidden=8, latent=4), steps=1, batch_size=2, val_every=0, retain_freed_memory=retain
    )
    face_task.train_face_model(face, torch.rand(4, 3, 64, 64), tmp_path / "face")
    assert calls == (["codec", "face"] if retain else [])


def test_config_takes_only_a_boolean(image_dir):
    cfg = TrainConfig(train_dirs=[str(image_dir)])
    assert cfg.retain_freed_memory is True
    with pytest.raises(ConfigError, match="retain_freed_memory"):
        dataclasses.replace(cfg, retain_freed_memory="yes")


def test_heap_bench_alternates_the_modes(tmp_path, monkeypatch, capsys):
    """tools/bench_heap.py: the modes take turns, round after round; medians and speed-ups."""
    bench = load_tool("tools/bench_heap.py")
    seconds = {"default": [1.0, 1.4, 1.2], "retain": [0.8, 0.9, 0.7]}
    order = []

    def fake_run(mode, args, out):
        order.append(mode)
        sec = seconds[mode][order.count(mode) - 1]
        return {
            "mode": mode,
            "heap_retained": mode == "retain",
            "sec_per_step": sec,
            "minor_faults_per_step": 100.0 if mode == "default" else 0.0,
            "system_seconds_per_step": 0.1,
            "cpu_seconds_per_step": sec / 2,
        }

    monkeypatch.setattr(bench, "run_mode", fake_run)
    out = tmp_path / "heap.json"
    assert bench.main([str(tmp_path), "-o", str(out), "--rounds", "3", "--modes", "default,retain"]) == 0
    report = json.loads(out.read_text())
    assert order == ["default", "retain"] * 3
    assert [r["round"] for r in report["runs"]] == [0, 0, 1, 1, 2, 2]
    modes = {m["mode"]: m for m in report["modes"]}
    assert modes["default"]["sec_per_step"] == 1.2 and modes["retain"]["sec_per_step"] == 0.8
    assert modes["default"]["speedup"] == 1.0 and modes["retain"]["speedup"] == pytest.approx(1.5)
    assert modes["retain"]["cpu_speedup"] == pytest.approx(1.5)
    assert_refused(
        capsys, bench.main, [str(tmp_path), "-o", str(out), "--modes", "default,jemalloc"], "unknown mode(s): jemalloc"
    )


def test_heap_bench_runs_the_training_bench_in_a_process_of_its_own(tmp_path):
    d = synthetic_folder(tmp_path / "crops", [(144, 160)])
    out = tmp_path / "heap.json"
    args = [str(d), "-o", str(out), "--variant", "fp32 128x16", "--N", "8", "--M", "8", "--steps", "1", "--warmup", "1"]
    assert load_tool("tools/bench_heap.py").main([*args, "--rounds", "1", "--modes", "retain"]) == 0
    (run,) = json.loads(out.read_text())["runs"]
    assert run["mode"] == "retain" and run["heap_retained"] is ON_GLIBC and run["sec_per_step"] > 0
    assert run["minor_faults_per_step"] >= 0 and 0 <= run["system_seconds_per_step"] <= run["cpu_seconds_per_step"]


def test_the_heap_module_imports_no_torch():
    """Its huge-page advice must run before torch's first allocation, so importing it (and the
    rdcodec.train package around it) must not import torch."""
    script = "import sys, rdcodec.train.heap; print('torch' in sys.modules, 'compressai' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "False"]


def test_advice_leaves_a_users_choice_alone(monkeypatch):
    from rdcodec.train.heap import advise_huge_pages

    monkeypatch.setenv("THP_MEM_ALLOC_ENABLE", "0")
    advise_huge_pages()
    assert os.environ["THP_MEM_ALLOC_ENABLE"] == "0"
    monkeypatch.delenv("THP_MEM_ALLOC_ENABLE")
    advise_huge_pages()
    assert os.environ["THP_MEM_ALLOC_ENABLE"] == "1"
