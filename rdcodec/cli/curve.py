"""``rdcodec rd-curve``."""

from __future__ import annotations

import json
from pathlib import Path

import click

from rdcodec.cli.files import CommandError, check_output, expand_images, fail, note, open_registry, read_input, write_output


@click.command("rd-curve")
@click.argument("images", nargs=-1, required=True)
@click.option("--models", default=None, help="comma-separated model ids, or 'none' (default: every installed model)")
@click.option(
    "--baselines",
    default="jpeg,webp,avif",
    show_default=True,
    help="comma-separated Pillow codecs (jpeg, webp, avif at its default speed 6, avif-speedN for speed N), or 'none'",
)
@click.option("--qualities", default=None, help="comma-separated quality sweep for every baseline (default: per-codec sweeps)")
@click.option(
    "--reference",
    "references",
    multiple=True,
    type=click.Path(dir_okay=False),
    help="published curve in CompressAI's results JSON format, or an earlier rd-curve JSON whose baseline curves are reused (repeatable)",
)
@click.option(
    "--format-version",
    "format_version",
    type=click.Choice(["1", "2"]),
    default=None,
    help="the stream format the models' files are written in, as `rdcodec encode --format-version` writes it "
    "(2: the per-image adaptive prior and the default chunks; each model needs its grid tables); "
    "the curves of format 2 are named rdcodec-METRIC-v2  [default: what `rdcodec encode` writes: 2 where "
    "every model has grid tables, else 1]",
)
@click.option("-o", "--output", "plot_path", default=None, help="plot (PNG), one panel per metric")
@click.option("--json", "json_path", default=None, help="write the curve JSON here (- for stdout)")
@click.option("-f", "--force", is_flag=True, help="overwrite existing outputs")
@click.option("--no-progress", is_flag=True, help="no progress bar")
def rd_curve_command(images, models, baselines, qualities, references, format_version, plot_path, json_path, force, no_progress):
    """Rate-distortion curves of rdcodec models and baselines on IMAGES (files or folders).

    Every installed ladder point is measured unless --models names some (a model's grid entry is
    not a point of its own: --format-version 2 codes each point with it; a superseded point is
    measured only when named).
    """
    from rdcodec.codec import CodecError, load_model
    from rdcodec.eval import baselines as baseline_codecs
    from rdcodec.eval import rd_curve
    from rdcodec.format.container import DEFAULT_MAX_PIXELS
    from rdcodec.image_io import ImageReadError, read_image
    from rdcodec.zoo.registry import ModelNotFoundError

    # Everything a bad argument can break is checked here, before the progress bar and the
    # measurements start; what fails later is a bug, and shows its traceback.
    try:
        if plot_path is None and json_path is None:
            raise CommandError("give -o PLOT.png and/or --json FILE")
        if plot_path is not None and plot_path == json_path:
            raise CommandError("-o and --json name the same file")
        for path in (plot_path, json_path):
            if path is not None:
                check_output(path, force)
        files = expand_images(images)
        image_bytes: dict[str, bytes] = {}
        shapes: dict[str, tuple[int, int]] = {}  # every image decoded once here: an unreadable one stops the run now
        for p in files:
            if p.name in image_bytes:
                raise CommandError(f"two images are named {p.name} (curves are keyed by file name)")
            image_bytes[p.name] = read_input(str(p))
            shapes[p.name] = read_image(p, max_pixels=DEFAULT_MAX_PIXELS).pixels.shape[:2]
        registry = open_registry()
        if models == "none":
            entries = []
        elif models:
            entries = [registry.find(m.strip()) for m in models.split(",")]
        else:
            entries = [e for e in registry.entries() if e.kind != "grid" and e.superseded_by is None]
        for entry in entries:
            if entry.kind == "grid":
                raise CommandError(f"{entry.id} holds grid tables, not a ladder point: name the points it codes")
        version = int(format_version) if format_version else _default_version(registry, entries)
        if version == 2:
            for entry in entries:
                registry.grid_for(entry)  # a point without grid tables cannot write format version 2
        codecs = [] if baselines in ("none", "") else [b.strip() for b in baselines.split(",")]
        for name in codecs:
            if not baseline_codecs.is_known(name):
                raise CommandError(f"unknown baseline {name!r} (known: {baseline_codecs.KNOWN})")
            if not baseline_codecs.available(name):
                raise CommandError(f"this Pillow cannot write {name}")
        sweep = {name: (_qualities(qualities) if qualities else baseline_codecs.default_qualities(name)) for name in codecs}
        refs = [curve for r in references for curve in rd_curve.load_reference(Path(r), list(image_bytes))]
        loaded_models = [(entry, load_model(entry.id, registry)) for entry in entries]
    except (CommandError, CodecError, ImageReadError, ModelNotFoundError, rd_curve.ReferenceFileError) as exc:
        fail(str(exc))

    total = len(image_bytes) * (len(loaded_models) + sum(len(q) for q in sweep.values()))
    bar = rd_curve.progress_bar(total, not no_progress)
    model_points = []
    for entry, model in loaded_models:
        point = rd_curve.score_model(model, image_bytes, bar, format_version=version, registry=registry)
        model_points.append((entry.metric or "model", point))
    curves = rd_curve.rdcodec_curves(model_points, version)
    for name in codecs:
        points = [rd_curve.score_baseline(name, q, image_bytes, bar) for q in sweep[name]]
        curves.append(rd_curve.Curve(name, "baseline", points))
    bar.close()
    curves.extend(refs)
    table = rd_curve.bd_table(curves)
    image_info = [{"name": name, "width": int(w), "height": int(h)} for name, (h, w) in shapes.items()]
    report = rd_curve.to_json(curves, table, image_info)
    plot = rd_curve.plot_png(curves) if plot_path is not None else None  # made before anything is written
    try:
        if json_path is not None:
            write_output(json_path, (json.dumps(report, indent=2) + "\n").encode(), force)
        if plot is not None:
            write_output(plot_path, plot, force)
    except CommandError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"cannot write the outputs ({exc.strerror or exc})")
    note("BD-rate (negative: fewer bits than the anchor at equal quality)")
    click.echo(rd_curve.format_bd_table(table), err=True)


def _default_version(registry, entries) -> int:
    """Format 2 where every measured point has grid tables (as ``rdcodec encode`` then writes
    it), else 1, so that one run measures one format."""
    return 2 if all(registry.has_grid_tables(entry) for entry in entries) else 1


def _qualities(text: str) -> list[int]:
    """``--qualities 20,50,80``: Pillow quality values, 0…100."""
    try:
        values = [int(q) for q in text.split(",")]
    except ValueError:
        raise CommandError(f"--qualities expects comma-separated integers, not {text!r}") from None
    bad = [q for q in values if not 0 <= q <= 100]
    if bad:
        raise CommandError(f"--qualities must lie in 0…100, not {bad[0]}")
    return values
