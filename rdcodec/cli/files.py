"""Input/output rules shared by the subcommands.

* ``-`` means standard input or standard output (binary);
* an existing output file is refused unless ``--force``; the check happens before any work;
* outputs are written to a temporary file beside the target and renamed into place, so a
  failure never leaves a partial file behind;
* failures print one ``rdcodec: error: …`` line on stderr and exit with status 2.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import NoReturn

import click

EXIT_BAD_INPUT = 2


class CommandError(Exception):
    """A user-facing failure: one line on stderr, exit status 2."""


def fail(message: str) -> NoReturn:
    click.echo(f"rdcodec: error: {message}", err=True)
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


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_output(path: str, data: bytes, force: bool) -> None:
    """Write atomically (temporary file + rename); ``-`` writes to stdout."""
    if path == "-":
        stream = sys.stdout.buffer
        stream.write(data)
        stream.flush()
        return
    check_output(path, force)
    target = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; a user's file gets the usual mode
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
