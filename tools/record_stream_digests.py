#!/usr/bin/env python
"""Record the exact streams every shipped model writes for ``samples/*.png``.

    python tools/record_stream_digests.py -o tests/golden/shipped-streams.json

For each registered model and each sample image: the stream's length and SHA-256, through the
public API only (``rdcodec.load_model`` / ``rdcodec.encode``), so the same script runs on any
version of the package. ``tests/test_shipped_streams.py`` re-encodes and compares: a change to
the code that alters a single bit of a shipped model's output fails it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def record(samples: list[Path]) -> dict:
    import rdcodec
    from rdcodec import Registry

    streams = {}
    for entry in Registry().entries():
        model = rdcodec.load_model(entry.id)
        streams[entry.id] = {}
        for path in samples:
            data = rdcodec.encode(str(path), model)
            streams[entry.id][path.name] = {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    return streams


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("-o", "--output", type=Path, required=True)
    args = p.parse_args(argv)
    samples = sorted((ROOT / "samples").glob("*.png"))
    report = {"schema": "rdcodec.shipped-streams/1", "samples": [s.name for s in samples], "streams": record(samples)}
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
