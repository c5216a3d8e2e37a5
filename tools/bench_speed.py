#!/usr/bin/env python
"""Whole-process and in-process speed of encode and decode, side by side with AVIF and compressai.

    python tools/bench_speed.py ../shared/data/kodak [--runs 5] [-o docs/bench/speed.json]

All in one run, on the same machine state:

1. ``rdcodec encode kodim01.png -o OUT.rdc`` as a user runs it, one process per image, against
   a one-image Python command that Pillow-encodes the same image as AVIF at speed 6 (quality
   60, about the default model's rate) and writes it; medians of ``--runs`` runs, wall and
   CPU (user + system of the child);
2. ``rdcodec decode OUT.rdc -o OUT.png`` against a Python command that decodes the AVIF file
   with Pillow and writes a PNG;
3. in-process, every image of the folder: ``rdcodec.codec.encode_image``/``decode_stream``
   against compressai's ``FactorizedPrior.compress``/``decompress`` with the same weights,
   same threads (medians per image, ratio rdcodec / compressai);
4. ``rdcodec encode IMAGES... -o DIR/`` (one command for the whole folder) against
   N × the in-process per-image time + 1 s;
5. ``rdcodec --help``: median wall, and whether torch or onnxruntime got imported;
6. ``rdcodec decode`` of an empty file and of a damaged copy of the stream (refused): median wall;
7. the floor under a whole-process decode: medians of a process that only imports what the decode
   path needs (numpy, Pillow, constriction; then onnxruntime too), the synthesis transform alone
   in-process on the decoded latent, and the PNG write alone, so the decode ratio can be split
   into start-up, transform and output.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

AVIF_ENCODE = (
    "import sys\nfrom PIL import Image\n"
    "Image.open(sys.argv[1]).convert('RGB').save(sys.argv[2], format='AVIF', quality=60, speed=6)\n"
)
AVIF_DECODE = "import sys\nfrom PIL import Image\nImage.open(sys.argv[1]).convert('RGB').save(sys.argv[2], format='PNG')\n"
IMPORTS_BASE = "import numpy, PIL.Image, constriction"
IMPORTS_ONNX = "import numpy, PIL.Image, constriction, onnxruntime"
HELP_IMPORTS = (
    "import sys\nfrom rdcodec.cli import main\n"
    "try:\n    main(['--help'], prog_name='rdcodec')\nexcept SystemExit:\n    pass\n"
    "print('torch' in sys.modules, 'onnxruntime' in sys.modules, 'compressai' in sys.modules, file=sys.stderr)\n"
)


def _run(argv: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the child) of one process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _medians_allowing_failure(argv: list[str], runs: int) -> dict:
    walls, codes = [], set()
    for _ in range(runs):
        t0 = time.perf_counter()
        codes.add(subprocess.run(argv, capture_output=True).returncode)
        walls.append(time.perf_counter() - t0)
    return {"wall_s": statistics.median(walls), "exit_status": sorted(codes), "runs": runs}


def _medians(argv: list[str], runs: int) -> dict:
    samples = [_run(argv) for _ in range(runs)]
    return {
        "wall_s": statistics.median(s[0] for s in samples),
        "cpu_s": statistics.median(s[1] for s in samples),
        "runs": runs,
        "walls": [round(s[0], 3) for s in samples],
    }


def _interleaved(commands: dict[str, list[str]], runs: int) -> dict:
    """Medians of each command, runs interleaved (A B A B …) so machine load hits both alike."""
    samples: dict[str, list] = {name: [] for name in commands}
    for _ in range(runs):
        for name, argv in commands.items():
            samples[name].append(_run(argv))
    return {
        name: {
            "wall_s": statistics.median(s[0] for s in runs_),
            "cpu_s": statistics.median(s[1] for s in runs_),
            "walls": [round(s[0], 3) for s in runs_],
        }
        for name, runs_ in samples.items()
    }


def _in_process(folder: Path, threads: int) -> dict:
    import torch

    from rdcodec import codec
    from rdcodec.image_io import list_images, read_image

    sys.path.insert(0, str(ROOT / "tools"))
    from bench_codec import _compressai_timing

    torch.set_num_threads(threads)
    model = codec.load_model(threads=threads)
    rows = []
    for path in list_images(folder):
        pixels = read_image(path).pixels
        codec.decode_stream(codec.encode_image(pixels, model).data, model)  # warm the sessions
        t0 = time.perf_counter()
        result = codec.encode_image(pixels, model)
        t1 = time.perf_counter()
        codec.decode_stream(result.data, model)
        t2 = time.perf_counter()
        c_enc, c_dec, _ = _compressai_timing(model, pixels)
        rows.append(
            {
                "image": path.name,
                "encode_s": t1 - t0,
                "decode_s": t2 - t1,
                "compressai_encode_s": c_enc,
                "compressai_decode_s": c_dec,
            }
        )
    med = {
        k: statistics.median(r[k] for r in rows) for k in ("encode_s", "decode_s", "compressai_encode_s", "compressai_decode_s")
    }
    return {
        "model": model.id,
        "runtime": model.transforms.name,
        "threads": threads,
        "images": len(rows),
        "median": med,
        "encode_ratio": med["encode_s"] / med["compressai_encode_s"],
        "decode_ratio": med["decode_s"] / med["compressai_decode_s"],
        "per_image": rows,
    }


def _decode_parts(rdc: Path, threads: int, runs: int) -> dict:
    """In-process seconds of the two heavy parts of a decode: the synthesis transform and the PNG write."""
    import numpy as np
    from PIL import Image

    from rdcodec import codec
    from rdcodec.format import container

    model = codec.load_model(threads=threads)
    data = rdc.read_bytes()
    pixels = codec.decode_stream(data, model).pixels  # warms the session
    header = container.unpack(data).header
    synth, png = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(runs):
            latent = np.zeros((header.latent_channels, header.latent_height, header.latent_width), np.float32)
            t0 = time.perf_counter()
            model.transforms.synthesis(latent)
            synth.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            Image.fromarray(pixels).save(Path(tmp) / "out.png", format="PNG", compress_level=1)  # as the CLI writes
            png.append(time.perf_counter() - t0)
    return {"synthesis_s": statistics.median(synth), "png_write_s": statistics.median(png), "threads": threads}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("folder", type=Path)
    p.add_argument("--image", default="kodim01.png", help="the image of the one-image commands")
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("-o", "--output", type=Path, default=ROOT / "docs" / "bench" / "speed.json")
    args = p.parse_args(argv)

    rdcodec = str(Path(sys.executable).with_name("rdcodec"))
    python = sys.executable
    image = args.folder / args.image
    record = {
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "load_average_at_start": os.getloadavg()},
        "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "image": args.image,
        "threads": args.threads,
    }
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        rdc, avif = work / "one.rdc", work / "one.avif"
        threads = ["--threads", str(args.threads)]
        record["one_image_encode"] = _interleaved(
            {
                "rdcodec": [rdcodec, "encode", str(image), "-o", str(rdc), "-f", *threads],
                "pillow_avif_speed6": [python, "-c", AVIF_ENCODE, str(image), str(avif)],
            },
            args.runs,
        )
        record["one_image_decode"] = _interleaved(
            {
                "rdcodec": [rdcodec, "decode", str(rdc), "-o", str(work / "one.png"), "-f", *threads],
                "pillow_avif": [python, "-c", AVIF_DECODE, str(avif), str(work / "avif.png")],
            },
            args.runs,
        )
        record["sizes_bytes"] = {"rdcodec": rdc.stat().st_size, "avif": avif.stat().st_size}
        for kind in ("one_image_encode", "one_image_decode"):
            r = record[kind]
            other = next(k for k in r if k != "rdcodec")
            r["wall_ratio"] = r["rdcodec"]["wall_s"] / r[other]["wall_s"]
        record["in_process"] = _in_process(args.folder, args.threads)
        from rdcodec.image_io import list_images

        images = [str(p) for p in list_images(args.folder)]
        batch = _medians([rdcodec, "encode", *images, "-o", f"{work / 'batch'}/", "-f", *threads], max(1, args.runs // 2))
        target = len(images) * record["in_process"]["median"]["encode_s"] + 1.0
        record["batch_encode"] = {"images": len(images), **batch, "target_s": target, "within_target": batch["wall_s"] <= target}
        empty, damaged = work / "empty.rdc", work / "damaged.rdc"
        empty.write_bytes(b"")
        data = bytearray(rdc.read_bytes())
        data[len(data) // 2] ^= 0xFF
        damaged.write_bytes(bytes(data))
        record["refused"] = {
            name: _medians_allowing_failure([rdcodec, "decode", str(path), "-o", str(work / "bad.png")], args.runs)
            for name, path in (("empty_file", empty), ("damaged_payload", damaged))
        }
        help_runs = _medians([rdcodec, "--help"], args.runs)
        out = subprocess.run([python, "-c", HELP_IMPORTS], capture_output=True, text=True, check=True)
        torch_loaded, ort_loaded, compressai_loaded = out.stderr.split()[-3:]
        record["help"] = {
            **help_runs,
            "imports_torch": torch_loaded == "True",
            "imports_onnxruntime": ort_loaded == "True",
            "imports_compressai": compressai_loaded == "True",
        }
        record["decode_floor"] = {
            "imports_numpy_pillow_constriction": _medians([python, "-c", IMPORTS_BASE], args.runs),
            "imports_plus_onnxruntime": _medians([python, "-c", IMPORTS_ONNX], args.runs),
            **_decode_parts(rdc, args.threads, args.runs),
        }
    record["machine"]["load_average_at_end"] = os.getloadavg()
    from rdcodec import atomic_file

    args.output.parent.mkdir(parents=True, exist_ok=True)
    atomic_file.write_json(args.output, record, replace=True)
    summary = {
        k: record[k]["rdcodec"]["wall_s"] if "rdcodec" in record[k] else None for k in ("one_image_encode", "one_image_decode")
    }
    print(json.dumps(summary), f"wrote {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
