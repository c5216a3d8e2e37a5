"""Command-line front end of :mod:`rdcodec.train.loop` (``tools/train.py``, ``rdcodec train``)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def apply_override(config: dict, assignment: str) -> None:
    """Set ``a.b=value`` in a nested dict; ``value`` is JSON, or a plain string if not JSON."""
    key, sep, raw = assignment.partition("=")
    if not sep:
        raise ValueError(f"--set expects key=value, got {assignment!r}")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    *parents, leaf = key.split(".")
    node = config
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Train a RaDOGAGA image codec model (paper eq. 5).")
    parser.add_argument("--config", type=Path, help="JSON file of TrainConfig fields")
    parser.add_argument("--run-dir", type=Path, required=True, help="directory for checkpoint and logs (resumes)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config field")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)

    config: dict = {}
    if args.config:
        config = json.loads(args.config.read_text())
    for item in args.set:
        apply_override(config, item)

    from rdcodec.train.loop import TrainConfig, train

    try:
        cfg = TrainConfig.from_dict(config)
    except (TypeError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    train(cfg, args.run_dir, progress=not args.no_progress)
    return 0
