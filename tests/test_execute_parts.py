"""The sandbox's parts on their own: records to jobs, tests as code, the verdict board, messages, cleanup."""

from __future__ import annotations

import math
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from fdpo.execution.matrix import BadRecord, execution_field, plan
from fdpo.sandbox import processes
from fdpo.sandbox.board import REASON_BYTES, Board
from fdpo.sandbox.compare import assert_matches
from fdpo.sandbox.isolation import closed_ancestor
from fdpo.sandbox.limits import CandidateResult, Limits, Outcome
from fdpo.sandbox.testcode import check_test, io_test
from fdpo.sandbox.wire import receive, send


def rec(codes, tests):
    return {"id": "r", "candidates": [{"code": c} for c in codes], "tests": [{"code": t} for t in tests]}


def test_plan_runs_each_distinct_code_once():
    p = plan(rec(["a = 1", "b = 2", "a = 1", None], ["t0", None, "t2", ""]))
    assert p.codes == ["a = 1", "b = 2"] and p.code_of == [0, 1, 0, -1] and p.runnable == [0, 2]


@pytest.mark.parametrize("record, message", [
    ({"id": "x"}, "no candidates"),
    (rec([], ["t"]), "no candidates"),
    (rec(["c"], []), "no tests"),
    ({"candidates": ["code"], "tests": [{"code": "t"}]}, "candidate 0 is not an object"),
    (rec([3], ["t"]), "candidate 0: 'code' must be a string"),
])
def test_plan_rejects_what_it_cannot_run(record, message):
    with pytest.raises(BadRecord, match=message):
        plan(record)


def test_execution_field_aligns_shared_results_with_candidates_and_tests():
    p = plan(rec(["a", "b", "a", None], ["t0", None, "t2"]))
    p.results = [
        CandidateResult("ok", None, [Outcome("pass", None, 0.1), Outcome("fail", "AssertionError", 0.2)], 1.0),
        CandidateResult("error", "SyntaxError: x", [Outcome("error", "SyntaxError: x")] * 2, 0.5),
    ]
    ex = execution_field(p, Limits(timeout=2))
    assert ex["outcomes"] == [["pass", "error", "fail"], ["error"] * 3, ["pass", "error", "fail"], ["error"] * 3]
    assert ex["reasons"][0] == [None, "the test has no code", "AssertionError"]
    assert ex["load"] == ["ok", "error", "ok", "error"]
    assert ex["load_reasons"] == [None, "SyntaxError: x", None, "the candidate has no code"]
    assert ex["seconds"][0] == [0.1, 0.0, 0.2] and ex["candidate_seconds"] == [1.0, 0.5, 1.0, 0.0]
    assert ex["limits"] == {"timeout": 2, "memory_mb": 2048}


@pytest.mark.parametrize("out, expected, atol, ok", [
    (3, 3, 0, True),
    ([1, 2], [1, 2], 0, True),
    (0.1 + 0.2, 0.3, 0, True),  # floats get EvalPlus's default 1e-6
    (0.3 + 1e-5, 0.3, 0, False),
    (1.0005, 1.0, 1e-3, True),
    ([1.0, 2.0005], [1.0, 2.0], 1e-3, True),
    ((1.0, 2.0), [1.0, 2.0], 1e-3, False),  # the type must match
    ([1.0], [1.0, 2.0], 1e-3, False),
    (math.nan, math.nan, 1e-6, True),
    (math.inf, math.inf, 0, True),
    ("a", "b", 0, False),
    (None, 0, 0, False),
])
def test_assert_matches_judges_like_evalplus(out, expected, atol, ok):
    if ok:
        assert_matches(out, expected, atol)
    else:
        with pytest.raises(AssertionError):
            assert_matches(out, expected, atol)


def test_io_and_check_tests_are_code():
    class Odd:
        def __repr__(self):
            return "Odd()"

    ns = {"f": lambda *a: list(a), "Odd": Odd}
    exec(io_test("f", [1, (2, 3), {"k": {4}}], [1, (2, 3), {"k": {4}}]), ns)
    exec(io_test("f", [0.5], [0.5 + 1e-9], atol=1e-6), ns)
    assert "Odd()" in io_test("f", [Odd()], 0)  # not marshallable: written as its repr
    with pytest.raises(AssertionError):
        exec(io_test("f", [1], [2]), ns)
    ns = {"g": abs}
    exec(check_test("def check(candidate):\n    assert candidate(-2) == 2", "g"), ns)


def test_board_round_trip_and_garbage():
    board = Board(3)
    assert board.get(None) is None and board.get(0) is None and not board.has(0)
    board.put(None, "ok", 0.5, "")
    board.put(1, "fail", 0.25, "é" * REASON_BYTES)
    assert board.get(None) == ("ok", 0.5, "")
    status, seconds, reason = board.get(1)
    assert (status, seconds) == ("fail", 0.25) and len(reason.encode()) <= REASON_BYTES
    board.start_test(1, 12.5)
    assert not board.has(1) and board.get(1) is None and board.progress() == (1, 12.5)
    board.map[board._offset(2):board._offset(2) + 2] = b"\x01\xff"  # a "written" record with a bad status
    assert board.get(2) is None and board.get(7) is None and board.get(-1) is None
    board.close()


def test_messages_round_trip_and_end():
    r, w = os.pipe()
    message = ("done", 7, "ok", None, 0.5, [("pass", None, 0.1)], 1.0, "out" * 50000)
    pid = os.fork()
    if pid == 0:  # a writer that outlives the pipe's buffer, as a worker does
        os.close(r)
        send(w, message)
        os._exit(0)
    os.close(w)
    assert receive(r) == message
    assert receive(r) is None
    os.waitpid(pid, 0)
    os.close(r)


def test_kill_all_is_refused_outside_a_sandbox():
    with pytest.raises(RuntimeError, match="refused"):
        processes.kill_all_visible()
    assert not processes.confirm_confined(processes.pid_namespace(), 1 << 40)
    with pytest.raises(RuntimeError, match="refused"):
        processes.kill_all_visible()


def test_rmtree_removes_deep_locked_trees_without_following_links(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep").write_text("x")
    top = tmp_path / "work"
    d = top
    for _ in range(400):  # deeper than a recursive walk of the default stack would like
        d = d / "d"
    d.mkdir(parents=True)
    (d / "f").write_text("x")
    (top / "link").symlink_to(outside)
    (top / "d").chmod(0)
    processes.rmtree(str(top))
    assert not top.exists() and (outside / "keep").exists()


def test_closed_ancestor():
    base = Path(tempfile.mkdtemp(prefix="fdpo-closed-"))
    try:
        base.chmod(0o755)
        closed = base / "closed"
        (closed / "inner").mkdir(parents=True)
        closed.chmod(0o700)
        assert closed_ancestor(str(closed / "inner")) == str(closed)
        closed.chmod(0o711)  # enterable, if not listable: fine
        assert closed_ancestor(str(closed / "inner")) is None
    finally:
        shutil.rmtree(base)
