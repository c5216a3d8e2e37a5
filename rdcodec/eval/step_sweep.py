"""One trained network at several quantization steps Δ, with real files: a rate–distortion curve.

RaDOGAGA's isometry (paper eq. 10) makes Δ a distortion knob: freezing the prior's tables at a
coarser or finer Δ moves one network along a rate–distortion curve. This module measures that
curve exactly as a user would meet it::

    checkpoint ─► load + settle quantiles ─► for each Δ: export into a temporary registry
        (tables frozen at Δ, as ``rdcodec export --step Δ``; format version 2: and the grid
        tables, coded at the grid step nearest Δ) ─► rd_curve.score_model
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
from typing import NamedTuple

from rdcodec.eval import rd_curve


class ExportedStep(NamedTuple):
    """One Δ of a sweep: the network exported with its tables frozen at ``step``."""

    step: float  # the Δ asked for
    model: object  # rdcodec.codec.Model
    registry: object  # rdcodec.zoo.registry.Registry holding it (and, for format version 2, its grid)
    coded_step: float  # the Δ its files are coded at: ``step``, or the grid step nearest it in format version 2


def exported_models(
    network, state: dict, steps: list[float], threads: int | None = None, format_version: int = 1
) -> Iterator[ExportedStep]:
    """An :class:`ExportedStep` for each Δ of ``steps``, exported into a temporary registry.

    ``network`` and ``state`` come from :func:`rdcodec.zoo.export.load_trained_network`. With
    ``format_version`` 2 the network's grid tables are frozen once (as ``tools/ship_grid_tables.py``
    does) and every Δ is coded at the grid step nearest it; a Δ outside the grid is refused. The
    temporary registries, and so the models' files, last until the generator is finished.
    """
    from rdcodec import codec
    from rdcodec.codec_v2 import grid_of
    from rdcodec.zoo.export import export_grid, export_trained, grid_steps
    from rdcodec.zoo.registry import Registry

    if format_version not in rd_curve.FORMAT_VERSIONS:
        raise ValueError(f"format version {format_version} is not one of {rd_curve.FORMAT_VERSIONS}")
    if format_version == 2:
        grid = grid_steps()
        outside = [s for s in steps if not grid[0] <= s <= grid[-1]]
        if outside:
            raise ValueError(f"Δ {outside[0]:g} is outside the grid of format version 2 ({grid[0]:.3g} … {grid[-1]:.3g})")
    with tempfile.TemporaryDirectory() as tmp:
        shared = Registry(Path(tmp) / "grid") if format_version == 2 else None
        for i, step in enumerate(steps):
            registry = shared or Registry(Path(tmp) / f"d{i}")
            entry = export_trained(network, state, registry, f"sweep-d{i}", step=step)
            if shared is not None and i == 0:  # one grid for the network: every Δ's entry shares its weights file
                export_grid(registry, entry)
            model = codec.load_model(entry.id, registry, threads=threads)
            coded = step
            if shared is not None:  # the step encode_image_v2 codes this model at
                coding = grid_of(model, registry).grid
                coded = float(coding.steps[coding.nearest_index(model.step)])
            yield ExportedStep(step, model, registry, coded)


def sweep_points(
    network,
    state: dict,
    images: dict[str, bytes],
    steps: list[float],
    threads: int | None = None,
    progress=None,
    format_version: int = 1,
) -> list[rd_curve.Point]:
    """One :class:`~rdcodec.eval.rd_curve.Point` per Δ of ``steps`` (in that order), each named
    ``Δ=…`` after the step its files are coded at.

    ``images`` maps names to encoded image files; ``progress`` is a tqdm-like bar or ``None``;
    ``format_version``: see :func:`exported_models`.
    """
    return [
        dataclasses.replace(
            rd_curve.score_model(x.model, images, progress, format_version, x.registry), setting=f"Δ={x.coded_step:.4g}"
        )
        for x in exported_models(network, state, steps, threads, format_version)
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
