"""Rate–distortion curves from real files: rdcodec models, Pillow baselines, published references.

Every rdcodec point goes through exactly the calls ``rdcodec encode`` / ``rdcodec decode`` make
(:func:`rdcodec.image_io.read_image` → :func:`rdcodec.codec.encode_image` →
:func:`rdcodec.codec.decode_stream`; with ``format_version=2``,
:func:`rdcodec.codec_v2.encode_image_v2` with the model's grid, the per-image adaptive prior and
the default chunks, as ``rdcodec encode --format-version 2`` writes); rate is the stream's byte
length × 8 / pixels, with the model's estimate beside it (format version 1 only). Baselines are encoded by Pillow over a quality sweep and scored by
the same :func:`rdcodec.eval.quality.measure`. Metrics are computed per image, then averaged
(bpp too). References are loaded from CompressAI's results JSON format.

Data flow::

    images ─► for each model:    read_image ─► encode_image[_v2] ─► bytes ─► decode_stream ─► measure
           └► for each baseline: for each quality: Pillow save ─► bytes ─► Pillow open ─► measure
    points ─► curves (rdcodec curves grouped by training metric) ─► BD-rate table ─► JSON, plot
"""

from __future__ import annotations

import dataclasses
import math
import statistics
import sys
import time
from pathlib import Path
from typing import NamedTuple

from rdcodec.eval import baselines
from rdcodec.eval.bd_rate import bd_rate, to_db
from rdcodec.eval.quality import measure
from rdcodec.image_io import read_image
from rdcodec.json_file import JSONFileError, read_json_object

SCHEMA = "rdcodec.rd-curve/1"
#: stream format versions a curve can be measured in (3 holds version 2's symbols in layers)
FORMAT_VERSIONS = (1, 2)
METRICS = ("psnr", "ssim", "ms_ssim")
#: BD-rate quality axes: name → (metric key, transform to dB-like units)
BD_AXES = {"ssim-db": ("ssim", to_db), "ms-ssim-db": ("ms_ssim", to_db), "psnr": ("psnr", float)}


@dataclasses.dataclass
class ImageScore:
    image: str
    bytes: int
    bpp: float
    psnr: float
    ssim: float
    ms_ssim: float
    estimated_bpp: float | None = None


@dataclasses.dataclass
class Point:
    setting: str  # model id, or "q=NN"
    bpp: float | None
    psnr: float | None
    ssim: float | None
    ms_ssim: float | None
    estimated_bpp: float | None = None
    per_image: list[ImageScore] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Curve:
    name: str
    kind: str  # "rdcodec" | "baseline" | "reference"
    points: list[Point]

    def values(self, key: str) -> tuple[list[float], list[float]]:
        pts = [p for p in self.points if p.bpp is not None and getattr(p, key) is not None and math.isfinite(getattr(p, key))]
        return [p.bpp for p in pts], [getattr(p, key) for p in pts]


@dataclasses.dataclass
class BdEntry:
    curve: str
    anchor: str
    axis: str
    bd_rate_percent: float | None


def _mean(values):
    values = [v for v in values if v is not None and math.isfinite(v)]
    return statistics.fmean(values) if values else None


def _point(setting: str, scores: list[ImageScore]) -> Point:
    return Point(
        setting=setting,
        bpp=_mean(s.bpp for s in scores),
        psnr=_mean(s.psnr for s in scores),
        ssim=_mean(s.ssim for s in scores),
        ms_ssim=_mean(s.ms_ssim for s in scores),
        estimated_bpp=_mean(s.estimated_bpp for s in scores) if scores and scores[0].estimated_bpp is not None else None,
        per_image=scores,
    )


class CodedImage(NamedTuple):
    """One image through the codec: its score, the two timings, and the stream and decode."""

    score: ImageScore
    encode_s: float
    decode_s: float
    encoded: object  # rdcodec.codec.EncodeResult, or rdcodec.codec_v2.EncodeResultV2
    decoded: object  # rdcodec.codec.DecodeResult


def code_image(model, name: str, loaded, search: int = 0, format_version: int = 1, registry=None) -> CodedImage:
    """Encode and decode one image exactly as ``rdcodec encode`` / ``decode`` do, and score it.

    ``format_version`` 2 writes what ``rdcodec encode --format-version 2`` writes (the grid step
    nearest the model's Δ, the per-image adaptive prior, the default chunks); ``registry`` is
    where the model's grid entry is found (default: the installed models). The one
    encode-and-measure step of rdcodec (``rdcodec rd-curve`` and ``tools/bench_codec.py``).
    """
    from rdcodec.codec import decode_stream, encode_image

    if format_version not in FORMAT_VERSIONS:
        raise ValueError(f"format version {format_version} is not one of {FORMAT_VERSIONS}")
    t0 = time.perf_counter()
    if format_version == 2:
        from rdcodec.codec_v2 import encode_image_v2

        result = encode_image_v2(loaded, model, registry, search=search)
        estimated = None
    else:
        result = encode_image(loaded, model, search)
        estimated = result.estimated_bpp
    t1 = time.perf_counter()
    decoded = decode_stream(result.data, model, registry)
    t2 = time.perf_counter()
    q = measure(loaded.pixels, decoded.pixels)
    score = ImageScore(name, len(result.data), result.bits_per_pixel, *q, estimated_bpp=estimated)
    return CodedImage(score, t1 - t0, t2 - t1, result, decoded)


