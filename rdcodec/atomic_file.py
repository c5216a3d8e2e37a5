"""One way to write a file: to a temporary file beside the target, then renamed into place.

A failure (an exception, a kill) leaves either the old file or nothing, never a partial one.
Used by the CLI outputs, the registry's files, checkpoints and the experiment run records::

    with atomic_file.replacing(path) as tmp:   # tmp: a Path in the same folder
        torch.save(state, tmp)                 # anything that writes to a path
    atomic_file.write_bytes(path, data)        # or bytes / text directly
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def replacing(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it onto ``path``, else delete it."""
    target = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; a user's file gets the usual mode
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (an existing file is replaced)."""
    with replacing(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: str | Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically (an existing file is replaced)."""
    write_bytes(path, text.encode("utf-8"))
