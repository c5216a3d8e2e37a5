#!/usr/bin/env python
"""Write the ONNX graphs of registered models from their weights and list them in the manifest.

    python tools/ship_runtime_graphs.py [--models-dir models] [--models ID,...]

How the shipped models got their graphs (issue 17): no retraining, the model digests and so
every stream unchanged (:func:`rdcodec.zoo.export.add_runtime_graphs`). Ladder points that
share a weights file share its graphs. New exports write graphs themselves.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models-dir", type=Path, default=None)
    p.add_argument("--models", default=None, help="comma-separated ids (default: all)")
    args = p.parse_args(argv)

    from rdcodec.zoo.export import add_runtime_graphs
    from rdcodec.zoo.registry import Registry

    registry = Registry(args.models_dir)
    wanted = set(args.models.split(",")) if args.models else None
    for entry in registry.entries():
        if wanted is None or entry.id in wanted:
            updated = add_runtime_graphs(registry, entry)
            print(f"{entry.id}: {updated.runtime['analysis']}, {updated.runtime['synthesis']}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
