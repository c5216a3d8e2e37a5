#!/usr/bin/env python
"""Progressive decoding: quality against the fraction of the file decoded, rdcodec format 2
beside progressive JPEG cut at the same fractions.

    python tools/bench_progressive.py ../shared/data/kodak -o docs/bench/progressive.json \\
        --plot docs/bench/progressive.png

For each image: the default model's format version 2 file (``--chunks`` as given, default the
encoder's default plan), and a progressive JPEG (Pillow, ``progressive=True``) of the quality
whose size is nearest that file's. Each file is cut after each fraction f of its bytes:
rdcodec decodes the cut with ``--max-bytes`` semantics (the whole chunks in it), Pillow decodes
the cut JPEG with ``ImageFile.LOAD_TRUNCATED_IMAGES``. PSNR and SSIM of both against the
original, means over the images, in JSON and one plot.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FRACTIONS = (0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.75, 0.9, 1.0)


def _progressive_jpeg(pixels: np.ndarray, target_bytes: int) -> bytes:
    from PIL import Image

    image = Image.fromarray(pixels)
    best = None
    lo, hi = 1, 95
    while lo <= hi:  # size grows with quality: bisect for the nearest size
        q = (lo + hi) // 2
        buf = io.BytesIO()
        image.save(buf, format="JPEG", quality=q, progressive=True)
        data = buf.getvalue()
        if best is None or abs(len(data) - target_bytes) < abs(len(best) - target_bytes):
            best = data
        if len(data) < target_bytes:
            lo = q + 1
        else:
            hi = q - 1
    return best


def _decode_jpeg_prefix(data: bytes, shape) -> np.ndarray:
    from PIL import Image, ImageFile

    ImageFile.LOAD_TRUNCATED_IMAGES = True
    try:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
            out = np.asarray(im.convert("RGB"))
        return out if out.shape == shape else np.full(shape, 128, np.uint8)
    except (OSError, SyntaxError):  # not even the header: nothing to show
        return np.full(shape, 128, np.uint8)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("folder", type=Path)
    p.add_argument(
        "--chunks",
        default=None,
        help="chunk count K, or channel counts a,b,c,... (default: the encoder's default plan)",
    )
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("-o", "--output", type=Path, required=True)
    p.add_argument("--plot", type=Path, default=None)
    args = p.parse_args(argv)

    from rdcodec import atomic_file, codec
    from rdcodec.codec_v2 import DEFAULT_CHUNKS, decode_stream_v2, encode_image_v2
    from rdcodec.eval.quality import measure
    from rdcodec.format.container import unpack_v2
    from rdcodec.image_io import list_images, read_image
    from rdcodec.zoo.registry import Registry

    registry = Registry()
    model = codec.load_model(registry=registry, threads=args.threads)
    plan = DEFAULT_CHUNKS
    if args.chunks:
        plan = int(args.chunks) if "," not in args.chunks else tuple(int(k) for k in args.chunks.split(","))
    rows = []
    for path in list_images(args.folder)[: args.limit]:
        pixels = read_image(path).pixels
        data = encode_image_v2(pixels, model, registry, chunks=plan).data
        jpeg = _progressive_jpeg(pixels, len(data))
        row = {"image": path.name, "rdc_bytes": len(data), "jpeg_bytes": len(jpeg), "fractions": []}
        for f in FRACTIONS:
            cut = max(1, int(round(f * len(data))))
            try:
                out = decode_stream_v2(data[:cut], model, registry, partial=True)
                rd_pixels, used, chunks = out.pixels, out.bytes_decoded, out.chunks_decoded
            except Exception:  # not even the first chunk: the decoder shows nothing
                rd_pixels, used, chunks = np.full(pixels.shape, 128, np.uint8), 0, 0
            jp = _decode_jpeg_prefix(jpeg[: max(1, int(round(f * len(jpeg))))], pixels.shape)
            q_rd, q_jp = measure(pixels, rd_pixels), measure(pixels, jp)
            row["fractions"].append(
                {
                    "fraction": f,
                    "rdcodec": {"psnr": q_rd.psnr, "ssim": q_rd.ssim, "bytes_used": used, "chunks": chunks},
                    "jpeg": {"psnr": q_jp.psnr, "ssim": q_jp.ssim},
                }
            )
        rows.append(row)
        at = {fr["fraction"]: fr for fr in row["fractions"]}[0.25]
        print(
            f"{path.name}: {len(data)} B / JPEG {len(jpeg)} B; at 25 %: SSIM {at['rdcodec']['ssim']:.4f} "
            f"({at['rdcodec']['chunks']} chunks) vs JPEG {at['jpeg']['ssim']:.4f}",
            file=sys.stderr,
            flush=True,
        )
    header = unpack_v2(encode_image_v2(read_image(list_images(args.folder)[0]).pixels, model, registry, chunks=plan).data).header
    mean = []
    for i, f in enumerate(FRACTIONS):
        mean.append(
            {
                "fraction": f,
                **{
                    f"{who}_{k}": statistics.fmean(r["fractions"][i][who][k] for r in rows)
                    for who in ("rdcodec", "jpeg")
                    for k in ("psnr", "ssim")
                },
                "rdcodec_bytes_used_fraction": statistics.fmean(
                    r["fractions"][i]["rdcodec"]["bytes_used"] / r["rdc_bytes"] for r in rows
                ),
            }
        )
    at25 = next(m for m in mean if m["fraction"] == 0.25)
    record = {
        "schema": "rdcodec.bench-progressive/1",
        "model": model.id,
        "chunk_plan": [k for k, _ in header.chunks],
        "images": len(rows),
        "mean_rdc_bytes": statistics.fmean(r["rdc_bytes"] for r in rows),
        "mean_jpeg_bytes": statistics.fmean(r["jpeg_bytes"] for r in rows),
        "acceptance_25_percent": {
            "rdcodec_ssim": at25["rdcodec_ssim"],
            "jpeg_ssim": at25["jpeg_ssim"],
            "met": at25["rdcodec_ssim"] >= at25["jpeg_ssim"],
        },
        "mean": mean,
        "per_image": rows,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    atomic_file.write_text(args.output, json.dumps(record, indent=2) + "\n")
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, 2, figsize=(10, 4))
        xs = [100 * m["fraction"] for m in mean]
        for ax, key, label in ((axes[0], "ssim", "SSIM"), (axes[1], "psnr", "PSNR (dB)")):
            ax.plot(xs, [m[f"rdcodec_{key}"] for m in mean], "o-", label=f"rdcodec format 2 ({model.id}, --partial)")
            ax.plot(xs, [m[f"jpeg_{key}"] for m in mean], "s--", label="progressive JPEG of the same size, cut")
            ax.set_xlabel("% of the file decoded")
            ax.set_ylabel(label)
            ax.grid(alpha=0.3)
        axes[0].legend(fontsize=8)
        fig.suptitle(f"Kodak ({len(rows)} images): quality from a prefix of the file")
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=110)
        atomic_file.write_bytes(args.plot, buf.getvalue())
    print(json.dumps(record["acceptance_25_percent"]), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
