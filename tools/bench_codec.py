#!/usr/bin/env python
"""Benchmark the codec on a folder of images, through the same code path as ``rdcodec encode/decode``.

    python tools/bench_codec.py ../shared/data/kodak [--model ID] [-o bench.json] [--update-manifest]
    python tools/bench_codec.py --record bench-a.json bench-b.json ...   # store reports made earlier

Per image and as means: real bpp (file size × 8 / pixels), estimated bpp (−Σ log₂ P under the
frozen tables), PSNR, SSIM, MS-SSIM (RGB uint8, pytorch-msssim, window 11, σ 1.5, range 255),
encode and decode seconds; whether the stream decodes to the model's own symbols; where the model
has grid tables, the same image as the format version 2 file ``rdcodec encode`` writes by default
(its real bpp, encode and decode seconds, and whether it decodes to format 1's pixels, which it
does when the model's Δ is a grid step); and a timing of
compressai's own ``FactorizedPrior.compress/decompress`` with the same weights on the same
images (ratio rdcodec / compressai). ``--update-manifest`` stores the means as the model's
``kodak`` figures (``bpp_v2`` among them when every image's format 2 file decodes to format 1's
pixels, so both sizes are of one picture). ``--record`` stores the figures of reports made
earlier (e.g. by benchmarks run side by side without ``--update-manifest``, which would race on
the manifest) in one write, after checking each report is of the installed model (its digest),
of the plain encoder, and not cut short by ``--limit``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _record_type():
    from rdcodec.eval.rd_curve import ImageScore

    @dataclasses.dataclass
    class ImageRecord(ImageScore):
        """rd-curve's per-image score, with the image size, timings and the exactness check."""

        width: int = 0
        height: int = 0
        encode_s: float = 0.0
        decode_s: float = 0.0
        symbols_exact: bool = False
        bpp_v2: float | None = None
        encode_v2_s: float | None = None
        decode_v2_s: float | None = None
        v2_same_pixels: bool | None = None
        compressai_encode_s: float | None = None
        compressai_decode_s: float | None = None
        compressai_bpp: float | None = None

    return ImageRecord


def _compressai_timing(model, pixels):
    import torch
    import torch.nn.functional as F

    from rdcodec.image_tensor import to_tensor
    from rdcodec.model.network import STRIDE, compressai_factorized_prior

    net = _CACHE.get(model.id)
    if net is None:
        net = compressai_factorized_prior(model.network.config, model.network.state_dict())
        _CACHE[model.id] = net
    h, w = pixels.shape[:2]
    x = to_tensor(pixels)
    x = F.pad(x, (0, -w % STRIDE, 0, -h % STRIDE), mode="replicate")
    with torch.no_grad():
        t0 = time.perf_counter()
        out = net.compress(x)
        t1 = time.perf_counter()
        net.decompress(out["strings"], out["shape"])
        t2 = time.perf_counter()
    nbytes = sum(len(s[0]) for s in out["strings"])
    return t1 - t0, t2 - t1, nbytes * 8 / (h * w)


_CACHE: dict = {}  # model id → compressai FactorizedPrior with the same weights


def bench(folder: Path, model_name: str | None, limit: int | None, compare: bool, search: int = 0) -> dict:
    import numpy as np
    import torch

    from rdcodec import codec
    from rdcodec.eval.rd_curve import code_image
    from rdcodec.format import entropy
    from rdcodec.format.container import unpack
    from rdcodec.image_io import list_images, read_image
    from rdcodec.zoo.registry import Registry

    registry = Registry()
    model = codec.load_model(model_name, registry)
    has_grid = registry.has_grid_tables(model.entry)
    paths = list_images(folder)[:limit]
    if not paths:
        raise SystemExit(f"no images in {folder}")
    ImageRecord = _record_type()
    records = []
    for i, path in enumerate(paths):
        loaded = read_image(path)
        pixels = loaded.pixels
        coded = code_image(model, path.name, loaded, search)
        result = coded.encoded
        parsed = unpack(result.data)
        symbols = result.symbols if search else codec.latent_symbols(model, pixels)
        c, h, w = symbols.shape
        exact = bool(np.array_equal(entropy.decode(parsed.payload, model.tables, h * w).reshape(c, h, w), symbols))
        rec = ImageRecord(
            **dataclasses.asdict(coded.score),
            width=result.width,
            height=result.height,
            encode_s=coded.encode_s,
            decode_s=coded.decode_s,
            symbols_exact=exact,
        )
        if has_grid:
            v2 = code_image(model, path.name, loaded, format_version=2, registry=registry)
            rec.bpp_v2, rec.encode_v2_s, rec.decode_v2_s = v2.score.bpp, v2.encode_s, v2.decode_s
            rec.v2_same_pixels = bool(np.array_equal(v2.decoded.pixels, coded.decoded.pixels))
        if compare:
            rec.compressai_encode_s, rec.compressai_decode_s, rec.compressai_bpp = _compressai_timing(model, pixels)
        records.append(rec)
        print(
            f"[{i + 1}/{len(paths)}] {path.name}: {rec.bpp:.4f} bpp (est {rec.estimated_bpp:.4f}), "
            f"PSNR {rec.psnr:.2f}, SSIM {rec.ssim:.4f}, MS-SSIM {rec.ms_ssim:.4f}, "
            f"enc {rec.encode_s:.2f}s dec {rec.decode_s:.2f}s"
            + (f"; format 2: {rec.bpp_v2:.4f} bpp, enc {rec.encode_v2_s:.2f}s" if rec.bpp_v2 is not None else ""),
            file=sys.stderr,
        )

    def mean(key):
        values = [getattr(r, key) for r in records if getattr(r, key) is not None]
        return statistics.fmean(values) if values else None

    summary = {k: mean(k) for k in ("bpp", "estimated_bpp", "psnr", "ssim", "ms_ssim", "encode_s", "decode_s")}
    summary["all_symbols_exact"] = all(r.symbols_exact for r in records)
    if has_grid:
        summary.update({k: mean(k) for k in ("bpp_v2", "encode_v2_s", "decode_v2_s")})
        summary["v2_same_pixels"] = all(r.v2_same_pixels for r in records)
    summary["max_real_over_estimate"] = max(r.bpp / r.estimated_bpp for r in records)
    if compare:
        summary["compressai_encode_s"] = mean("compressai_encode_s")
        summary["compressai_decode_s"] = mean("compressai_decode_s")
        summary["compressai_bpp"] = mean("compressai_bpp")
        summary["encode_time_ratio"] = summary["encode_s"] / summary["compressai_encode_s"]
        summary["decode_time_ratio"] = summary["decode_s"] / summary["compressai_decode_s"]
    return {
        "model": model.id,
        "model_digest": model.entry.digest,
        "folder": str(folder),
        "images": len(records),
        "search_steps": search,
        "torch_threads": torch.get_num_threads(),
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "mean": summary,
        "per_image": [dataclasses.asdict(r) for r in records],
    }


