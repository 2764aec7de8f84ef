"""Unit tests for the JSONL sink's resume recovery and the record serialiser."""

from __future__ import annotations

import math

import orjson

from fdpo.jsonl import Sink, dumps


def _write(path, lines: list[bytes]) -> None:
    path.write_bytes(b"".join(lines))


def test_resume_cuts_a_partial_last_line(tmp_path):
    out = tmp_path / "out.jsonl"
    _write(out, [b'{"id": "a"}\n', b'{"id": "b"}\n', b'{"id": "c", "x'])
    sink = Sink(out, resume=True)
    sink.write({"id": "c"})
    sink.close()
    assert sink.done == {"a", "b"}
    assert [orjson.loads(l)["id"] for l in out.read_bytes().splitlines()] == ["a", "b", "c"]


def test_grouped_resume_redoes_the_last_group(tmp_path):
    out = tmp_path / "pairs.jsonl"
    lines = [orjson.dumps({"id": f"{p}:{k}", "problem_id": p}) + b"\n" for p, k in [("p1", 0), ("p1", 1), ("p2", 0)]]
    _write(out, lines)
    sink = Sink(out, resume=True, key=lambda r: r["problem_id"], grouped=True)
    sink.close()
    # p2 may have had more pairs when the run died: it is cut and redone.
    assert sink.done == {"p1"}
    assert out.read_bytes() == b"".join(lines[:2])


def test_resume_of_a_missing_file_starts_empty(tmp_path):
    sink = Sink(tmp_path / "new.jsonl", resume=True)
    sink.write({"id": 1})
    sink.close()
    assert sink.done == set()
    assert (tmp_path / "new.jsonl").read_bytes() == b'{"id":1}\n'


def test_dumps_survives_nan_and_big_ints():
    line = dumps({"x": math.nan, "big": 2**70})
    assert line.endswith(b"\n")
    assert b"NaN" in line and str(2**70).encode() in line
