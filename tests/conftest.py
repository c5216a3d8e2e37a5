"""Shared fixtures: tiny seeded models exported into temporary registries, synthetic images."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
GOLDEN = Path(__file__).resolve().parent / "golden"


def make_tiny_network(seed: int = 0, N: int = 8, M: int = 8, spread: float = 40.0):
    """A seeded, untrained RDAutoencoder whose prior is made non-trivial (varied scales)."""
    import torch

    from rdcodec.model.network import NetworkConfig, RDAutoencoder

    torch.manual_seed(seed)
    net = RDAutoencoder(NetworkConfig(N=N, M=M))
    with torch.no_grad():
        # Spread the latent so several symbols per channel occur, as in a trained model.
        net.g_a[-1].weight.mul_(spread)
        net.g_a[-1].bias.copy_(torch.linspace(-2.0, 2.0, M))
    return net.eval()


def export_tiny(
    directory: Path,
    model_id: str = "tiny",
    seed: int = 0,
    default: bool = True,
    spread: float = 40.0,
    step: float = 1.0,
    grid: bool = False,
    M: int = 8,
):
    """A registry holding one tiny seeded model (``grid``: and its grid entry, for format version 2)."""
    from rdcodec.zoo.export import export_grid, export_model
    from rdcodec.zoo.registry import Registry

    registry = Registry(directory)
    entry = export_model(
        make_tiny_network(seed, spread=spread, M=M),
        registry,
        model_id,
        default=default,
        objective={"metric": "ssim", "lambda1": 8.0},
        step=step,
    )
    if grid:
        export_grid(registry, entry)
    return registry


@pytest.fixture(scope="session")
def tiny_registry(tmp_path_factory):
    return export_tiny(tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="session")
def grid_registry(tmp_path_factory):
    """A tiny model of 16 channels with its grid entry (format version 2)."""
    return export_tiny(tmp_path_factory.mktemp("grid-models"), grid=True, M=16)


@pytest.fixture(scope="session")
def tiny_model(tiny_registry):
    from rdcodec.codec import load_model

    return load_model(registry=tiny_registry)


@pytest.fixture
def models_env(tiny_registry, monkeypatch):
    """Point the CLI's registry at the tiny models."""
    monkeypatch.setenv("RDCODEC_MODELS_DIR", str(tiny_registry.directory))
    return tiny_registry


def synthetic_image(height: int, width: int, seed: int = 0) -> np.ndarray:
    """Smooth gradients plus noise and an edge: compressible, but not trivial."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    base = np.stack([128 + 100 * np.sin(xx / 9.0), 128 + 100 * np.cos(yy / 7.0), 255 * (xx > width / 2)], axis=2)
    return np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)


def tiny_train_config(image_dir, steps: int = 2, kind: str = "radogaga", metric: str = "ssim", lam: float = 5.0, **fields):
    """The :class:`~rdcodec.train.config.TrainConfig` of a tiny codec run (N = M = 8, 32² crops,
    batch 2, λ1 = λ2 = ``lam``) on ``image_dir``, validated and checkpointed every 2 steps;
    ``fields`` override any field."""
    from rdcodec.train.config import TrainConfig

    objective = {"kind": kind, "metric": metric, "h": "identity", "lambda1": lam, "lambda2": lam}
    defaults = dict(
        train_dirs=[str(image_dir)], val_dir=str(image_dir), network={"N": 8, "M": 8}, objective=objective,
        steps=steps, batch_size=2, crop=32, val_every=2, val_images=2, val_crop=32, checkpoint_every=2, log_every=1,
    )  # fmt: skip
    return TrainConfig(**{**defaults, **fields})


def synthetic_folder(folder: Path, shapes) -> Path:
    """A folder of synthetic images: ``{k}.png`` of ``shapes[k]`` = (height, width), seed k."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for seed, (height, width) in enumerate(shapes):
        Image.fromarray(synthetic_image(height, width, seed=seed)).save(folder / f"{seed}.png")
    return folder


@pytest.fixture
def sample_path() -> Path:
    return SAMPLES / "chelsea.png"


def load_tool(relative: str):
    """A script under ``tools/`` loaded as a module (``load_tool("tools/step_sweep.py")``)."""
    import importlib.util

    path = Path(__file__).resolve().parent.parent / relative
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # as importlib's recipe does: a tool's dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def cpu_flags(monkeypatch):
    """``cpu_flags({...})`` makes rdcodec.model.precision see these /proc/cpuinfo flags
    (None: none readable), its cached answers cleared before and after."""
    from rdcodec.model import precision

    def set_flags(flags):
        precision.usable_bf16.cache_clear()
        monkeypatch.setattr(precision, "_cpu_flags", lambda: None if flags is None else frozenset(flags))

    yield set_flags
    precision.usable_bf16.cache_clear()


def assert_refused(capsys, tool_main, argv, message: str) -> None:
    """A tool's ``parser.error``: ``tool_main(argv)`` exits with status 2 and says ``message`` on stderr."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        tool_main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert message in err, f"{err.strip()!r} does not say {message!r}"
