"""``rdcodec encode`` and ``rdcodec decode``."""

from __future__ import annotations

import io
import json

import click

from rdcodec.cli.files import CommandError, check_output, fail, note, open_registry, read_input, write_output


def _load(model: str | None, quality: int | None, metric: str | None = None):
    from rdcodec.codec import load_model

    if model is not None and quality is not None:
        raise CommandError("give --model or --quality, not both")
    registry = open_registry()
    if quality is not None:
        return load_model(registry.find_quality(quality, metric).id, registry)
    if metric is not None:
        raise CommandError("--metric selects a ladder: give it with --quality")
    return load_model(model, registry)


def _check_ladder(metric: str) -> None:
    """``--metric`` accepts only metrics with an installed ladder (checked before any input is read)."""
    ladders = sorted({e.metric for e in open_registry().entries() if e.quality is not None} - {None})
    if metric not in ladders:
        raise CommandError(f"--metric {metric}: no {metric} ladder is installed (ladders: {', '.join(ladders) or 'none'})")


def _check_searchable(model) -> None:
    """``--search`` needs the model's training D and λ1 (the manifest's objective)."""
    objective = model.entry.objective
    if objective is None or not isinstance(objective.lambda1, (int, float)) or isinstance(objective.lambda1, bool):
        raise CommandError(f"model {model.id} has no training metric and λ1 in its manifest; --search cannot be used with it")


def _user_errors(search: bool = False):
    """The errors a command reports in one line; imports no torch unless ``search``."""
    from rdcodec.format.errors import CodecError
    from rdcodec.image_io import ImageReadError
    from rdcodec.zoo.registry import ModelNotFoundError

    errors = (CommandError, CodecError, ImageReadError, ModelNotFoundError)
    if search:
        from rdcodec.search import SearchError

        errors += (SearchError,)
    return errors


def _max_pixels_option(verb: str):
    from rdcodec.format.container import DEFAULT_MAX_PIXELS

    return click.option(
        "--max-pixels",
        type=click.IntRange(1),
        default=DEFAULT_MAX_PIXELS,
        show_default=True,
        help=f"refuse to {verb} images larger than this many pixels (checked before anything is allocated)",
    )


@click.command("encode")
@click.argument("source", metavar="IN")
@click.option("-o", "--output", required=True, metavar="OUT", help="output .rdc file, or - for stdout")
@click.option("-m", "--model", default=None, help="model id or name (default: the shipped default model)")
@click.option("-q", "--quality", type=int, default=None, help="ladder point: higher is more bits and better quality")
@click.option(
    "--metric",
    default=None,
    help="which installed ladder --quality picks from: ssim or mse with the shipped models "
    "(default: the default model's metric; `rdcodec models` lists the ladders)",
)
@click.option(
    "--search",
    type=click.IntRange(0, 10000),
    default=0,
    show_default=True,
    help="encoder-side RD search: gradient steps per image (slower encoding, same decoder; ~30 is a good value)",
)
@_max_pixels_option("encode")
@click.option("-f", "--force", is_flag=True, help="overwrite OUT if it exists")
@click.option("--json", "as_json", is_flag=True, help="print a JSON summary (to stderr when OUT is -)")
def encode_command(source, output, model, quality, metric, search, max_pixels, force, as_json):
    """Compress image IN (any format Pillow reads; - for stdin) into a .rdc file."""
    errors = _user_errors(search=bool(search))
    try:
        if metric is not None:
            _check_ladder(metric)
        check_output(output, force)
        data = read_input(source)
        from rdcodec.codec import encode_image
        from rdcodec.image_io import read_image

        loaded = read_image(data, max_pixels=max_pixels, name="standard input" if source == "-" else source)
        for line in loaded.notes:
            note(f"note: {line}")
        m = _load(model, quality, metric)
        if search:
            _check_searchable(m)
        result = encode_image(loaded, m, search, max_pixels=max_pixels)
        write_output(output, result.data, force)
    except errors as exc:
        fail(str(exc))
    summary = {
        "input": source,
        "output": output,
        "model": m.id,
        "width": result.width,
        "height": result.height,
        "bytes": len(result.data),
        "bpp": result.bits_per_pixel,
        "estimated_bpp": result.estimated_bpp,
        "escapes": result.escapes,
    }
    if as_json:
        click.echo(json.dumps(summary), err=output == "-")
    else:
        note(
            f"{source} -> {output}: {result.width}x{result.height}, {len(result.data)} bytes, "
            f"{result.bits_per_pixel:.4f} bpp (estimated {result.estimated_bpp:.4f}), model {m.id}"
        )


@click.command("decode")
@click.argument("source", metavar="IN")
@click.option(
    "-o",
    "--output",
    required=True,
    metavar="OUT",
    help="output image (PNG unless the suffix names another lossless format), or - for stdout",
)
@click.option("-f", "--force", is_flag=True, help="overwrite OUT if it exists")
@click.option(
    "--reference", "reference", default=None, metavar="IMAGE", help="also print PSNR, SSIM and MS-SSIM against this original"
)
@_max_pixels_option("decode")
@click.option("--json", "as_json", is_flag=True, help="print a JSON summary (to stderr when OUT is -)")
def decode_command(source, output, force, reference, max_pixels, as_json):
    """Decompress IN (.rdc file, or - for stdin) into an image.

    The file is checked (header, CRCs, model, entropy decoding) before the network is loaded.
    """
    errors = _user_errors()
    try:
        check_output(output, force)
        data = read_input(source)
        from rdcodec.codec import decode_stream

        result = decode_stream(data, registry=open_registry(), max_pixels=max_pixels)
        image_bytes = _encode_output(result.pixels, output)
        quality = None
        if reference is not None:
            from rdcodec.eval.quality import measure
            from rdcodec.image_io import read_image

            ref = read_image(read_input(reference), max_pixels=max_pixels, name=reference).pixels
            if ref.shape != result.pixels.shape:
                raise CommandError(
                    f"--reference is {ref.shape[1]}x{ref.shape[0]}, the decoded image {result.header.width}x{result.header.height}"
                )
            quality = measure(ref, result.pixels)
        write_output(output, image_bytes, force)
    except errors as exc:
        fail(str(exc))
    h = result.header
    summary = {
        "input": source,
        "output": output,
        "model": h.model_id,
        "width": h.width,
        "height": h.height,
        "bpp": result.bits_per_pixel,
    }
    if quality is not None:
        summary.update(psnr=quality.psnr, ssim=quality.ssim, ms_ssim=quality.ms_ssim)
    if as_json:
        click.echo(json.dumps(summary), err=output == "-")
    else:
        line = f"{source} -> {output}: {h.width}x{h.height}, {result.bits_per_pixel:.4f} bpp, model {h.model_id}"
        if quality is not None:
            line += f"; PSNR {quality.psnr:.2f} dB, SSIM {quality.ssim:.4f}, MS-SSIM {quality.ms_ssim:.4f}"
        note(line)


_LOSSLESS = {".png": "PNG", ".bmp": "BMP", ".tif": "TIFF", ".tiff": "TIFF", ".ppm": "PPM"}


def _encode_output(pixels, output: str) -> bytes:
    from pathlib import Path

    from PIL import Image

    suffix = Path(output).suffix.lower() if output != "-" else ".png"
    fmt = _LOSSLESS.get(suffix)
    if fmt is None:
        raise CommandError(f"{output}: decode writes lossless images; use a .png, .bmp, .tif or .ppm name")
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format=fmt)
    return buf.getvalue()
