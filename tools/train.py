#!/usr/bin/env python
"""Train an rdcodec model: ``python tools/train.py --config CONFIG.json --run-dir runs/NAME [--set key=value ...]``.

The config is a JSON object of :class:`rdcodec.train.loop.TrainConfig` fields; ``--set`` overrides
single fields (JSON values; dotted keys reach into ``network`` and ``objective``). Running again
with the same ``--run-dir`` resumes from its checkpoint. Export the result with
``python tools/export_model.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rdcodec.train.config_cli_tmp import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
