"""What keeps per-test forks cheap still behaves: lean workers, the board, limits, cached wire limits.

The sandbox maps as little as it can into the process every test forks from
(docs/execute.md, "Speed"); these tests check the behaviour around that, not
its speed (benchmarks: bench/execute.py).
"""

from __future__ import annotations

import resource
from dataclasses import replace

import pytest

from fdpo.sandbox import Executor, Limits, isolation
from fdpo.sandbox.board import PASS, Board, prepare
from fdpo.sandbox.runner import PROBE_NAME

OK = "def f(x):\n    return x + 1\n"
#: Modules a worker does not load (with the compiled calls: ``fdpo.sandbox.syscalls``), unless a probe needs _sha1.
LEAN = ("_sha1", "mmap", "resource", "_heapq", "_bisect", "_ctypes", "ctypes", "select", "_struct", "struct")
REPORT = "import sys\nLOADED = sorted(m for m in {lean!r} if m in sys.modules)\n".format(lean=LEAN)


@pytest.fixture(scope="module")
def ex():
    with Executor(jobs=1, limits=Limits(timeout=2.0)) as executor:
        yield executor


def run(ex, code, tests):
    return next(ex.map([(code, tests, None)]))


def test_rlimit_numbers_are_the_kernels():
    numbers = isolation.rlimit_numbers()
    assert numbers == {name: getattr(resource, f"RLIMIT_{name}") for name in ("CPU", "FSIZE", "CORE", "NPROC",
                                                                               "NOFILE", "AS")}


def test_a_worker_without_probes_maps_none_of_the_optional_libraries(ex):
    r = run(ex, OK + REPORT, ["assert LOADED == [], LOADED"])
    assert r.statuses == ["pass"], r.outcomes


def test_candidates_still_import_what_is_not_preloaded(ex):
    code = OK + "import heapq, bisect, mmap, resource, ctypes, select, struct\n"
    r = run(ex, code, ["assert heapq.nsmallest(1, [3, 1, 2]) == [1]", "assert bisect.bisect([1, 3], 2) == 1",
                       "assert resource.getrlimit(resource.RLIMIT_CORE) == (0, 0)",
                       "assert struct.unpack('<H', struct.pack('<H', 7)) == (7,) and ctypes.sizeof(ctypes.c_int) == 4",
                       "assert select.select([], [], [], 0) == ([], [], [])"])
    assert r.statuses == ["pass"] * 5, r.outcomes


def test_the_probe_hash_is_loaded_with_the_first_probe(ex):
    probe = f"{PROBE_NAME} = repr(f(1))"
    r = run(ex, OK, [probe, "assert f(1) == 2"])
    assert r.statuses == ["pass", "pass"] and len(r.outcomes[0].reason) == 16, r.outcomes
    r = run(ex, OK + REPORT, ["assert LOADED == ['_sha1'], LOADED"])
    assert r.statuses == ["pass"], r.outcomes


def test_resource_limits_reach_the_candidate(ex):
    limits = ("import resource\nassert resource.getrlimit(resource.RLIMIT_AS) == ({m}, {m})\n"
              "assert resource.getrlimit(resource.RLIMIT_FSIZE) == ({f}, {f})\n"
              "assert resource.getrlimit(resource.RLIMIT_NOFILE) == ({n}, {n})\n"
              "assert resource.getrlimit(resource.RLIMIT_CORE) == (0, 0)\n"
              "assert resource.getrlimit(resource.RLIMIT_CPU)[0] > 0\n").format(
        m=ex.limits.memory_mb << 20, f=ex.limits.max_file_mb << 20, n=ex.limits.max_open_files)
    assert run(ex, OK, [limits]).statuses == ["pass"]


def test_changed_limits_reach_the_next_jobs(ex):
    saved = ex.limits
    try:
        ex.limits = replace(saved, max_output=5)
        assert run(ex, OK + "print('0123456789')", ["assert 1"]).output == "01234"
        ex.limits.max_output = 3  # changed in place
        assert run(ex, OK + "print('0123456789')", ["assert 1"]).output == "012"
    finally:
        ex.limits = saved
    assert run(ex, OK + "print('0123456789')", ["assert 1"]).output == "0123456789\n"


def test_a_prepared_record_is_no_verdict_until_its_state_byte():
    board = Board(2)
    try:
        board.put(1, "fail", 1.0, "old")
        offset = board.offsets[1]
        prepare(board.map, offset)
        assert board.get(1) is None
        board.times[(offset >> 3) + 1] = 0.25
        board.map[offset] = 1
        assert board.get(1) == ("pass", 0.25, "") and board.map[offset + 1] == PASS
    finally:
        board.close()


def test_closing_the_pool_ends_its_workers():
    executor = Executor(jobs=2)
    with executor:
        assert run(executor, OK, ["assert f(1) == 2"]).statuses == ["pass"]
        procs = [w.proc for w in executor._workers]
    assert all(p.returncode == 0 for p in procs)
