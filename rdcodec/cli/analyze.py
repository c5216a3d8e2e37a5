"""``rdcodec analyze``: latent energy, isometry and traversal figures for a model."""

from __future__ import annotations

import json
from pathlib import Path

import click

from rdcodec.cli.files import CommandError, expand_images, fail, note


def _load_network(model_name, checkpoint):
    """(network, λ2, metric) from a registered model or a training checkpoint."""
    import torch

    from rdcodec.model.network import NetworkConfig, RDAutoencoder

    if checkpoint:
        if not Path(checkpoint).is_file():
            raise CommandError(f"{checkpoint}: no such file")
        state = torch.load(checkpoint, map_location="cpu", weights_only=False)
        net = RDAutoencoder(NetworkConfig.from_dict(state["network"]))
        net.load_state_dict(state["model"])
        objective = state.get("objective", {})
    else:
        from rdcodec.codec import load_model

        model = load_model(model_name)
        net, objective = model.network, model.entry.objective
    return net.eval(), objective.get("lambda2"), objective.get("metric", "ssim")


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


@click.command("analyze")
@click.argument("images", nargs=-1, required=True)
@click.option("-m", "--model", "model_name", default=None, help="registered model id (default model if omitted)")
@click.option("--checkpoint", default=None, help="analyze a training checkpoint instead of a registered model")
@click.option("-o", "--output", required=True, help="output directory for PNG figures and analysis.json")
@click.option("--metric", default=None, help="mse, ssim or ms-ssim (default: the model's training metric)")
@click.option("--crop", default=128, show_default=True, help="centre crop analysed per image")
@click.option("--top", default=9, show_default=True, help="channels (by variance) measured for D'")
@click.option("--delta", default=0.25, show_default=True, help="latent step δ")
@click.option("-f", "--force", is_flag=True, help="write into an existing output directory")
def analyze_command(images, model_name, checkpoint, output, metric, crop, top, delta, force):
    """Energy compaction, isometry (D'_i, random directions, Jacobian Gram) and traversals."""
    from rdcodec.codec import CodecError
    from rdcodec.image_io import ImageReadError
    from rdcodec.zoo.registry import ModelNotFoundError

    out = Path(output)
    try:
        if out.exists() and not force:
            raise CommandError(f"{out} exists (use --force to write into it)")
        paths = expand_images(images)
        net, lambda2, trained_metric = _load_network(model_name, checkpoint)
        metric = metric or trained_metric
        crops = _crops(paths, crop)
    except (CommandError, CodecError, ImageReadError, ModelNotFoundError) as exc:
        fail(str(exc))
    from rdcodec import analysis
    from rdcodec.analysis.figures import energy_figure, isometry_figure, save_png

    energy = analysis.channel_energy(net, crops)
    iso = analysis.isometry(net, crops, metric, top=top, delta=delta, lambda2=lambda2)
    gram = analysis.jacobian_gram(net, crops[:1], metric, channels=iso.channels)
    grid = analysis.traverse(net, crops[0], channels=energy.order[: min(6, top)], reference_images=crops)
    out.mkdir(parents=True, exist_ok=True)
    report = {
        "images": [str(p) for p in paths],
        "crop": crop,
        "metric": metric,
        "lambda2": lambda2,
        "channel_energy": energy._asdict(),
        "top10_energy_share": energy.cumulative_ratio[min(9, len(energy.cumulative_ratio) - 1)],
        "isometry": iso._asdict(),
        "jacobian_gram": gram._asdict(),
    }
    (out / "analysis.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "energy.png").write_bytes(energy_figure(energy))
    (out / "isometry.png").write_bytes(isometry_figure(iso))
    (out / "traversal.png").write_bytes(save_png(grid))
    pred = "n/a" if iso.predicted is None else f"{iso.predicted:.4g} (measured/predicted {iso.measured_over_predicted:.3f})"
    note(
        f"top-10 energy share {report['top10_energy_share']:.3f}; D' mean {iso.mean:.4g}, CV {iso.cv:.3f}, "
        f"predicted {pred}; random-direction correlation {iso.random_direction_correlation:.3f}; "
        f"Gram diagonal CV {gram.diagonal_cv:.3f}, off-diagonal ratio {gram.offdiagonal_ratio:.3f}; wrote {out}"
    )
