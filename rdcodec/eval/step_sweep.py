"""One trained network at several quantization steps Δ, with real files: a rate–distortion curve.

RaDOGAGA's isometry (paper eq. 10) makes Δ a distortion knob: freezing the prior's tables at a
coarser or finer Δ moves one network along a rate–distortion curve. This module measures that
curve exactly as a user would meet it::

    checkpoint ─► load + settle quantiles ─► for each Δ: export into a temporary registry
        (tables frozen at Δ, as ``rdcodec export --step Δ``) ─► rd_curve.score_model
        (read_image ─► encode_image ─► bytes ─► decode_stream ─► measure) ─► Point

Used by ``tools/step_sweep.py`` (pick a model's Δ), ``tools/checkpoint_rd.py`` (the campaign's
periodic check against JPEG / WebP / AVIF) and the objective comparison of
``tools/experiments/objective_isometry.py``.
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Iterator
from pathlib import Path

from rdcodec.eval import rd_curve


def exported_models(network, state: dict, steps: list[float], threads: int | None = None) -> Iterator[tuple[float, object]]:
    """(Δ, loaded :class:`rdcodec.codec.Model`) for each Δ, exported into a temporary registry.

    ``network`` and ``state`` come from :func:`rdcodec.zoo.export.load_trained_network`. The
    temporary registries, and so the models' files, last until the generator is finished.
    """
    from rdcodec import codec
    from rdcodec.zoo.export import export_trained
    from rdcodec.zoo.registry import Registry

    with tempfile.TemporaryDirectory() as tmp:
        for i, step in enumerate(steps):
            registry = Registry(Path(tmp) / f"d{i}")
            entry = export_trained(network, state, registry, f"sweep-d{i}", step=step)
            yield step, codec.load_model(entry.id, registry, threads=threads)


def sweep_points(
    network, state: dict, images: dict[str, bytes], steps: list[float], threads: int | None = None, progress=None
) -> list[rd_curve.Point]:
    """One :class:`~rdcodec.eval.rd_curve.Point` per Δ of ``steps`` (in that order), each named ``Δ=…``.

    ``images`` maps names to encoded image files; ``progress`` is a tqdm-like bar or ``None``.
    """
    return [
        dataclasses.replace(rd_curve.score_model(model, images, progress), setting=f"Δ={step:g}")
        for step, model in exported_models(network, state, steps, threads)
    ]


def sweep_checkpoint(
    checkpoint, images: dict[str, bytes], steps: list[float], threads: int | None = None, progress=None
) -> tuple[list[rd_curve.Point], int]:
    """(points of :func:`sweep_points`, the checkpoint's training step) for a training checkpoint."""
    from rdcodec.zoo.export import load_trained_network

    network, state = load_trained_network(checkpoint)
    return sweep_points(network, state, images, steps, threads, progress), int(state["step"])


def read_folder(folder) -> dict[str, bytes]:
    """{file name: bytes} of every image in ``folder`` (sorted), as rd-curve keys its images."""
    from rdcodec.image_io import list_images

    paths = list_images(Path(folder))
    if not paths:
        raise ValueError(f"{folder}: no images")
    return {p.name: p.read_bytes() for p in paths}
