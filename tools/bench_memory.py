#!/usr/bin/env python
"""Peak memory and time of encode and decode at large sizes, tiled and in one pass, side by side.

    python tools/bench_memory.py [--photos DIR] [--sizes 2048 4096] [-o docs/bench/memory.json]

Each measurement is one whole process under ``/usr/bin/time -v`` (peak resident set size,
wall, user + system CPU):

* ``rdcodec encode`` and ``rdcodec decode`` of a photo-like square image of each size (a
  mosaic of the photographs in ``--photos`` at their own resolution, e.g. Kodak; a synthetic
  image with edges, gradients and noise without them),
  the default model, default tiling;
* the same through this script's ``child`` mode with ``tile = None`` (one pass over the whole
  image, the codec before tiling) for the sizes given by ``--untiled`` (default 2048);
* ``rdcodec decode`` of the 71-byte bomb (a valid header declaring 8192 × 8192 pixels with an
  empty payload, refused) and whether torch was imported to refuse it.

The JSON also records the machine, the threads and the load average at the start, since these
shared machines run training beside the benchmark.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TIME = "/usr/bin/time"


def _photo_like(size: int, photos: Path | None):
    """A size × size mosaic of the photographs in ``photos`` at their own resolution (so the
    image has a photograph's detail per pixel), or a synthetic image without them."""
    import numpy as np

    from rdcodec.image_io import read_rgb_array

    if photos is not None:
        files = sorted(f for f in photos.iterdir() if f.suffix.lower() in (".png", ".jpg", ".jpeg"))
        if not files:
            raise SystemExit(f"bench_memory: no images in {photos}")
        out = np.zeros((size, size, 3), dtype=np.uint8)
        y = x = row_h = k = 0
        while y < size:
            img = read_rgb_array(files[k % len(files)])
            k += 1
            h, w = min(img.shape[0], size - y), min(img.shape[1], size - x)
            out[y : y + h, x : x + w] = img[:h, :w]
            row_h = max(row_h, h)
            x += w
            if x >= size:
                x, y, row_h = 0, y + row_h, 0
        return out
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:size, 0:size] / size
    base = np.stack([np.sin(7 * x + 3 * y), np.cos(5 * y - 2 * x), np.sin(11 * x * y)], axis=-1)
    blocks = rng.random((16, 16, 3))[(y * 16).astype(int), (x * 16).astype(int)]
    img = 0.35 * (base + 1) + 0.3 * blocks + 0.05 * rng.standard_normal((size, size, 3))
    return (np.clip(img, 0, 1) * 255).astype(np.uint8)


def _timed(argv: list[str]) -> dict:
    """Run ``argv`` under /usr/bin/time -v; peak RSS (MB), wall and CPU seconds, exit status."""
    proc = subprocess.run([TIME, "-v", *argv], capture_output=True, text=True)
    info = {}
    for key, pattern in (
        ("peak_rss_mb", r"Maximum resident set size \(kbytes\): (\d+)"),
        ("user_s", r"User time \(seconds\): ([\d.]+)"),
        ("system_s", r"System time \(seconds\): ([\d.]+)"),
        ("wall", r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)"),
    ):
        m = re.search(pattern, proc.stderr)
        info[key] = m.group(1) if m else None
    parts = [float(p) for p in (info.pop("wall") or "0").split(":")]
    wall = sum(p * 60**i for i, p in enumerate(reversed(parts)))
    stderr_lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("rdcodec") or ln.startswith("child")]
    return {
        "argv": [Path(a).name if os.sep in a else a for a in argv],
        "exit_status": proc.returncode,
        "wall_s": round(wall, 2),
        "cpu_s": round(float(info["user_s"] or 0) + float(info["system_s"] or 0), 2),
        "peak_rss_mb": round(int(info["peak_rss_mb"] or 0) / 1024, 1),
        "stdout": proc.stdout.strip()[-300:],
        "messages": stderr_lines[-3:],
    }


def _child(args) -> int:
    """One encode or decode through the library with a given tiling (``--tile 0``: one pass)."""
    from rdcodec import codec
    from rdcodec.image_io import encode_png, read_image

    tile = args.tile or None
    if args.command == "encode":
        loaded = read_image(args.source, max_pixels=args.max_pixels)
        result = codec.encode_image(loaded, codec.load_model(), tile=tile, max_pixels=args.max_pixels)
        Path(args.output).write_bytes(result.data)
    else:
        result = codec.decode_stream(Path(args.source).read_bytes(), tile=tile, max_pixels=args.max_pixels)
        Path(args.output).write_bytes(encode_png(result.pixels))
    print(f"child: {args.command} tile={tile} done", file=sys.stderr)
    return 0