def score_model(model, images: dict[str, bytes], progress=None, format_version: int = 1, registry=None) -> Point:
    """One rdcodec operating point: the CLI's encode and decode path on every image."""
    scores = []
    for name, data in images.items():
        scores.append(code_image(model, name, read_image(data, name=name), 0, format_version, registry).score)
        if progress:
            progress.update(1)
    return _point(model.id, scores)


def score_baseline(codec_name: str, quality: int, images: dict[str, bytes], progress=None) -> Point:
    scores = []
    for name, data in images.items():
        pixels = read_image(data, name=name).pixels
        result = baselines.encode_decode(codec_name, pixels, quality)
        q = measure(pixels, result.pixels)
        scores.append(ImageScore(name, len(result.data), len(result.data) * 8 / (pixels.shape[0] * pixels.shape[1]), *q))
        if progress:
            progress.update(1)
    return _point(f"q={quality}", scores)


class ReferenceFileError(ValueError):
    """A ``--reference`` file that is not a curve file rdcodec reads (one line, says why)."""


_POINT_FIELDS = {f.name for f in dataclasses.fields(Point)}
_POINT_REQUIRED = {
    f.name for f in dataclasses.fields(Point) if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
}
_SCORE_FIELDS = {f.name for f in dataclasses.fields(ImageScore)}


def _is_value(v) -> bool:
    return v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))


def _report_point(path: Path, curve: str, p) -> Point:
    if not isinstance(p, dict) or not _POINT_REQUIRED <= set(p) <= _POINT_FIELDS:
        raise ReferenceFileError(f"{path}: curve {curve!r} has a malformed point")
    if not all(_is_value(p.get(k)) for k in ("bpp", "psnr", "ssim", "ms_ssim", "estimated_bpp")):
        raise ReferenceFileError(f"{path}: curve {curve!r} has a point with non-numeric values")
    scores = p.get("per_image", [])
    if not isinstance(scores, list) or not all(
        isinstance(s, dict) and set(s) <= _SCORE_FIELDS and _SCORE_FIELDS - {"estimated_bpp"} <= set(s) for s in scores
    ):
        raise ReferenceFileError(f"{path}: curve {curve!r} has malformed per-image scores")
    return Point(**{**p, "per_image": [ImageScore(**s) for s in scores]})


def _report_curves(path: Path, data: dict, image_names: list[str] | None, rdcodec_curves: bool = False) -> list[Curve]:
    images, curves_data = data.get("images", []), data.get("curves")
    if not isinstance(images, list) or not all(isinstance(im, dict) and isinstance(im.get("name"), str) for im in images):
        raise ReferenceFileError(f"{path}: malformed 'images' list")
    if not isinstance(curves_data, list) or not all(isinstance(c, dict) for c in curves_data):
        raise ReferenceFileError(f"{path}: no 'curves' list")
    names = [im["name"] for im in images]
    if image_names is not None and sorted(names) != sorted(image_names):
        raise ReferenceFileError(
            f"{path}: its curves were measured on other images ({len(names)} images, not these {len(image_names)})"
        )
    curves = []
    for c in curves_data:
        if (
            not isinstance(c.get("name"), str)
            or c.get("kind") not in ("rdcodec", "baseline", "reference")
            or not isinstance(c.get("points"), list)
        ):
            raise ReferenceFileError(f"{path}: a curve lacks its name, kind or points")
        if c["kind"] == "rdcodec" and not rdcodec_curves:
            continue
        kind = "reference" if c["kind"] == "rdcodec" else c["kind"]
        curves.append(Curve(c["name"], kind, [_report_point(path, c["name"], p) for p in c["points"]]))
    return curves


def _published_results_curve(path: Path, data: dict) -> Curve:
    res = data.get("results")
    if not isinstance(res, dict) or not isinstance(res.get("bpp"), list):
        raise ReferenceFileError(
            f"{path}: not a curve file (neither an {SCHEMA} report nor CompressAI results with 'results.bpp')"
        )
    bpp = res["bpp"]

    def column(*names):
        for n in names:
            if n in res:
                values = res[n]
                if not isinstance(values, list) or len(values) != len(bpp) or not all(_is_value(v) for v in values):
                    raise ReferenceFileError(f"{path}: results.{n} is not a list of {len(bpp)} numbers, like results.bpp")
                return values
        return None

    if not all(_is_value(v) and v is not None for v in bpp):
        raise ReferenceFileError(f"{path}: results.bpp is not a list of numbers")
    psnr, msssim, ssim = column("psnr-rgb", "psnr"), column("ms-ssim-rgb", "ms-ssim"), column("ssim-rgb", "ssim")
    if psnr is None and msssim is None and ssim is None:
        raise ReferenceFileError(f"{path}: results has no psnr, ssim or ms-ssim column")
    empty = [None] * len(bpp)
    points = [
        Point(f"#{i}", b, p, s, m) for i, (b, p, s, m) in enumerate(zip(bpp, psnr or empty, ssim or empty, msssim or empty))
    ]
    return Curve(f"ref:{path.stem}", "reference", points)


