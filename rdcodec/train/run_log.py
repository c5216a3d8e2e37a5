"""A run's ``log.jsonl``: written by the training loop, read by every tool that reports on a run.

One JSON object per line, in the order the loop wrote them (:mod:`rdcodec.train.loop`)::

    {"step": S, "kind": "start", "config": {...}, ...}   one per launch (resume), at the step it resumed from
    {"step": S, "kind": "train", "lr": ..., "sec_per_step": ..., "train_seconds": ..., <loss scalars>}
    {"step": S, "kind": "val", <the task's validation fields>}   several per step (one per Δ) for a codec

Two things happen to a log that every reader must get right, so they are handled here once:

- **a torn last line.** A run killed while writing leaves a line with no newline, and a reader
  may look while the loop is still writing one. :func:`read_records` leaves such a line out
  unless it is a whole JSON object (only its newline missing: then it is a record);
  :class:`RunLogWriter`, before the next launch appends, ends a whole one with its newline and
  cuts any other off, so the reader's view does not change and a torn line never ends up in the
  middle of the file, where it would be an error.
- **steps logged twice.** A run resumes from its last checkpoint, not from its last log line:
  the steps between the two are trained and logged again. The later record is the one the
  checkpoint lineage continues from, so :func:`last_per_key` keeps the last record per key.

Any other line that is not a JSON object is an error that names the file and line.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Hashable, Iterable
from pathlib import Path

LOG_NAME = "log.jsonl"


class RunLogError(ValueError):
    """A log line that is not a JSON object (one line: file, line number, why)."""


def log_path(run_dir: Path) -> Path:
    """The log of the run trained in ``run_dir``."""
    return Path(run_dir) / LOG_NAME


def read_records(path: Path) -> list[dict]:
    """The records of a ``log.jsonl`` in file order; blank lines and a torn last line left out."""
    path = Path(path)
    data = path.read_bytes()
    lines = data.split(b"\n")
    torn = lines.pop()  # b"" when the file ends with a newline (or is empty)
    records = []
    for number, line in enumerate(lines, 1):
        if line.strip():
            records.append(_parse(line, path, number))
    last = _whole_record(torn)
    if last is not None:
        records.append(last)
    return records


def _whole_record(line: bytes) -> dict | None:
    """A last line with no newline as the record it is, or None if it is not a whole one (being
    written, or cut by a kill)."""
    try:
        record = json.loads(line.decode("utf-8")) if line.strip() else None
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    return record if isinstance(record, dict) else None


def _parse(line: bytes, path: Path, number: int) -> dict:
    try:
        record = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise RunLogError(f"{path}:{number}: not a JSON record") from None
    if not isinstance(record, dict):
        raise RunLogError(f"{path}:{number}: a record is a JSON object, not {type(record).__name__}")
    return record


def last_per_key(records: Iterable[dict], key: Callable[[dict], Hashable]) -> list[dict]:
    """One record per ``key(record)``, the last one written, in key order (keys must sort)."""
    latest: dict[Hashable, dict] = {}
    for record in records:
        latest[key(record)] = record
    return [latest[k] for k in sorted(latest)]


def cut_torn_tail(path: Path) -> int:
    """End ``path`` on a newline: a last line without one is cut off (a kill mid-write; the
    bytes cut are returned) or, if it is a whole record, given its newline (0 returned)."""
    path = Path(path)
    if not path.exists():
        return 0
    with open(path, "rb+") as handle:
        data = handle.read()
        if not data or data.endswith(b"\n"):
            return 0
        keep = data.rfind(b"\n") + 1
        if _whole_record(data[keep:]) is not None:
            handle.write(b"\n")  # the file position is at its end
            return 0
        handle.truncate(keep)
        return len(data) - keep


class RunLogWriter:
    """Appends records to a run's log, one flushed line each (the training loop's only writer;
    the run lock keeps it the only process writing)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.cut_bytes = cut_torn_tail(self.path)
        self._handle = open(self.path, "a", encoding="utf-8")

    def append(self, record: dict) -> None:
        if not isinstance(record.get("kind"), str) or not isinstance(record.get("step"), int):
            raise ValueError(f"a log record needs an int 'step' and a str 'kind': {record!r}")
        self._handle.write(json.dumps(record) + "\n")
        self._handle.flush()

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> RunLogWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
