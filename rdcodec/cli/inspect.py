"""``rdcodec info`` and ``rdcodec models`` (no torch needed)."""

from __future__ import annotations

import json

import click

from rdcodec.cli.files import CommandError, fail, open_registry, read_input


@click.command("info")
@click.argument("source", metavar="FILE")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def info_command(source, as_json):
    """Show the header fields of a .rdc FILE (- for stdin) and its bits per pixel."""
    from rdcodec.format.container import ContainerError, unpack_any

    try:
        parsed = unpack_any(read_input(source))
    except (CommandError, ContainerError) as exc:
        fail(str(exc))
    h = parsed.header
    fields = {
        "file": source,
        "format_version": h.format_version,
        "model_id": h.model_id,
        "model_digest": h.model_digest.hex(),
        "width": h.width,
        "height": h.height,
        "latent_shape": [h.latent_channels, h.latent_height, h.latent_width],
        **(
            {"payload_bytes": h.payload_length}
            if h.format_version == 1
            else {"step_index": h.step_index, "block": h.block, "chunks": [list(c) for c in h.chunks]}
        ),
        **({"layers": list(h.factors), "chunk_layers": list(h.layers)} if h.format_version == 3 else {}),
        "file_bytes": parsed.size,
        "bpp": parsed.bits_per_pixel,
    }
    if as_json:
        click.echo(json.dumps(fields))
        return
    for key, value in fields.items():
        if key == "bpp":
            value = f"{value:.4f}"
        elif key == "latent_shape":
            value = "x".join(map(str, value))
        elif key == "chunks":
            value = ", ".join(f"{k} channels/{n} B" for k, n in value)
        elif key in ("layers", "chunk_layers"):
            value = ",".join(map(str, value))
        click.echo(f"{key:15s} {value}")


@click.command("models")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def models_command(as_json):
    """List the installed models with their measured Kodak figures."""
    try:
        registry = open_registry()
    except CommandError as exc:
        fail(str(exc))
    entries = registry.entries()
    if as_json:
        click.echo(json.dumps({"directory": str(registry.directory), "models": [e.to_dict() for e in entries]}, indent=2))
        return
    if not entries:
        fail(f"no models found in {registry.directory}")
    width = max(26, *(len(e.id) for e in entries))  # the id column fits the longest id
    click.echo(f"{'id':{width}s} {'q':>2s} {'metric':7s} {'bpp v2':>6s} {'bpp v1':>6s} {'PSNR':>6s} {'SSIM':>6s} {'MS-SSIM':>7s}")
    # the ladders first, point by point; then superseded points and grid tables
    ladder_order = lambda e: (e.superseded_by is not None, e.metric or "", e.quality is None, e.quality or 0, e.id)  # noqa: E731
    for e in sorted(entries, key=ladder_order):
        k = e.kodak or {}
        fmt = lambda key, spec: format(k[key], spec) if k.get(key) is not None else "-"  # noqa: E731
        if e.default:
            mark = " (default)"
        elif e.superseded_by is not None:
            mark = f" (superseded by {e.superseded_by}; decodes older files)"
        else:
            mark = " (grid tables, format version 2)" if e.kind == "grid" else ""
        q = "" if e.quality is None else str(e.quality)
        click.echo(
            f"{e.id:{width}s} {q:>2s} {e.metric or '-':7s} {fmt('bpp_v2', '6.3f'):>6s} {fmt('bpp', '6.3f'):>6s} "
            f"{fmt('psnr', '6.2f'):>6s} {fmt('ssim', '6.4f'):>6s} {fmt('ms_ssim', '7.4f'):>7s}{mark}"
        )
    click.echo(
        "(figures: mean over the 24 Kodak images, real file sizes in stream format 2, which encode writes, "
        f"and format 1; models in {registry.directory})"
    )
