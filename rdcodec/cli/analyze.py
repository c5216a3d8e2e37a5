"""``rdcodec analyze``: latent energy, isometry and traversal figures for a model.

The four outputs (``analysis.json`` and three PNG figures) are computed in full first, then
written together through :mod:`rdcodec.atomic_file`: a failure writes none of them.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import click

from rdcodec.cli.files import CommandError, expand_images, fail, note, open_registry
from rdcodec.format.container import LATENT_STRIDE
from rdcodec.settings import METRICS

#: the files one analysis writes into its output directory
OUTPUT_FILES = ("analysis.json", "energy.png", "isometry.png", "traversal.png")
#: pytorch-msssim's MS-SSIM needs a smaller side over (window 11 − 1) × 2⁴ (four downsamplings)
MS_SSIM_MIN_SIDE = 160


def _crops(paths, size):
    import numpy as np

    from rdcodec.image_io import read_image

    crops = []
    for p in paths:
        px = read_image(p).pixels
        h, w = px.shape[:2]
        if min(h, w) < size:
            raise CommandError(f"{p} is smaller than the {size}x{size} analysis crop")
        y, x = (h - size) // 2, (w - size) // 2
        crops.append(np.ascontiguousarray(px[y : y + size, x : x + size]))
    return crops


def _check_output_dir(out: Path, force: bool) -> None:
    """Refuse (before any work) a file, or a directory holding an earlier analysis unless ``force``."""
    if out.exists() and not out.is_dir():
        raise CommandError(f"{out}: not a directory")
    if not force:
        for name in OUTPUT_FILES:
            if (out / name).exists():
                raise CommandError(f"{out / name} exists (use --force to overwrite)")
    parent = next((p for p in (out, *out.parents) if p.exists()), None)
    if parent is not None and not parent.is_dir():
        raise CommandError(f"{parent}: not a directory")


def _write_all(out: Path, files: dict[str, bytes]) -> None:
    """Write every file atomically; the renames happen only once all of them are written."""
    from rdcodec import atomic_file

    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    try:
        with contextlib.ExitStack() as stack:
            for name, data in files.items():
                stack.enter_context(atomic_file.replacing(out / name)).write_bytes(data)
    except BaseException:
        if created:
            with contextlib.suppress(OSError):
                out.rmdir()  # only if still empty
        raise


@click.command("analyze")
@click.argument("images", nargs=-1, required=True)
@click.option("-m", "--model", "model_name", default=None, help="registered model id (default model if omitted)")
@click.option(
    "--checkpoint",
    default=None,
    type=click.Path(dir_okay=False),
    help="analyze a training checkpoint instead of a registered model",
)
@click.option(
    "-o", "--output", required=True, type=click.Path(file_okay=False), help="output directory for PNG figures and analysis.json"
)
@click.option(
    "--metric", type=click.Choice(METRICS), default=None, help="distortion D measured (default: the model's training metric)"
)
@click.option(
    "--crop", type=click.IntRange(min=LATENT_STRIDE), default=128, show_default=True, help="centre crop analysed per image"
)
@click.option("--top", type=click.IntRange(min=1), default=9, show_default=True, help="channels (by variance) measured for D'")
@click.option("--delta", type=click.FloatRange(min=0, min_open=True), default=0.25, show_default=True, help="latent step δ")
@click.option("-f", "--force", is_flag=True, help="overwrite the analysis files of an earlier run in the output directory")
def analyze_command(images, model_name, checkpoint, output, metric, crop, top, delta, force):
    """Energy compaction, isometry (D'_i, random directions, Jacobian Gram) and traversals."""
    from rdcodec.analysis.report import objective_lambda2
    from rdcodec.codec import CodecError
    from rdcodec.image_io import ImageReadError
    from rdcodec.train.checkpoint import CheckpointError
    from rdcodec.zoo.network_source import load_network_source
    from rdcodec.zoo.registry import ModelNotFoundError

    out = Path(output)
    try:
        _check_output_dir(out, force)
        if checkpoint and model_name:
            raise CommandError("give --model or --checkpoint, not both")
        paths = expand_images(images)
        source = load_network_source(model_name, checkpoint, open_registry())
        net, lambda2 = source.network, objective_lambda2(source.objective)
        trained_metric = source.objective.get("metric", "ssim")
        metric = metric or trained_metric
        if metric not in METRICS:
            raise CommandError(f"the model's training metric {metric!r} is not one of {', '.join(METRICS)}: give --metric")
        if metric == "ms-ssim" and crop <= MS_SSIM_MIN_SIDE:
            raise CommandError(f"ms-ssim needs a crop over {MS_SSIM_MIN_SIDE} pixels (got --crop {crop})")
        crops = _crops(paths, crop)
    except (CommandError, CheckpointError, CodecError, ImageReadError, ModelNotFoundError) as exc:
        fail(str(exc))
    from rdcodec import analysis
    from rdcodec.analysis.figures import energy_figure, isometry_figure, save_png

    latent = analysis.latent_report(net, crops, metric, lambda2, top=top, delta=delta)
    energy, iso, gram = latent.energy, latent.isometry, latent.gram
    grid = analysis.traverse(net, crops[0], channels=energy.order[: min(6, top)], reference_images=crops)
    report = {"images": [str(p) for p in paths], "crop": crop, **latent.to_dict()}
    files = {
        "analysis.json": (json.dumps(report, indent=2) + "\n").encode("utf-8"),
        "energy.png": energy_figure(energy),
        "isometry.png": isometry_figure(iso),
        "traversal.png": save_png(grid),
    }
    try:
        _write_all(out, files)
    except OSError as exc:
        fail(f"{out}: cannot write ({exc.strerror or exc})")
    pred = "n/a" if iso.predicted is None else f"{iso.predicted:.4g} (measured/predicted {iso.measured_over_predicted:.3f})"
    note(
        f"top-10 energy share {report['top10_energy_share']:.3f}; D' mean {iso.mean:.4g}, CV {iso.cv:.3f}, "
        f"predicted {pred}; random-direction correlation {iso.random_direction_correlation:.3f}; "
        f"Gram diagonal CV {gram.diagonal_cv:.3f}, off-diagonal ratio {gram.offdiagonal_ratio:.3f}; wrote {out}"
    )
