"""The sandbox API: statuses, load failures, per-test isolation, limits, ordering, helpers.

The ``ex`` tests run in both isolation modes (a fork per test, a fork per
candidate); the tests named for one mode check what differs.
"""

from __future__ import annotations

import itertools
import time

import pytest

from fdpo.execution.probes import RESULT, probe_code
from fdpo.sandbox import CandidateResult, Executor, Limits, Outcome, check_test, io_test, run_candidate
from fdpo.sandbox.runner import PROBE_DIGEST_CHARS, PROBE_NAME

ADD_ONE = "def f(x):\n    return x + 1\n"


@pytest.fixture(scope="module", params=["test", "candidate"])
def ex(request):
    with Executor(jobs=2, limits=Limits(timeout=1.0), isolation=request.param) as executor:
        yield executor


@pytest.fixture(scope="module")
def batched():
    with Executor(jobs=1, limits=Limits(timeout=1.0), isolation="candidate") as executor:
        yield executor


def run(ex, code, tests, timeouts=None) -> CandidateResult:
    return next(ex.map([(code, tests, timeouts)]))


def test_statuses_of_pass_fail_error(ex):
    r = run(ex, ADD_ONE, ["assert f(1) == 2", "assert f(1) == 3, 'off by one'", "f(None)", "undefined_name"])
    assert r.load == "ok" and r.load_reason is None
    assert r.statuses == ["pass", "fail", "error", "error"]
    assert r.outcomes[0].reason is None
    assert r.outcomes[1].reason == "AssertionError: off by one"
    assert r.outcomes[2].reason.startswith("TypeError: ")
    assert r.outcomes[3].reason == "NameError: name 'undefined_name' is not defined"
    assert all(o.seconds >= 0 for o in r.outcomes) and r.seconds > 0


def test_timeout_is_per_test_and_overridable(ex):
    slow = "import time\ntime.sleep(0.6)"
    r = run(ex, ADD_ONE, [slow, slow, "while True: pass"], timeouts=[0.3, 2.0, 0.3])
    assert r.statuses == ["timeout", "pass", "timeout"]
    assert 0.25 < r.outcomes[0].seconds < 1.5


def test_a_test_that_does_not_compile_is_an_error_of_its_own(ex):
    r = run(ex, ADD_ONE, ["assert f(1) ==", "assert f(1) == 2", "x = '\0'\0", "(" * 500 + ")" * 500])
    assert r.statuses == ["error", "pass", "error", "error"]
    assert r.outcomes[0].reason.startswith("SyntaxError")


def test_syntax_error_fails_the_load_and_every_test(ex):
    r = run(ex, "def f(x) return x", ["assert True", "assert True"])
    assert r.load == "error" and r.load_reason.startswith("SyntaxError: ")
    assert r.statuses == ["error", "error"]
    assert all(o.reason == r.load_reason for o in r.outcomes)


def test_exception_while_loading_is_a_load_error(ex):
    r = run(ex, "import no_such_module_here", ["assert True"])
    assert r.load == "error" and "ModuleNotFoundError" in r.load_reason
    assert r.statuses == ["error"]


def test_exiting_while_loading_is_a_crash(ex):
    for code in ("import sys\nsys.exit(0)", "raise SystemExit", "import os\nos._exit(0)", "exit()"):
        r = run(ex, code, ["assert True"])
        assert (r.load, r.statuses) == ("crash", ["crash"]), code


def test_slow_load_times_out():
    with Executor(jobs=1, limits=Limits(timeout=1.0, load_timeout=0.3)) as ex:
        r = run(ex, "while True: pass", ["assert True", "assert True"])
    assert r.load == "timeout" and r.statuses == ["timeout", "timeout"]


STATEFUL = "state = []\ncounter = {'n': 0}\ndef push(x):\n    state.append(x)\n    return len(state)\n"
MUTATE = "assert push(1) == 1\ncounter['n'] += 1\nimport math\nmath.pi = 3\nstate.clear()"
OBSERVE = "assert state == [] and counter['n'] == 0\nimport math\nassert math.pi > 3.14"


def test_each_test_starts_from_the_freshly_loaded_state():
    with Executor(jobs=1, limits=Limits(timeout=1.0)) as ex:
        r = run(ex, STATEFUL, [MUTATE, OBSERVE, MUTATE, OBSERVE])
    assert r.statuses == ["pass"] * 4


def test_a_batch_shares_changed_objects_but_not_top_level_names(batched):
    # What a test changes in objects and modules, the next test of the same fork sees (docs/execute.md) ...
    r = run(batched, STATEFUL, [MUTATE, OBSERVE])
    assert r.statuses == ["pass", "fail"]
    # ... but the candidate's top-level names are put back after every test.
    rebind = ["f = None\nx = 5", "assert f(1) == 2 and 'x' not in globals()", "del f", "assert f(2) == 3"]
    r = run(batched, ADD_ONE, rebind)
    assert r.statuses == ["pass"] * 4


def test_a_batch_starts_afresh_after_a_test_that_leaves_a_thread(batched):
    thread = "import threading, time\nthreading.Thread(target=time.sleep, args=(0.5,), daemon=True).start()"
    r = run(batched, ADD_ONE, [thread, "import threading\nassert threading.active_count() == 1", "assert f(1) == 2"])
    assert r.statuses == ["pass"] * 3


def test_a_batch_gives_each_test_its_own_cpu_time(batched):
    # The batch process's CPU time runs on from test to test; before each one its soft limit moves up, so a
    # test has at least the CPU time a test process of its own would have (2 × limit + 2 s, rounded up).
    burn = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.3:\n    pass"
    room = ("import resource, time\nsoft, hard = resource.getrlimit(resource.RLIMIT_CPU)\n"
            "assert soft - time.process_time() >= 4 - 1e-3 and hard > soft, (soft, hard, time.process_time())")
    r = run(batched, ADD_ONE, [burn, room, burn, room])
    assert r.statuses == ["pass"] * 4, r.outcomes


def test_a_probes_digest_stays_with_its_own_test(ex):
    probe = probe_code("assert f(1) == 2")
    assert PROBE_NAME == RESULT
    r = run(ex, ADD_ONE, [probe, "assert f(1) == 2", probe])
    assert r.statuses == ["pass"] * 3
    assert len(r.outcomes[0].reason) == PROBE_DIGEST_CHARS and r.outcomes[2].reason == r.outcomes[0].reason
    assert r.outcomes[1].reason is None


def test_isolation_mode_is_checked():
    with pytest.raises(ValueError, match="isolation must be one of test, candidate"):
        Executor(jobs=1, isolation="process")


def test_a_test_cannot_forge_the_next_tests_verdict(ex):
    # A test that dies without a verdict stays a crash even if an earlier test tried to pre-fill it.
    r = run(ex, ADD_ONE, ["import os; os._exit(0)", "import os; os._exit(0)"])
    assert r.statuses == ["crash", "crash"]
    assert "exited with status 0" in r.outcomes[0].reason


def test_tests_see_the_candidates_namespace_and_definitions(ex):
    humaneval_check = "def check(candidate):\n    assert candidate(1) == 2\n    assert candidate(-1) == 0\n"
    r = run(ex, ADD_ONE, [check_test(humaneval_check, "f"), "g = f\nassert g(0) == 1"])
    assert r.statuses == ["pass", "pass"]


def test_io_tests_compare_like_evalplus(ex):
    code = "def mean(xs):\n    return sum(xs) / len(xs)\ndef pair(a):\n    return (a, [a])\n"
    tests = [
        io_test("mean", [[1.0, 2.0, 4.0]], 7 / 3),  # float: exact
        io_test("mean", [[0.1, 0.2]], 0.15000001, atol=1e-6),  # within atol
        io_test("mean", [[0.1, 0.2]], 0.16, atol=1e-6),  # outside atol
        io_test("pair", ["x"], ("x", ["x"])),  # tuples stay tuples through marshal
        io_test("pair", ["x"], ["x", ["x"]]),  # a list is not a tuple
        io_test("mean", [[float("inf"), 1.0]], float("inf")),
    ]
    r = run(ex, code, tests)
    assert r.statuses == ["pass", "pass", "fail", "pass", "fail", "pass"]
    assert "within 1e-06" in r.outcomes[2].reason


