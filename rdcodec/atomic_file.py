"""One way to write a file: to a temporary file beside the target, then renamed into place.

A failure (an exception, a kill) leaves either the old file or nothing, never a partial one.
Used by the CLI outputs, the registry's files, checkpoints and the experiment run records::

    with atomic_file.replacing(path) as tmp:   # tmp: a Path in the same folder
        torch.save(state, tmp)                 # anything that writes to a path
    atomic_file.write_bytes(path, data)        # or bytes / text directly
    atomic_file.write_json(path, report, replace=args.force)  # a tool's JSON report; without
                                               # replace, an existing file is kept (FileExistsError)
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def replacing(path: str | Path, exclusive: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it onto ``path``, else delete it.

    ``exclusive``: never replace an existing ``path`` (``FileExistsError``, the temporary file
    deleted). The final step is then a hard link, which fails if the name exists, so a file that
    appeared while the work ran is kept too (a check and a rename, where links are refused).
    """
    target = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; a user's file gets the usual mode
        if exclusive:
            _link_new(tmp, target)
        else:
            os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _link_new(tmp: str, target: Path) -> None:
    try:
        os.link(tmp, target)
    except FileExistsError:
        raise FileExistsError(f"{target} exists") from None
    except OSError:  # a file system without hard links
        if target.exists():
            raise FileExistsError(f"{target} exists") from None
        os.replace(tmp, target)
        return
    os.unlink(tmp)


def write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (an existing file is replaced)."""
    with replacing(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: str | Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically (an existing file is replaced)."""
    write_bytes(path, text.encode("utf-8"))


def write_json(path: str | Path, value, replace: bool, indent: int = 2) -> None:
    """``value`` as JSON (``indent``, one final newline) to ``path`` atomically. ``replace``: may
    an existing file be replaced? (A report a tool refuses to overwrite without ``--force`` passes
    its flag: a file that appeared while the tool worked is kept too, ``FileExistsError``.)"""
    with replacing(path, exclusive=not replace) as tmp:
        tmp.write_text(json.dumps(value, indent=indent) + "\n", encoding="utf-8")