def record_figures(reports: list[dict]) -> list[str]:
    """Store each bench report's means as its model's ``kodak`` figures, in one manifest write.

    A report of another model version than the installed one (digest), of the ``--search``
    encoder, or of a folder cut short by ``--limit`` is refused: the figures are the plain
    encoder's on the whole set. Returns the ids updated.
    """
    from rdcodec.zoo.registry import Registry

    registry = Registry()
    entries = {e.id: e for e in registry.entries()}
    figures_by_id = {}
    for report in reports:
        entry = entries.get(report["model"])
        if entry is None or entry.digest != report["model_digest"]:
            raise ValueError(f"{report['model']}: the report is not of the installed model (digest differs)")
        if report.get("search_steps"):
            raise ValueError(f"{report['model']}: a --search report; the manifest records the plain encoder's figures")
        if report.get("limit") is not None:
            raise ValueError(f"{report['model']}: a --limit report; the manifest records the whole folder's figures")
        m = report["mean"]
        figures = {k: round(m[k], 5) for k in ("bpp", "estimated_bpp", "psnr", "ssim", "ms_ssim")}
        if m.get("v2_same_pixels"):
            figures["bpp_v2"] = round(m["bpp_v2"], 5)
        figures["images"] = report["images"]
        figures_by_id[report["model"]] = figures
    registry.write_manifest(
        [dataclasses.replace(e, kodak=figures_by_id[e.id]) if e.id in figures_by_id else e for e in entries.values()]
    )
    return list(figures_by_id)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path, nargs="?")
    parser.add_argument("--model", default=None, help="model id or name (default model if omitted)")
    parser.add_argument("--limit", type=int, default=None, help="only the first N images")
    parser.add_argument("--no-compressai", action="store_true", help="skip the compressai timing comparison")
    parser.add_argument("-o", "--output", type=Path, default=None, help="write the JSON here (default: stdout)")
    parser.add_argument("--update-manifest", action="store_true", help="store the means as the model's kodak figures")
    parser.add_argument("--search", type=int, default=0, help="encoder-side RD search steps (rdcodec encode --search)")
    parser.add_argument(
        "--record", type=Path, nargs="+", default=None, metavar="REPORT", help="store the figures of bench reports made earlier"
    )
    args = parser.parse_args(argv)
    if args.record:
        if args.folder is not None or args.update_manifest:
            parser.error("--record takes bench reports only: no folder, no --update-manifest")
        for model_id in record_figures([json.loads(path.read_text()) for path in args.record]):
            print(f"manifest: {model_id} kodak figures updated", file=sys.stderr)
        return 0
    if args.folder is None:
        parser.error("give the folder of images to benchmark (or --record REPORT ...)")
    if args.update_manifest and args.search:
        parser.error("--update-manifest records the plain encoder's figures; run it without --search")
    if args.update_manifest and args.limit is not None:
        parser.error("--update-manifest records the whole folder's figures; run it without --limit")
    report = bench(args.folder, args.model, args.limit, not args.no_compressai, args.search)
    report["limit"] = args.limit
    text = json.dumps(report, indent=2)
    if args.output:
        from rdcodec import atomic_file

        args.output.parent.mkdir(parents=True, exist_ok=True)
        atomic_file.write_text(args.output, text + "\n")
    else:
        print(text)
    if args.update_manifest:
        record_figures([report])
        print(f"manifest: {report['model']} kodak figures updated", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