def _bomb(work: Path) -> Path:
    """A valid header for the default model declaring 8192 × 8192 pixels, with no payload."""
    from rdcodec.format.container import DIGEST_BYTES, Header, pack
    from rdcodec.zoo.registry import Registry

    entry = Registry().find()
    header = Header(entry.id, bytes.fromhex(entry.digest)[:DIGEST_BYTES], 8192, 8192, entry.network.M, 512, 512, 0)
    path = work / "bomb.rdc"
    path.write_bytes(pack(header, b""))
    return path


def _bomb_imports(path: Path) -> dict:
    code = (
        "import sys\nfrom rdcodec.cli import main\n"
        "try:\n    main(['decode', sys.argv[1], '-o', sys.argv[2]], prog_name='rdcodec')\n"
        "except SystemExit as e:\n    print(e.code, 'torch' in sys.modules, 'compressai' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(path), str(path.with_suffix(".png"))], capture_output=True, text=True)
    status, torch_loaded, compressai_loaded = out.stdout.split()
    return {
        "exit_status": int(status),
        "torch_imported": torch_loaded == "True",
        "compressai_imported": compressai_loaded == "True",
    }


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["child"]:
        p = argparse.ArgumentParser()
        p.add_argument("mode")
        p.add_argument("command", choices=["encode", "decode"])
        p.add_argument("source")
        p.add_argument("output")
        p.add_argument("--tile", type=int, default=48)
        p.add_argument("--max-pixels", type=int, default=1 << 26)
        return _child(p.parse_args(argv))
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--photos", type=Path, default=None, help="folder of photographs to tile (default: a synthetic image)")
    p.add_argument("--sizes", type=int, nargs="+", default=[2048, 4096])
    p.add_argument("--untiled", type=int, nargs="*", default=[2048], help="sizes also measured in one pass")
    p.add_argument("-o", "--output", type=Path, default=ROOT / "docs" / "bench" / "memory.json")
    args = p.parse_args(argv)

    import torch

    from rdcodec.image_io import encode_png
    from rdcodec.tiling import DEFAULT_TILE

    script = Path(sys.executable).with_name("rdcodec")
    rdcodec_cli = (
        [str(script)] if script.is_file() else [sys.executable, "-c", "from rdcodec.cli import main; main(prog_name='rdcodec')"]
    )
    me = [sys.executable, str(Path(__file__).resolve()), "child"]
    record = {
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "load_average_at_start": os.getloadavg(),
            "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
        },
        "image": f"mosaic of {args.photos}" if args.photos else "synthetic",
        "tile": DEFAULT_TILE,
        "sizes": {},
    }
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for size in args.sizes:
            src = work / f"in-{size}.png"
            src.write_bytes(encode_png(_photo_like(size, args.photos)))
            rdc, png = work / f"{size}.rdc", work / f"{size}.png"
            entry = {
                "pixels": size * size,
                "cli_encode": _timed([*rdcodec_cli, "encode", str(src), "-o", str(rdc), "-f"]),
                "cli_decode": _timed([*rdcodec_cli, "decode", str(rdc), "-o", str(png), "-f"]),
                "stream_bytes": rdc.stat().st_size,
            }
            if size in args.untiled:
                one = work / f"{size}-one.rdc"
                entry["one_pass_encode"] = _timed([*me, "encode", str(src), str(one), "--tile", "0"])
                entry["one_pass_decode"] = _timed([*me, "decode", str(rdc), str(work / "one.png"), "--tile", "0"])
                entry["tiled_encode"] = _timed([*me, "encode", str(src), str(work / f"{size}-t.rdc")])
                entry["tiled_decode"] = _timed([*me, "decode", str(rdc), str(work / "t.png")])
                entry["streams_identical"] = one.read_bytes() == rdc.read_bytes()
            record["sizes"][str(size)] = entry
            print(json.dumps({size: {k: v.get("peak_rss_mb") for k, v in entry.items() if isinstance(v, dict)}}), file=sys.stderr)
        bomb = _bomb(work)
        record["bomb"] = {"bytes": bomb.stat().st_size, **_timed([*rdcodec_cli, "decode", str(bomb), "-o", str(work / "b.png")])}
        record["bomb"].update(_bomb_imports(bomb))
    record["machine"]["load_average_at_end"] = os.getloadavg()
    from rdcodec import atomic_file

    args.output.parent.mkdir(parents=True, exist_ok=True)
    atomic_file.write_json(args.output, record, replace=True)
    print(f"wrote {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
