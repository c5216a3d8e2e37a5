"""Reading a JSON object from a user's file, with one-line messages that name the file."""

from __future__ import annotations

import json
from pathlib import Path


class JSONFileError(ValueError):
    """The file cannot be read, is not JSON, or is not a JSON object (one line, names the file)."""


def read_json_object(path: str | Path) -> dict:
    """The JSON object in ``path``."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise JSONFileError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise JSONFileError(f"{path}: is a directory") from None
    except OSError as exc:
        raise JSONFileError(f"{path}: cannot read ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise JSONFileError(f"{path}: not a JSON text file") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise JSONFileError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(data, dict):
        raise JSONFileError(f"{path}: a JSON object is expected")
    return data
