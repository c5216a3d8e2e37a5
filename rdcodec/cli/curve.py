"""``rdcodec rd-curve``."""

from __future__ import annotations

import json
from pathlib import Path

import click

from rdcodec.cli.files import CommandError, check_output, expand_images, fail, note, read_input, write_output


@click.command("rd-curve")
@click.argument("images", nargs=-1, required=True)
@click.option("--models", default=None, help="comma-separated model ids, or 'none' (default: every installed model)")
@click.option("--baselines", default="jpeg,webp,avif", show_default=True, help="comma-separated Pillow codecs, or 'none'")
@click.option("--qualities", default=None, help="comma-separated quality sweep for every baseline (default: per-codec sweeps)")
@click.option("--reference", "references", multiple=True, type=click.Path(dir_okay=False), help="published curve in CompressAI's results JSON format, or an earlier rd-curve JSON whose baseline curves are reused (repeatable)")
@click.option("-o", "--output", "plot_path", default=None, help="plot (PNG), one panel per metric")
@click.option("--json", "json_path", default=None, help="write the curve JSON here (- for stdout)")
@click.option("-f", "--force", is_flag=True, help="overwrite existing outputs")
@click.option("--no-progress", is_flag=True, help="no progress bar")
def rd_curve_command(images, models, baselines, qualities, references, plot_path, json_path, force, no_progress):
    """Rate-distortion curves of rdcodec models and baselines on IMAGES (files or folders)."""
    from rdcodec.eval import baselines as baseline_codecs
    from rdcodec.eval import rd_curve
    from rdcodec.codec import CodecError, load_model
    from rdcodec.image_io import ImageReadError
    from rdcodec.zoo.registry import ModelNotFoundError, Registry

    try:
        if plot_path is None and json_path is None:
            raise CommandError("give -o PLOT.png and/or --json FILE")
        for path in (plot_path, json_path):
            if path is not None:
                check_output(path, force)
        files = expand_images(images)
        image_bytes = {p.name: read_input(str(p)) for p in files}
        registry = Registry()
        if models == "none":
            entries = []
        elif models:
            entries = [registry.find(m.strip()) for m in models.split(",")]
        else:
            entries = registry.entries()
        codecs = [] if baselines in ("none", "") else [b.strip() for b in baselines.split(",")]
        for name in codecs:
            if name not in baseline_codecs.DEFAULT_QUALITIES:
                raise CommandError(f"unknown baseline {name!r} (known: jpeg, webp, avif)")
            if not baseline_codecs.available(name):
                raise CommandError(f"this Pillow cannot write {name}")
        sweep = {name: ([int(q) for q in qualities.split(",")] if qualities else baseline_codecs.DEFAULT_QUALITIES[name]) for name in codecs}
        refs = [curve for r in references for curve in rd_curve.load_reference(Path(r), list(image_bytes))]

        total = len(image_bytes) * (len(entries) + sum(len(q) for q in sweep.values()))
        bar = rd_curve.progress_bar(total, not no_progress)
        model_points = []
        for entry in entries:
            model = load_model(entry.id, registry)
            model_points.append((entry.objective.get("metric", "model"), rd_curve.score_model(model, image_bytes, bar)))
        curves = rd_curve.rdcodec_curves(model_points)
        for name in codecs:
            points = [rd_curve.score_baseline(name, q, image_bytes, bar) for q in sweep[name]]
            curves.append(rd_curve.Curve(name, "baseline", points))
        bar.close()
        curves.extend(refs)
        table = rd_curve.bd_table(curves)
        from rdcodec.image_io import read_image

        image_info = []
        for name, data in image_bytes.items():
            height, width = read_image(data).pixels.shape[:2]
            image_info.append({"name": name, "width": int(width), "height": int(height)})
        report = rd_curve.to_json(curves, table, image_info)
        if json_path is not None:
            write_output(json_path, (json.dumps(report, indent=2) + "\n").encode(), force)
        if plot_path is not None:
            write_output(plot_path, rd_curve.plot_png(curves), force)
    except (CommandError, CodecError, ImageReadError, ModelNotFoundError, KeyError, TypeError, ValueError) as exc:
        fail(str(exc))
    note("BD-rate (negative: fewer bits than the anchor at equal quality)")
    click.echo(rd_curve.format_bd_table(table), err=True)