def load_reference(path: Path, image_names: list[str] | None = None, rdcodec_curves: bool = False) -> list[Curve]:
    """Curves to overlay from a JSON file.

    CompressAI's results JSON (``results.bpp``, ``psnr[-rgb]``, ``ms-ssim[-rgb]``) gives one
    ``reference`` curve named ``ref:FILE_STEM`` (CompressAI's ``name`` field repeats across
    its MSE and MS-SSIM files, the file name does not). An earlier ``rdcodec.rd-curve/1`` report gives back its baseline and
    reference curves (so a long baseline sweep is measured once); its images must be
    ``image_names``, or the comparison would be meaningless. With ``rdcodec_curves`` its rdcodec
    curves come back too, as references (to compare a model with an earlier measurement of
    another, as ``tools/checkpoint_rd.py`` does between training steps).

    A file that cannot be read, is not JSON, or has neither layout raises
    :class:`ReferenceFileError` (a ``ValueError``) with a one-line message naming the file.
    """
    path = Path(path)
    try:
        data = read_json_object(path)
    except JSONFileError as exc:
        raise ReferenceFileError(str(exc)) from None
    if data.get("schema") == SCHEMA:
        return _report_curves(path, data, image_names, rdcodec_curves)
    return [_published_results_curve(path, data)]


def bd_table(curves: list[Curve]) -> list[BdEntry]:
    """BD-rate of every rdcodec curve against every baseline and reference, on each axis both have."""
    table = []
    for test in (c for c in curves if c.kind == "rdcodec"):
        for anchor in (c for c in curves if c.kind != "rdcodec"):
            for axis, (key, transform) in BD_AXES.items():
                tr, tq = test.values(key)
                ar, aq = anchor.values(key)
                if len(tr) < 2 or len(ar) < 2:
                    continue
                value = bd_rate(tr, [transform(v) for v in tq], ar, [transform(v) for v in aq])
                table.append(BdEntry(test.name, anchor.name, axis, value))
    return table


def rdcodec_curve_name(metric: str, format_version: int = 1) -> str:
    """``rdcodec-ssim``; a format version 2 curve is ``rdcodec-ssim-v2`` (both can share a report)."""
    return f"rdcodec-{metric}" + ("" if format_version == 1 else f"-v{format_version}")


def rdcodec_curves(points_by_model: list[tuple[str, Point]], format_version: int = 1) -> list[Curve]:
    """Group model points into one curve per training metric, sorted by rate."""
    groups: dict[str, list[Point]] = {}
    for metric, point in points_by_model:
        groups.setdefault(metric, []).append(point)
    return [
        Curve(rdcodec_curve_name(metric, format_version), "rdcodec", sorted(pts, key=lambda p: p.bpp))
        for metric, pts in groups.items()
    ]


def to_json(curves: list[Curve], table: list[BdEntry], images: list[dict]) -> dict:
    return {
        "schema": SCHEMA,
        "images": images,
        "metrics": {
            "ssim": "pytorch-msssim SSIM on RGB uint8, Gaussian window 11, sigma 1.5, data range 255",
            "ms_ssim": "pytorch-msssim MS-SSIM, same settings",
            "psnr": "RGB, peak 255",
            "bpp": "file bytes x 8 / pixels, averaged over images",
        },
        "curves": [dataclasses.asdict(c) for c in curves],
        "bd_rate": [dataclasses.asdict(e) for e in table],
    }


def plot_png(curves: list[Curve]) -> bytes:
    """PNG bytes of one panel per metric (PSNR, SSIM, MS-SSIM) against bpp."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(16, 5))
    labels = {"psnr": "PSNR (dB)", "ssim": "SSIM", "ms_ssim": "MS-SSIM"}
    for ax, key in zip(axes, METRICS):
        for curve in curves:
            rates, values = curve.values(key)
            if not rates:
                continue
            style = {"rdcodec": "-o", "baseline": "--s", "reference": ":^"}[curve.kind]
            order = sorted(range(len(rates)), key=lambda i: rates[i])
            ax.plot([rates[i] for i in order], [values[i] for i in order], style, label=curve.name, markersize=4)
        ax.set_xlabel("bits per pixel (real file size)")
        ax.set_ylabel(labels[key])
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()


def format_bd_table(table: list[BdEntry]) -> str:
    lines = [f"{'curve':22s} {'anchor':34s} {'axis':11s} {'BD-rate':>9s}"]
    for e in table:
        value = "n/a" if e.bd_rate_percent is None else f"{e.bd_rate_percent:+.1f}%"
        lines.append(f"{e.curve:22s} {e.anchor:34s} {e.axis:11s} {value:>9s}")
    return "\n".join(lines)


def progress_bar(total: int, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, file=sys.stderr, disable=not enabled, desc="rd-curve")
