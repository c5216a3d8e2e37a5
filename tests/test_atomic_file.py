"""rdcodec.atomic_file: a file is replaced whole or not at all, and a kept file stays kept."""

from __future__ import annotations

import json
import os

import pytest

from rdcodec import atomic_file


def _leftovers(folder):
    return [p.name for p in folder.iterdir() if p.name.endswith(".partial")]


def test_write_json_writes_an_indented_report_with_a_final_newline(tmp_path):
    path = tmp_path / "report.json"
    atomic_file.write_json(path, {"a": [1, 2]}, replace=False)
    assert path.read_text() == json.dumps({"a": [1, 2]}, indent=2) + "\n"
    atomic_file.write_json(path, {"a": 3}, replace=True, indent=1)
    assert path.read_text() == '{\n "a": 3\n}\n'
    assert _leftovers(tmp_path) == []


def test_write_json_keeps_an_existing_file_unless_told_to_replace_it(tmp_path):
    path = tmp_path / "report.json"
    path.write_text("the user's file\n")
    with pytest.raises(FileExistsError, match="report.json exists"):
        atomic_file.write_json(path, {"new": True}, replace=False)
    assert path.read_text() == "the user's file\n" and _leftovers(tmp_path) == []


def test_a_file_that_appears_while_the_work_runs_is_kept(tmp_path):
    """The tools check for an existing report before their work and write it after: exclusive
    writing keeps a file made in between (a check made only at the start would replace it)."""
    path = tmp_path / "report.json"
    with pytest.raises(FileExistsError), atomic_file.replacing(path, exclusive=True) as tmp:
        tmp.write_text("the tool's report")
        path.write_text("made meanwhile")
    assert path.read_text() == "made meanwhile" and _leftovers(tmp_path) == []
    with atomic_file.replacing(path) as tmp:  # not exclusive: replaced
        tmp.write_text("replaced")
    assert path.read_text() == "replaced"


def test_a_file_system_without_hard_links_still_keeps_an_existing_file(tmp_path, monkeypatch):
    def no_links(src, dst):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    fresh, kept = tmp_path / "fresh.json", tmp_path / "kept.json"
    atomic_file.write_json(fresh, [1], replace=False)
    assert json.loads(fresh.read_text()) == [1]
    kept.write_text("old")
    with pytest.raises(FileExistsError):
        atomic_file.write_json(kept, [2], replace=False)
    assert kept.read_text() == "old" and _leftovers(tmp_path) == []


def test_a_failure_while_writing_leaves_the_old_file_and_no_partial_one(tmp_path):
    path = tmp_path / "data.bin"
    path.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_file.replacing(path) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("killed")
    assert path.read_bytes() == b"old" and _leftovers(tmp_path) == []
    with pytest.raises(TypeError):  # not JSON: nothing written
        atomic_file.write_json(tmp_path / "x.json", {"bad": object()}, replace=True)
    assert not (tmp_path / "x.json").exists() and _leftovers(tmp_path) == []


def test_a_replaced_file_gets_the_usual_mode(tmp_path):
    path = tmp_path / "report.json"
    atomic_file.write_json(path, {}, replace=False)
    mask = os.umask(0)
    os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask
