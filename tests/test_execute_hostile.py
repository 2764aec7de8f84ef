"""Hostile candidates: every way a candidate can misbehave becomes an outcome, and the stage goes on.

Each case runs a candidate (or a test) that does something bad, checks the
outcome, and the sandbox (one pool per isolation mode) must still run the next
candidate correctly. The last tests check that nothing was left behind. Every
case runs in both isolation modes: a fork per test (the default) and a fork per
candidate (``isolation="candidate"``), where a test that crashes, hangs, exits
or starts processes must spoil only itself just the same; and both modes once
more without the compiled calls (``FDPO_SANDBOX_CTYPES=1``: ctypes, and the
test loop in Python).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from fdpo.sandbox import Executor, Limits
from fdpo.sandbox.isolation import SANDBOX_UID_BASE
from fdpo.sandbox.pool import slot
from fdpo.sandbox.syscalls import FORCE_CTYPES

OK = "def f(x):\n    return x + 1\n"
SANITY = "assert f(1) == 2"


@pytest.fixture(scope="module", params=["test", "candidate", "test, ctypes", "candidate, ctypes"])
def isolation(request):
    """The isolation mode; ", ctypes": with the sandbox's calls made through ctypes (and the test loop in
    Python), as where the compiled ``fdpo.sandbox._syscalls`` could not be built."""
    mode, _, calls = request.param.partition(", ")
    if calls:
        os.environ[FORCE_CTYPES] = "1"
    try:
        yield mode
    finally:
        os.environ.pop(FORCE_CTYPES, None)


@pytest.fixture(scope="module")
def ex(isolation):
    os.environ["FDPO_TEST_SECRET"] = "hunter2"  # must never reach a candidate
    try:
        with Executor(jobs=2, limits=Limits(timeout=1.0, memory_mb=512, max_file_mb=8, max_processes=32),
                      isolation=isolation) as executor:
            compiled = FORCE_CTYPES not in os.environ
            assert executor.isolation.endswith("compiled test loop" if compiled else "(calls through ctypes)")
            yield executor
    finally:
        del os.environ["FDPO_TEST_SECRET"]


def run(ex, code, tests, timeouts=None):
    return next(ex.map([(code, tests, timeouts)]))


def one(ex, test, code=OK, timeout=None):
    """The outcome of ``test`` and, for the same candidate, of a sane test run after it."""
    r = run(ex, code, [test, SANITY], [timeout or 1.0, 1.0])
    assert r.outcomes[1].status == "pass", f"the test after the hostile one: {r.outcomes[1]}"
    return r.outcomes[0]


@pytest.mark.parametrize(
    "test, status, reason",
    [
        ("while True: pass", "timeout", "no result after"),
        ("import time\ntime.sleep(100)", "timeout", "no result after"),
        ("import signal\nfor s in (signal.SIGTERM, signal.SIGINT, signal.SIGALRM, signal.SIGHUP):\n"
         "    signal.signal(s, signal.SIG_IGN)\nwhile True: pass", "timeout", "no result after"),
        ("x = []\nwhile True:\n    x.append(bytearray(10**8))", "error", "MemoryError"),
        ("bytearray(10**13)", "error", "MemoryError"),
        ("import ctypes\nctypes.string_at(0)", "crash", "SIGSEGV"),
        ("import sys\nsys.exit(0)", "crash", "exit(0) called"),
        ("import sys\ntry:\n    sys.exit(0)\nexcept BaseException:\n    pass", "crash", "exit(0) called"),
        ("quit()", "crash", "exit() called"),
        ("raise SystemExit(3)", "crash", "SystemExit: 3"),
        ("import os\nos._exit(0)", "crash", "exited with status 0"),
        ("import os\nos.abort()", "crash", "SIGABRT"),
        ("import os\nos.kill(os.getpid(), 9)", "crash", "SIGKILL"),
        ("import os, signal\nos.kill(os.getpid(), signal.SIGSTOP)", "timeout", "no result after"),
        ("import os\nos.closerange(0, 4096)\nassert f(1) == 2", "pass", None),
        ("raise ValueError('x' * 10**8)", "error", "ValueError: xxx"),
        ("class E(Exception):\n    def __str__(self):\n        raise RuntimeError('no')\nraise E()", "error", "E"),
        ("raise ValueError('\\ud800 \\x00 tab\\there\\nnewline')", "error", "ValueError"),
        ("input()", "error", "EOFError"),
        ("import os\nos.setuid(0)", "error", "PermissionError"),
        ("open('big', 'wb').write(b'0' * (9 << 20))", "error", "File too large"),
    ],
    ids=lambda v: v if isinstance(v, str) and len(v) < 12 else None,
)
def test_hostile_test_becomes_an_outcome(ex, test, status, reason):
    outcome = one(ex, test, timeout=0.5 if status == "timeout" else None)
    assert outcome.status == status, outcome
    if reason:
        assert reason in outcome.reason
        assert len(outcome.reason) <= 300
        orjson.dumps(outcome.reason)  # always valid text for the record


def test_deep_c_recursion_is_contained(ex):
    test = "import sys\nsys.setrecursionlimit(10**7)\ndef f(n):\n    return list(map(f, [n + 1]))\nf(0)"
    outcome = one(ex, test, timeout=3)
    assert outcome.status == "crash" and "SIGSEGV" in outcome.reason


def test_output_flood_is_capped_and_never_blocks(ex):
    r = run(ex, OK + "print('loading')", ["while True:\n    print('x' * 1000)", "print('y' * 10**7)", SANITY],
            [0.5, 2.0, 1.0])
    assert r.statuses == ["timeout", "pass", "pass"]
    assert r.output.startswith("loading\nxxxx") and len(r.output.encode()) <= ex.limits.max_output


def test_fork_bomb_is_bounded_and_cleaned_up(ex):
    bomb = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass"
    outcome = one(ex, bomb, timeout=0.5)
    assert outcome.status in ("timeout", "crash", "error")
    assert processes_in_sandbox(ex) == []


@pytest.mark.skipif(os.geteuid() != 0, reason="the process limit binds the sandbox uid, which only root can use")
def test_a_load_that_uses_up_the_process_limit_makes_each_test_a_crash_saying_why(ex):
    # No test's process can be forked: each test is a crash that says why (not a dying candidate
    # process, restarted in vain), and the load's sleepers are cleaned up.
    hog = ("import os, time\nfor _ in range(64):\n    try:\n        pid = os.fork()\n    except OSError:\n"
           "        break\n    if pid == 0:\n        time.sleep(100)\n        os._exit(0)\n")
    r = run(ex, hog + OK, [SANITY, SANITY])
    assert r.load == "ok" and r.statuses == ["crash", "crash"], r.outcomes
    assert all(o.reason.startswith("could not start the test's process: BlockingIOError") for o in r.outcomes)
    assert processes_in_sandbox(ex) == []


def test_escaped_daemon_is_killed_after_its_test(ex):
    daemon = ("import os, time\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n"
              "        time.sleep(100)\n    os._exit(0)\n")
    count = "import os\nN = len([p for p in os.listdir('/proc') if p.isdigit()])"
    r = run(ex, OK, [daemon, count + "\nassert N == 3, N"])  # init, the candidate process, this test
    assert r.statuses == ["pass", "pass"], r.outcomes


@pytest.mark.parametrize("killer", ["import os\nos.kill(os.getppid(), 9)", "import os\nos.kill(-1, 9)"])
def test_killing_the_candidate_process_spoils_no_other_test(ex, killer):
    # The killer races its own cleanup: it may finish (pass) or be killed with its parent's sandbox
    # (crash). Either way a fresh candidate process takes over the remaining tests.
    r = run(ex, OK, [SANITY, killer, SANITY, "assert f(1) == 3"])
    assert r.statuses[0] == "pass" and r.statuses[1] in ("pass", "crash") and r.statuses[2:] == ["pass", "fail"]


def test_stopping_the_candidate_process_is_cut_off(ex):
    # The test itself completes; the stopped candidate process is cut off and replaced for the rest.
    start = time.perf_counter()
    r = run(ex, OK, ["import os, signal\nos.kill(os.getppid(), signal.SIGSTOP)", SANITY, SANITY], [0.3, 1.0, 1.0])
    assert r.statuses == ["pass", "pass", "pass"]
    assert time.perf_counter() - start < 5


def test_candidate_that_closes_everything_while_loading(ex):
    r = run(ex, "import os\nos.closerange(0, 4096)\n" + OK, [SANITY, "print('x')"])
    assert r.load == "ok" and r.statuses[0] == "pass" and r.statuses[1] in ("pass", "error")


def test_a_thread_started_by_the_load_does_not_run_in_tests(ex):
    # The thread kills the candidate process 0.3 s in; tests forked before that carry no copy of it.
    code = OK + "import threading, time\nthreading.Thread(target=lambda: time.sleep(0.3) or __import__('os')._exit(9)).start()"
    r = run(ex, code, [SANITY, "import threading\nassert threading.active_count() == 1", "import time\ntime.sleep(1)"],
            [1.0, 1.0, 2.0])
    assert r.statuses == ["pass", "pass", "crash"]
    assert r.outcomes[2].reason == "candidate process exited with status 9 during this test"


def test_messy_working_directory_is_removed(ex):
    mess = ("import os\nfor i in range(2000):\n    os.mkdir('d')\n    os.chdir('d')\n"
            "open('f', 'w').write('x')\nos.chmod('.', 0)\nos.chdir('/')\nos.symlink('/etc', os.environ['HOME'] + '/l')")
    assert one(ex, mess).status == "pass"
    r = run(ex, "import os\nLEFT = os.listdir('.')", ["assert LEFT == [], LEFT"])
    assert r.statuses == ["pass"]
    assert Path("/etc/passwd").exists()  # the link was removed, not followed


def test_fdpo_cannot_be_reached(ex):
    me = os.getpid()
    tests = [
        f"import os\nos.kill({me}, 9)",
        f"open('/proc/{me}/environ').read()",
        "import os\nos.kill(1, 9)\nimport time\ntime.sleep(0.2)",
    ]
    r = run(ex, OK, tests + [SANITY])
    assert r.statuses[:2] == ["error", "error"] and r.statuses[3] == "pass"
    assert r.outcomes[0].reason.startswith("ProcessLookupError")  # no such process in its world
    assert r.outcomes[1].reason.startswith("FileNotFoundError")
    assert os.getpid() == me  # still here


def test_secrets_network_and_host_files_are_out_of_reach(ex):
    marker = f"/tmp/fdpo-hostile-{os.getpid()}"
    host_file = Path(__file__).parent / f".pwned-{os.getpid()}"  # a host directory the sandbox sees read-only
    tests = [
        "import os\nassert 'FDPO_TEST_SECRET' not in os.environ\nassert os.environ['HOME'] == os.getcwd()",
        "import socket\nsocket.create_connection(('1.1.1.1', 53), timeout=1)",
        f"open('{host_file}', 'w').write('x')",
        f"open('{marker}', 'w').write('x')\nassert open('{marker}').read() == 'x'",
        "import os\nassert os.getuid() != 0 and os.getgid() != 0",
    ]
    r = run(ex, OK, tests)
    assert r.statuses == ["pass", "error", "error", "pass", "pass"], r.outcomes
    assert r.outcomes[1].reason.startswith("OSError: [Errno 101] Network is unreachable")
    assert r.outcomes[2].reason.startswith(("OSError: [Errno 30] Read-only", "PermissionError"))
    assert not host_file.exists() and not Path(marker).exists()


def processes_in_sandbox(ex) -> list[str]:
    """What a fresh candidate sees running while it loads, besides the worker's init and itself: nothing."""
    r = run(ex, "import os\nSEEN = [open(f'/proc/{p}/stat').read()[:60] for p in os.listdir('/proc') if p.isdigit()]",
            ["assert len(SEEN) == 2, SEEN"])
    return [] if r.statuses == ["pass"] else [r.outcomes[0].reason]


