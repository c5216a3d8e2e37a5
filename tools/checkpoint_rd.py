#!/usr/bin/env python
"""One training checkpoint, swept over the quantization step Δ, against the codecs people use.

    python tools/checkpoint_rd.py CKPT ../shared/data/kodak --steps 0.5,0.7,1,1.4,2,2.8,4 \
        --reference docs/rd/kodak-baselines.json \
        --reference ../shared/anchors/compressai-kodak/compressai-bmshj2018-factorized_ms-ssim_cpu.json \
        -o docs/rd/campaign/long/kodak-stepSTEP.json

The campaign's periodic real-file check (issue 14): the checkpoint is exported into a temporary
registry once per Δ (tables frozen at that Δ, exactly as ``rdcodec export --step`` does), every
image goes through the codec's own encode and decode (``rdcodec.eval.rd_curve.code_image``, the
path of ``rdcodec rd-curve``), and the points form one curve. It is compared with every curve
of the ``--reference`` files (an earlier ``rdcodec rd-curve --json`` report measured on the same
images, such as the Pillow JPEG / WebP / AVIF sweeps; an earlier report of this tool, whose
checkpoint curve is then an anchor too; or a CompressAI published curve), on SSIM-dB,
MS-SSIM-dB and PSNR BD-rate. A curve that several references hold is used once; two
different curves of one name, or a reference at the checkpoint's own step, are refused.

``--format-version 2`` measures the files ``rdcodec encode --format-version 2`` writes: the
network's grid tables are frozen once, each Δ is coded at the grid step nearest it (the points
are named by that step), with the per-image adaptive prior and the default chunks; the curve is
``step-STEP-v2``, so a version 1 report of the same checkpoint can be one of its references.
``--name`` names the curve otherwise (a decoder phase restarts the step count: ``decoder-3000``).

The report is an ``rdcodec rd-curve`` JSON (so it can itself be a ``--reference``) with more
fields: ``checkpoint``, ``step`` (the training step), ``quant_steps`` (the Δ asked for),
``format_version`` and ``summary`` — the BD-rates of
the checkpoint against each reference curve, the one line per check that
``tools/campaign_progress.py --kodak / --cid22`` keeps in the progress log.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def summary(report: dict, curve_name: str) -> dict:
    """{anchor: {axis: BD-rate %}} of ``curve_name`` against every other curve of the report."""
    out: dict[str, dict[str, float]] = {}
    for entry in report["bd_rate"]:
        if entry["curve"] == curve_name:
            out.setdefault(entry["anchor"], {})[entry["axis"]] = entry["bd_rate_percent"]
    return out


def unique_references(curves: list, own_name: str) -> list:
    """The reference curves once each: a curve that two files both hold (the same Pillow sweep
    kept in an earlier report) is kept once; two different curves of one name, or one named
    like the checkpoint's own curve, are refused (a BD-rate table keyed by name would mix them)."""
    kept: dict = {}
    for curve in curves:
        if curve.name == own_name:
            raise ValueError(f"a reference curve is named {own_name!r}, as this checkpoint's own: compare other steps")
        if curve.name in kept:
            if kept[curve.name] != curve:
                raise ValueError(f"two different reference curves are named {curve.name!r}")
            continue
        kept[curve.name] = curve
    return list(kept.values())


def measure_checkpoint(
    checkpoint: Path,
    folder: Path,
    steps: list[float],
    references: list[Path],
    threads: int | None = None,
    progress=True,
    format_version: int = 1,
    name: str | None = None,
) -> dict:
    from rdcodec.eval import rd_curve
    from rdcodec.eval.step_sweep import read_folder, sweep_points
    from rdcodec.image_io import read_image
    from rdcodec.zoo.export import load_trained_network

    image_bytes = read_folder(folder)
    shapes = {name: read_image(data, name=name).pixels.shape[:2] for name, data in image_bytes.items()}
    network, state = load_trained_network(checkpoint)  # loaded once: its step names the curve
    step = int(state["step"])
    name = name or f"step-{step}" + ("" if format_version == 1 else f"-v{format_version}")
    loaded = [curve for r in references for curve in rd_curve.load_reference(r, list(image_bytes), rdcodec_curves=True)]
    refs = unique_references(loaded, name)
    bar = rd_curve.progress_bar(len(steps) * len(image_bytes), progress)
    points = sweep_points(network, state, image_bytes, steps, threads, bar, format_version)
    bar.close()
    curves = [rd_curve.Curve(name, "rdcodec", sorted(points, key=lambda p: p.bpp)), *refs]
    table = rd_curve.bd_table(curves)
    images = [{"name": n, "width": int(w), "height": int(h)} for n, (h, w) in shapes.items()]
    report = rd_curve.to_json(curves, table, images)
    report.update(
        checkpoint=str(checkpoint),
        step=step,
        quant_steps=steps,
        format_version=format_version,
        summary=summary(report, name),
    )
    return report


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("checkpoint", type=Path)
    p.add_argument("folder", type=Path)
    p.add_argument("--steps", default="0.5,0.7,1,1.4,2,2.8,4", help="comma-separated Δ values")
    p.add_argument("--reference", type=Path, action="append", default=[], help="rd-curve JSON or published curve")
    p.add_argument("--threads", type=int, default=0, help="threads (0: the runtime's default)")
    p.add_argument(
        "--format-version",
        type=int,
        choices=(1, 2),
        default=1,
        help="the stream format of the files (2: the network's grid tables at the grid step nearest each Δ, "
        "the per-image adaptive prior, the default chunks; the curve is named step-STEP-v2)",
    )
    p.add_argument(
        "--name", default=None, help="the checkpoint's curve name (default step-STEP, or step-STEP-vN); e.g. for a decoder phase"
    )
    p.add_argument("-o", "--output", type=Path, required=True)
    p.add_argument("--force", action="store_true", help="replace an existing report")
    args = p.parse_args(argv)
    if args.output.exists() and not args.force:
        p.error(f"{args.output} exists (--force replaces it)")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    try:
        steps = [float(s) for s in args.steps.split(",")]
    except ValueError:
        p.error(f"--steps expects comma-separated numbers, not {args.steps!r}")
    from rdcodec import atomic_file
    from rdcodec.eval.rd_curve import ReferenceFileError

    try:
        report = measure_checkpoint(
            args.checkpoint,
            args.folder,
            steps,
            args.reference,
            threads=args.threads or None,
            format_version=args.format_version,
            name=args.name,
        )
    except (OSError, ValueError, ReferenceFileError) as exc:
        print(f"checkpoint_rd: error: {exc}", file=sys.stderr)
        return 2
    args.output.parent.mkdir(parents=True, exist_ok=True)
    try:
        atomic_file.write_json(args.output, report, replace=args.force, indent=1)
    except FileExistsError as exc:  # made while this ran: kept, as the check at the start promised
        print(f"checkpoint_rd: error: {exc} (it appeared while this ran; --force replaces it)", file=sys.stderr)
        return 2
    for anchor, axes in report["summary"].items():
        cells = ", ".join(f"{axis} {value:+.1f} %" for axis, value in axes.items() if value is not None)
        print(f"{report['curves'][0]['name']} against {anchor}: {cells}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
