"""rdcodec.train.run_log: the one writer and reader of a run's log.jsonl (torn lines, repeated steps)."""

from __future__ import annotations

import json

import pytest
from conftest import load_tool, synthetic_folder, tiny_train_config

from rdcodec.train.run_log import RunLogError, RunLogWriter, cut_torn_tail, last_per_key, log_path, read_records


def _write(path, records, tail=""):
    path.write_text("".join(json.dumps(r) + "\n" for r in records) + tail)
    return path


def test_written_records_read_back_in_order(tmp_path):
    records = [{"step": 0, "kind": "start", "config": {"lr": 1e-4}}, {"step": 1, "kind": "train", "loss": 2.5}]
    with RunLogWriter(log_path(tmp_path / "run")) as log:
        assert log.cut_bytes == 0
        for record in records:
            log.append(record)
        assert read_records(log.path) == records  # each append is flushed: a reader sees it at once
    with RunLogWriter(tmp_path / "other.jsonl") as log, pytest.raises(ValueError, match="int 'step'"):
        log.append({"kind": "train", "step": "3"})


def test_a_torn_last_line_is_not_a_record_but_a_torn_middle_line_is_an_error(tmp_path):
    good = [{"step": 1, "kind": "train"}, {"step": 2, "kind": "val", "ssim": 0.9}]
    torn = _write(tmp_path / "torn.jsonl", good, tail='{"step": 3, "kind": "tr')
    assert read_records(torn) == good
    complete = _write(tmp_path / "complete.jsonl", good, tail='{"step": 3, "kind": "train"}')  # only the newline missing
    assert read_records(complete)[-1] == {"step": 3, "kind": "train"}
    spaced = _write(tmp_path / "spaced.jsonl", good, tail="\n  \n")
    assert read_records(spaced) == good
    middle = tmp_path / "middle.jsonl"
    middle.write_text(torn.read_text() + "\n" + json.dumps(good[0]) + "\n")
    with pytest.raises(RunLogError, match=r"middle\.jsonl:3: not a JSON record"):
        read_records(middle)
    not_object = _write(tmp_path / "list.jsonl", [good[0], [1, 2]])
    with pytest.raises(RunLogError, match=r"list\.jsonl:2: a record is a JSON object, not list"):
        read_records(not_object)
    assert read_records(_write(tmp_path / "empty.jsonl", [])) == []


def test_the_writer_cuts_a_torn_tail_before_appending(tmp_path):
    path = _write(tmp_path / "log.jsonl", [{"step": 1, "kind": "train"}], tail='{"step": 2, "ki')
    with RunLogWriter(path) as log:
        assert log.cut_bytes == len('{"step": 2, "ki')
        log.append({"step": 1, "kind": "start"})
    assert read_records(path) == [{"step": 1, "kind": "train"}, {"step": 1, "kind": "start"}]
    assert cut_torn_tail(path) == 0 and cut_torn_tail(tmp_path / "missing.jsonl") == 0
    whole = _write(tmp_path / "whole.jsonl", [{"step": 1, "kind": "train"}], tail='{"step": 2, "kind": "val"}')
    before = read_records(whole)
    with RunLogWriter(whole) as log:  # only the newline was missing: the record is kept
        assert log.cut_bytes == 0
        log.append({"step": 2, "kind": "start"})
    assert read_records(whole) == [*before, {"step": 2, "kind": "start"}] and len(before) == 2
    no_newline_at_all = tmp_path / "one.jsonl"
    no_newline_at_all.write_text('{"step": 1')
    assert cut_torn_tail(no_newline_at_all) == 10 and no_newline_at_all.read_bytes() == b""


def test_last_per_key_keeps_the_record_written_last_in_key_order():
    records = [
        {"step": 200, "quant_step": 1.0, "bpp": 0.5},
        {"step": 100, "quant_step": 1.0, "bpp": 0.9},
        {"step": 200, "quant_step": 1.0, "bpp": 0.4},  # re-logged after a resume
    ]
    kept = last_per_key(records, key=lambda r: (r["step"], r["quant_step"]))
    assert [r["bpp"] for r in kept] == [0.9, 0.4]


def test_a_run_killed_mid_write_resumes_with_a_readable_log(tmp_path, capsys):
    """The loop appends through the writer: a torn line a kill left is cut with one note on stderr,
    and the reports read the resumed log (the re-logged step: the later record)."""
    from rdcodec.train.codec_task import train

    images = synthetic_folder(tmp_path / "imgs", [(48, 40 + 8 * i) for i in range(3)])
    run = tmp_path / "run"
    train(tiny_train_config(images, 2), run, progress=False)
    with open(log_path(run), "a") as handle:
        handle.write('{"step": 3, "kind": "train", "lr"')  # the kill came mid-record
    capsys.readouterr()
    train(tiny_train_config(images, 4), run, progress=False)
    assert "cut a torn last line" in capsys.readouterr().err
    records = read_records(log_path(run))
    assert [r["step"] for r in records if r["kind"] == "start"] == [0, 2]
    assert [r["step"] for r in records if r["kind"] == "train"] == [1, 2, 3, 4]
    progress = load_tool("tools/campaign_progress.py")
    assert [row["step"] for row in progress.collect([run])] == [2, 4]
