"""One process per run directory: an exclusive lock held while a run trains.

Two processes training in one run directory would both resume from its ``checkpoint.pt`` and
append to its ``log.jsonl``; each checkpoint write is atomic, so the last one wins and the other
process's steps are lost without a word. :func:`holding` takes ``RUN_DIR/.lock`` with
``flock`` (exclusive, non-blocking) and refuses a second taker. The kernel drops the lock when
its process ends, however it ends (a killed run leaves no stale lock behind); a paused one
(SIGSTOP) still holds it, so a run that was only paused cannot be started twice.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

try:
    import fcntl
except ImportError:  # not POSIX: no lock (rdcodec trains on Linux)
    fcntl = None

LOCK_NAME = ".lock"


class RunDirectoryInUse(RuntimeError):
    """Another process is training in this run directory (one line)."""


@contextlib.contextmanager
def holding(run_dir: Path) -> Iterator[None]:
    """Hold ``run_dir``'s lock for the ``with`` block (the directory is made if missing)."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / LOCK_NAME, "a") as handle:
        if fcntl is not None:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise RunDirectoryInUse(f"{run_dir} is being trained by another process (paused ones count)") from None
        yield  # closing the handle releases the lock