def test_nothing_is_left_behind_on_the_host(isolation):
    """After a pool closes: no process of its sandbox uids, no zombie child of fdpo."""
    with Executor(jobs=2, limits=Limits(timeout=0.5), isolation=isolation) as ex:
        list(ex.map([(OK, ["import os\nif os.fork() == 0:\n    os.setsid()\n    import time\n    time.sleep(60)",
                           "while True: pass"], None)] * 2))
    assert [p for p in _procs() if p[1] in _uids(os.getpid(), 2)] == []
    assert [p for p in _procs() if p[2] == os.getpid() and p[3] == "Z"] == []


def _uids(pid: int, jobs: int) -> set[int]:
    return {SANDBOX_UID_BASE + slot(pid, i) for i in range(jobs)}


def _procs():
    out = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        out.append((int(pid), int(fields["Uid"].split()[0]), int(fields["PPid"]), fields["State"].split()[0]))
    return out


def test_fdpo_dying_takes_its_sandboxes_along(tmp_path, isolation):
    """SIGKILL the parent mid-run: every worker and sandbox process must go too (nobody is left to reap them)."""
    script = tmp_path / "victim.py"
    script.write_text(
        "from fdpo.sandbox import Executor, Limits\n"
        f"with Executor(jobs=2, limits=Limits(timeout=60), isolation={isolation!r}) as ex:\n"
        "    print(*[w.proc.pid for w in ex._workers], flush=True)\n"
        "    list(ex.map([('x = 1', ['while True: pass'], None)] * 4))\n"
    )
    victim = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE)
    workers = {int(p) for p in victim.stdout.readline().split()}
    uids = _uids(victim.pid, 2)
    time.sleep(0.5)
    assert [p for p in _procs() if p[1] in uids]  # the tests are running
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    deadline = time.time() + 10
    while time.time() < deadline and [p for p in _procs() if p[1] in uids or p[0] in workers]:
        time.sleep(0.1)
    assert [p for p in _procs() if p[1] in uids or p[0] in workers] == []



def test_no_stale_verdict_survives_on_a_reused_board(isolation):
    # The first job leaves "pass" records behind. The second job's candidate process is stopped after its
    # first test and cut off; its other tests must then really run (and fail), not read old records.
    with Executor(jobs=1, limits=Limits(timeout=1.0), isolation=isolation) as ex:
        assert run(ex, OK, [SANITY] * 4).statuses == ["pass"] * 4
        stop_parent = "import os, signal\nos.kill(os.getppid(), signal.SIGSTOP)"
        r = run(ex, OK, [stop_parent] + ["assert f(1) == 3"] * 3)
    assert r.statuses == ["pass", "fail", "fail", "fail"]
