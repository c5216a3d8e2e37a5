#!/usr/bin/env python
"""Add the grid entry (format version 2) of every registered network to the manifest.

    python tools/ship_grid_tables.py [--models-dir models]

For each weights file in the manifest, one entry ``STEM-grid`` whose tables file holds the
network's frozen tables at every step of :func:`rdcodec.zoo.export.grid_steps` and its channel
importance order (:func:`rdcodec.zoo.export.export_grid`). No retraining; version 1 entries
and their streams are unchanged.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models-dir", type=Path, default=None)
    args = p.parse_args(argv)

    from rdcodec.zoo.export import export_grid
    from rdcodec.zoo.registry import Registry

    registry = Registry(args.models_dir)
    done = set()
    for entry in registry.entries():
        if entry.kind != "tables" or entry.weights in done:
            continue
        done.add(entry.weights)
        t0 = time.perf_counter()
        grid = export_grid(registry, entry)
        size = (registry.directory / grid.tables).stat().st_size
        print(f"{grid.id}: {grid.tables}, {size / 1e6:.2f} MB, {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
