"""Input/output rules shared by the subcommands.

* ``-`` means standard input or standard output (binary);
* an existing output file is refused unless ``--force``; the check happens before any work;
* outputs are written through :mod:`rdcodec.atomic_file` (a temporary file beside the target,
  renamed into place), so a failure never leaves a partial file behind;
* failures print one ``rdcodec: error: …`` line on stderr and exit with status 2.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import NoReturn

import click

from rdcodec import atomic_file

EXIT_BAD_INPUT = 2


class CommandError(Exception):
    """A user-facing failure: one line on stderr, exit status 2."""


def error_line(message: str) -> None:
    """Print ``rdcodec: error: MESSAGE`` (always one line) on stderr."""
    one_line = " ".join(part.strip() for part in str(message).splitlines() if part.strip())
    click.echo(f"rdcodec: error: {one_line or 'failed'}", err=True)


def fail(message: str) -> NoReturn:
    """Print ``rdcodec: error: MESSAGE`` (always one line) on stderr and exit with status 2."""
    error_line(message)
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


def open_registry(directory: str | Path | None = None):
    """The model registry in ``directory`` (default: the installed one), its manifest checked.

    A malformed manifest (:class:`rdcodec.zoo.registry.ManifestError`) is a :class:`CommandError`
    naming the file, before any command reads it.
    """
    from rdcodec.zoo.registry import ManifestError, Registry

    registry = Registry(directory)
    try:
        registry.entries()
    except ManifestError as exc:
        raise CommandError(str(exc)) from None
    return registry