def test_output_is_captured_with_a_cap():
    with Executor(jobs=1, limits=Limits(timeout=2.0, max_output=100)) as ex:
        r = run(ex, "print('loaded')", ["print('x' * 10000)", "import sys; print('err', file=sys.stderr)"])
    assert r.statuses == ["pass", "pass"]
    assert r.output.startswith("loaded\nxxx") and len(r.output) == 100


def test_map_keeps_input_order_and_reads_lazily(ex):
    pulled = []

    def jobs():
        for i in itertools.count():
            pulled.append(i)
            yield (f"import time\ntime.sleep({0.2 if i % 3 == 0 else 0})\nN = {i}", [f"assert N == {i}"], None)

    results = ex.map(jobs())
    first = [next(results) for _ in range(6)]
    assert [r.statuses for r in first] == [["pass"]] * 6
    assert len(pulled) <= 6 + 5 * ex.jobs + 2  # bounded prefetch, never the whole (endless) stream


def test_map_tagged_keeps_placeholders_in_order(ex):
    items = [("a", (ADD_ONE, ["assert f(1) == 2"], None)), ("b", None), ("c", ("x = 1", [], None))]
    out = list(ex.map_tagged(items))
    assert [tag for tag, _ in out] == ["a", "b", "c"]
    assert out[0][1].statuses == ["pass"] and out[1][1] is None and out[2][1].load == "ok"


def test_parallel_workers_are_faster_than_one():
    jobs = [("import time\ntime.sleep(0.3)", [], None)] * 4
    with Executor(jobs=4) as ex:
        list(ex.map(jobs[:1]))
        start = time.perf_counter()
        assert [r.load for r in ex.map(jobs)] == ["ok"] * 4
        assert time.perf_counter() - start < 1.0


def test_run_candidate_uses_a_shared_sandbox():
    r = run_candidate(ADD_ONE, ["assert f(1) == 2", "assert f(2) == 2"])
    assert r.statuses == ["pass", "fail"]
    r = run_candidate(ADD_ONE, ["import time; time.sleep(1)"], Limits(timeout=0.2))
    assert r.statuses == ["timeout"]


def test_zero_tests_still_reports_the_load(ex):
    r = run(ex, ADD_ONE + "print('hi')", [])
    assert (r.load, r.outcomes, r.output) == ("ok", [], "hi\n") and r.load_seconds > 0


def test_limits_and_timeouts_are_checked(ex):
    with pytest.raises(ValueError, match="timeout"):
        Limits(timeout=0)
    with pytest.raises(ValueError, match="memory_mb"):
        Limits(memory_mb=-1)
    with pytest.raises(ValueError, match="2 timeouts for 1 tests"):
        run(ex, ADD_ONE, ["assert True"], [1.0, 1.0])
    with pytest.raises(ValueError, match="at least 1"):
        Executor(jobs=0)


def test_outcome_defaults():
    assert Outcome("pass") == Outcome("pass", None, 0.0)


@pytest.mark.timeout(60)
def test_a_long_stream_of_quick_jobs_never_stalls(ex):
    # Regression: input queued while its wake-up was already consumed used to stall the pool.
    results = list(ex.map(("N = 1", ["assert N == 1"], None) for _ in range(300)))
    assert len(results) == 300 and all(r.statuses == ["pass"] for r in results)


def test_an_alarm_left_set_does_not_end_a_later_test(ex):
    r = run(ex, ADD_ONE, ["import signal\nsignal.alarm(1)", "import time\ntime.sleep(1.3)\nassert f(1) == 2"],
            [1.0, 2.0])
    assert r.statuses == ["pass", "pass"], r.outcomes
