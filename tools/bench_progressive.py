#!/usr/bin/env python
"""Progressive decoding: quality against the fraction of the file decoded, rdcodec formats 3
and 2 beside progressive JPEG cut at the same fractions.

    python tools/bench_progressive.py ../shared/data/kodak -o docs/bench/progressive.json \\
        --plot docs/bench/progressive.png

For each image: the default model's format version 3 file (layers 9, 3, 1 and the encoder's
default chunks), its format version 2 file (the default chunk plan, or ``--chunks``), and a
progressive JPEG (Pillow, ``progressive=True``) of the quality whose size is nearest the
version 3 file's. Each file is cut after each fraction f of its bytes: rdcodec decodes the
cut with ``--max-bytes`` semantics (the whole chunks in it); Pillow decodes the cut JPEG with
``ImageFile.LOAD_TRUNCATED_IMAGES`` (``jpeg``; a cut Pillow cannot decode at all counts as a
grey image), and, as a browser would show it, also the cut trimmed back to its last complete
scan (``jpeg_scans``: the better of the two, so JPEG is never judged by a Pillow failure).
PSNR and SSIM against the original, means over the images and per-image wins at 25 %, in
JSON and one plot.
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


def _last_complete_scans(data: bytes) -> bytes | None:
    """The cut JPEG up to its last start-of-scan marker (every scan before it complete), closed
    with an end-of-image marker; ``None`` if no scan started. FF DA cannot occur inside coded
    data (a coded FF byte is followed by 00)."""
    last = data.rfind(b"\xff\xda")
    first = data.find(b"\xff\xda")
    if first < 0 or last == first:
        return None  # not even one whole scan
    return data[:last] + b"\xff\xd9"


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
    from rdcodec.format.layers import DEFAULT_FACTORS
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
        grey = np.full(pixels.shape, 128, np.uint8)
        files = {
            "v3": encode_image_v2(pixels, model, registry, factors=DEFAULT_FACTORS).data,
            "v2": encode_image_v2(pixels, model, registry, chunks=plan).data,
        }
        jpeg = _progressive_jpeg(pixels, len(files["v3"]))
        row = {"image": path.name, "bytes": {k: len(v) for k, v in files.items()}, "jpeg_bytes": len(jpeg), "fractions": []}
        for f in FRACTIONS:
            entry = {"fraction": f}
            for name, data in files.items():
                cut = max(1, int(round(f * len(data))))
                try:
                    out = decode_stream_v2(data[:cut], model, registry, partial=True)
                    rd_pixels, used, chunks = out.pixels, out.bytes_decoded, out.chunks_decoded
                except Exception:  # not even the first chunk: the decoder shows nothing
                    rd_pixels, used, chunks = grey, 0, 0
                q = measure(pixels, rd_pixels)
                entry[name] = {"psnr": q.psnr, "ssim": q.ssim, "bytes_used": used, "chunks": chunks}
            jcut = jpeg[: max(1, int(round(f * len(jpeg))))]
            q_raw = measure(pixels, _decode_jpeg_prefix(jcut, pixels.shape))
            trimmed = _last_complete_scans(jcut)
            q_scans = measure(pixels, _decode_jpeg_prefix(trimmed, pixels.shape)) if trimmed else q_raw
            best = q_scans if q_scans.ssim > q_raw.ssim else q_raw
            entry["jpeg"] = {"psnr": q_raw.psnr, "ssim": q_raw.ssim}
            entry["jpeg_scans"] = {"psnr": best.psnr, "ssim": best.ssim}
            row["fractions"].append(entry)
        rows.append(row)
        at = {fr["fraction"]: fr for fr in row["fractions"]}[0.25]
        print(
            f"{path.name}: v3 {len(files['v3'])} B / v2 {len(files['v2'])} B / JPEG {len(jpeg)} B; at 25 %: SSIM "
            f"v3 {at['v3']['ssim']:.4f}, v2 {at['v2']['ssim']:.4f}, JPEG {at['jpeg']['ssim']:.4f} "
            f"(last whole scans {at['jpeg_scans']['ssim']:.4f})",
            file=sys.stderr,
            flush=True,
        )
    first = read_image(list_images(args.folder)[0]).pixels
    header = unpack_v2(encode_image_v2(first, model, registry, factors=DEFAULT_FACTORS).data).header
    who_all = ("v3", "v2", "jpeg", "jpeg_scans")
    mean = []
    for i, f in enumerate(FRACTIONS):
        point = {"fraction": f}
        for who in who_all:
            for k in ("psnr", "ssim"):
                point[f"{who}_{k}"] = statistics.fmean(r["fractions"][i][who][k] for r in rows)
        for who in ("v3", "v2"):
            point[f"{who}_bytes_used_fraction"] = statistics.fmean(
                r["fractions"][i][who]["bytes_used"] / r["bytes"][who] for r in rows
            )
        mean.append(point)
    at25 = next(m for m in mean if m["fraction"] == 0.25)
    i25 = FRACTIONS.index(0.25)
    wins = {
        against: sum(r["fractions"][i25]["v3"]["ssim"] >= r["fractions"][i25][against]["ssim"] for r in rows)
        for against in ("jpeg", "jpeg_scans")
    }
    record = {
        "schema": "rdcodec.bench-progressive/2",
        "model": model.id,
        "v3_layers": list(header.factors),
        "v3_chunks_of_first_image": [[layer, k, n] for layer, (k, n) in zip(header.layers, header.chunks)],
        "v2_chunk_plan": list(plan) if isinstance(plan, tuple) else plan,
        "images": len(rows),
        "mean_bytes": {k: statistics.fmean(r["bytes"][k] for r in rows) for k in ("v3", "v2")},
        "v3_size_over_v2": statistics.fmean(r["bytes"]["v3"] / r["bytes"]["v2"] - 1 for r in rows),
        "mean_jpeg_bytes": statistics.fmean(r["jpeg_bytes"] for r in rows),
        "acceptance_25_percent": {
            "v3_ssim": at25["v3_ssim"],
            "v2_ssim": at25["v2_ssim"],
            "jpeg_ssim": at25["jpeg_ssim"],
            "jpeg_last_whole_scans_ssim": at25["jpeg_scans_ssim"],
            "v3_wins_per_image": {k: f"{v} of {len(rows)}" for k, v in wins.items()},
            "met": at25["v3_ssim"] >= at25["jpeg_ssim"],
            "met_against_last_whole_scans": at25["v3_ssim"] >= at25["jpeg_scans_ssim"],
        },
        "mean": mean,
        "per_image": rows,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    atomic_file.write_json(args.output, record, replace=True)
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, 2, figsize=(10, 4))
        xs = [100 * m["fraction"] for m in mean]
        for ax, key, label in ((axes[0], "ssim", "SSIM"), (axes[1], "psnr", "PSNR (dB)")):
            ax.plot(xs, [m[f"v3_{key}"] for m in mean], "o-", label=f"rdcodec format 3, layers 9,3,1 ({model.id})")
            ax.plot(xs, [m[f"v2_{key}"] for m in mean], "^-", alpha=0.7, label="rdcodec format 2, chunks by channel")
            ax.plot(xs, [m[f"jpeg_{key}"] for m in mean], "s--", label="progressive JPEG, same size, cut (Pillow)")
            ax.plot(xs, [m[f"jpeg_scans_{key}"] for m in mean], "x:", label="progressive JPEG, cut to its last whole scan")
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
