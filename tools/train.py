#!/usr/bin/env python
"""Train an rdcodec model: ``python tools/train.py --config CONFIG.json --run-dir runs/NAME [--set key=value ...]``.

The same command as ``rdcodec train`` (see ``rdcodec train --help``), as a script that
``torchrun --nproc_per_node K tools/train.py ...`` can start for multi-process training.
Export the result with ``rdcodec export runs/NAME/checkpoint.pt --id NAME``.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rdcodec.cli import main  # noqa: E402

if __name__ == "__main__":
    main(["train", *sys.argv[1:]], prog_name="rdcodec")
