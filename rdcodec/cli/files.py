"""Input/output rules shared by the subcommands.

* ``-`` means standard input or standard output (binary);
* an existing output file is refused unless ``--force``; the check happens before any work;
* outputs are written through :mod:`rdcodec.atomic_file` (a temporary file beside the target,
  renamed into place), so a failure never leaves a partial file behind;
* failures print one ``rdcodec: error: …`` line on stderr and exit with status 2.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import NoReturn

import click

from rdcodec import atomic_file

EXIT_BAD_INPUT = 2


class CommandError(Exception):
    """A user-facing failure: one line on stderr, exit status 2."""


def fail(message: str) -> NoReturn:
    """Print ``rdcodec: error: MESSAGE`` (always one line) on stderr and exit with status 2."""
    one_line = " ".join(part.strip() for part in str(message).splitlines() if part.strip())
    click.echo(f"rdcodec: error: {one_line or 'failed'}", err=True)
    sys.exit(EXIT_BAD_INPUT)


def note(message: str) -> None:
    click.echo(f"rdcodec: {message}", err=True)


def read_input(path: str, max_bytes: int | None = None) -> bytes:
    if path == "-":
        return sys.stdin.buffer.read()
    p = Path(path)
    if not p.exists():
        raise CommandError(f"{path}: no such file")
    if p.is_dir():
        raise CommandError(f"{path}: is a directory")
    try:
        return p.read_bytes()
    except OSError as exc:
        raise CommandError(f"{path}: cannot read ({exc.strerror})") from None


def expand_images(items) -> list[Path]:
    """Image files named on the command line; folders expand to the images under them."""
    from rdcodec.image_io import list_images

    paths: list[Path] = []
    for item in items:
        p = Path(item)
        paths.extend(list_images(p) if p.is_dir() else [p])
    if not paths:
        raise CommandError("no images found")
    return paths


def check_output(path: str, force: bool) -> None:
    """Refuse an existing output (before doing any work) unless ``force``."""
    if path == "-":
        return
    p = Path(path)
    if p.is_dir():
        raise CommandError(f"{path}: is a directory")
    if p.exists() and not force:
        raise CommandError(f"{path} exists (use --force to overwrite)")
    if not p.parent.exists():
        raise CommandError(f"{p.parent}: no such directory")


def write_output(path: str, data: bytes, force: bool) -> None:
    """Write ``data`` atomically (:func:`rdcodec.atomic_file.write_bytes`); ``-`` writes to stdout."""
    if path == "-":
        stream = sys.stdout.buffer
        stream.write(data)
        stream.flush()
        return
    check_output(path, force)
    atomic_file.write_bytes(path, data)


_ENTRY_DICTS = ("sha256", "network", "objective")


def open_registry(directory: str | Path | None = None):
    """The model registry in ``directory`` (default: the installed one), its manifest checked.

    A manifest that is not valid JSON, or whose entries lack fields, is a :class:`CommandError`
    naming the file, instead of a traceback from deep inside whatever command read it.
    """
    from rdcodec.zoo.registry import MANIFEST, ModelEntry, Registry

    registry = Registry(directory)
    path = registry.directory / MANIFEST
    if not path.is_file():
        return registry
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CommandError(f"{path}: cannot read ({exc.strerror})") from None
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise CommandError(f"{path}: not a model manifest (not valid JSON)") from None
    models = data.get("models", []) if isinstance(data, dict) else None
    if not isinstance(models, list) or not all(isinstance(m, dict) for m in models):
        raise CommandError(f"{path}: not a model manifest (no list of model entries)")
    required = [
        f.name
        for f in dataclasses.fields(ModelEntry)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    for number, item in enumerate(models, 1):
        missing = [name for name in required if name not in item]
        if missing:
            raise CommandError(f"{path}: model entry {number} lacks {', '.join(missing)}")
        wrong = [
            name for name in _ENTRY_DICTS if not isinstance(item[name], dict) and not (name == "objective" and item[name] is None)
        ]
        if wrong or not all(isinstance(item[name], str) for name in ("id", "name", "weights", "tables", "digest")):
            raise CommandError(f"{path}: model entry {number} ({item['id']!r}) is malformed")
        try:
            ModelEntry.from_dict(item)
        except (TypeError, ValueError, KeyError) as exc:
            raise CommandError(f"{path}: model entry {number} ({item['id']!r}) is malformed ({exc})") from None
    return registry
