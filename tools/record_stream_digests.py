#!/usr/bin/env python
"""Record the exact streams every shipped model writes for ``samples/*.png``.

    python tools/record_stream_digests.py -o tests/golden/shipped-streams.json
    python tools/record_stream_digests.py -o tests/golden/shipped-streams.json --new-only

For each registered model and each sample image: the stream's length and SHA-256, through the
public API only (``rdcodec.load_model`` / ``rdcodec.encode``), so the same script runs on any
version of the package; and, under ``streams_v2``, the format version 2 stream of each ladder
point (``rdcodec.codec_v2.encode_image_v2``, default chunks and blocks). ``tests/test_shipped_streams.py`` re-encodes and compares: a change to
the code that alters a single bit of a shipped model's output fails it. ``--new-only`` keeps every
recorded stream as it is and records only the models the record lacks (a newly shipped ladder),
so that shipping never rewrites the record an older model is checked against.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def write_report(path: Path, report: dict) -> None:
    """Write the record whole or not at all (a temporary file renamed onto it), with the standard
    library alone: this script runs against any installed version of the package."""
    tmp = path.with_name(f".{path.name}.partial")
    tmp.write_text(json.dumps(report, indent=2) + "\n")
    os.replace(tmp, path)


def record(samples: list[Path], skip=frozenset()) -> dict:
    import rdcodec
    from rdcodec import Registry

    streams = {}
    for entry in Registry().entries():
        if getattr(entry, "kind", "tables") != "tables" or entry.id in skip:
            continue
        model = rdcodec.load_model(entry.id)
        streams[entry.id] = {}
        for path in samples:
            data = rdcodec.encode(str(path), model)
            streams[entry.id][path.name] = {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    return streams


def record_v2(samples: list[Path], skip=frozenset()) -> dict:
    import rdcodec
    from rdcodec import Registry
    from rdcodec.codec_v2 import encode_image_v2

    registry = Registry()
    streams = {}
    for entry in registry.entries():
        if entry.kind != "tables" or entry.id in skip:
            continue
        model = rdcodec.load_model(entry.id, registry)
        streams[entry.id] = {}
        for path in samples:
            data = encode_image_v2(str(path), model, registry).data
            streams[entry.id][path.name] = {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    return streams


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("-o", "--output", type=Path, required=True)
    p.add_argument("--v2-only", action="store_true", help="keep the recorded version 1 streams; record streams_v2")
    p.add_argument("--new-only", action="store_true", help="keep every recorded stream; record the models it lacks")
    args = p.parse_args(argv)
    samples = sorted((ROOT / "samples").glob("*.png"))
    if args.new_only:
        report = json.loads(args.output.read_text())
        if report["samples"] != [s.name for s in samples]:
            p.error("samples/ changed since the record was made: record everything anew")
        report["streams"].update(record(samples, skip=frozenset(report["streams"])))
        report["streams_v2"].update(record_v2(samples, skip=frozenset(report["streams_v2"])))
        write_report(args.output, report)
        return 0
    if args.v2_only:
        report = json.loads(args.output.read_text())
    else:
        report = {"schema": "rdcodec.shipped-streams/1", "samples": [s.name for s in samples], "streams": record(samples)}
    report["streams_v2"] = record_v2(samples)
    write_report(args.output, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
