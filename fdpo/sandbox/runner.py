"""The candidate's side of the sandbox: load its code once, fork a fresh copy per test.

``candidate_main`` runs in a process the worker forks for one candidate. It
locks itself down (session, file descriptors, resource limits, private
directory, unprivileged user), runs the candidate's code
once, then forks one child per (already compiled) test from that loaded state, so every test
starts from the same fresh interpreter state at the price of a fork, not a
re-exec. It is the parent of each test process and enforces the test's
wall-clock limit; the worker above it is the backstop. Verdicts go on the
job's ``Board``: a test passes only when its own process wrote ``pass`` there
after the test code returned.
Does not cover supervision of this process or reading the results (see
``supervisor``). Standard library only.
"""

from __future__ import annotations

import _signal
import builtins
import gc
import hashlib
import math
import os
import resource
import select
import signal
import sys
import time

from fdpo.sandbox import isolation
from fdpo.sandbox.board import Board
from fdpo.sandbox.processes import confined, confirm_confined, describe_status, kill_all_visible, kill_descendants, reap

# Bound now: candidate code may rebind names in os, sys or time before a test forks.
_fork, _exit, _waitpid, _kill, _killpg = os.fork, os._exit, os.waitpid, os.kill, os.killpg
_pidfd_open, _close, _perf, _monotonic = os.pidfd_open, os.close, time.perf_counter, time.monotonic
_exec, _compile, _setrlimit = builtins.exec, builtins.compile, resource.setrlimit
_REASON_CHARS = 300
PROBE_DIGEST_CHARS = 16
#: Exit status of a candidate process that asked to exit (sys.exit, exit(), quit()).
EXITED = 3
_on_exit = [lambda why: None]  # how _hard_exit reports, set per process (load or test)


class Session:
    """What one candidate process needs: code, tests from ``first`` on, limits, how it is confined.

    ``tests`` are code objects (or the reason one does not compile), compiled
    once by the worker for every candidate of a record. The working directory
    is the worker's current one, prepared per job (see ``supervisor``).
    """

    def __init__(self, code: str, tests: list[str], timeouts: list[float], first: int, limits: dict,
                 uid: int | None, sweep_all: bool, outer_namespace: int, limit_processes: bool, board: Board,
                 out_w: int):
        self.code, self.tests, self.timeouts, self.first = code, tests, timeouts, first
        self.limits, self.uid = limits, uid
        self.sweep_all, self.outer_namespace, self.limit_processes = sweep_all, outer_namespace, limit_processes
        self.board, self.out_w = board, out_w


def prepare_worker(workdir: str) -> None:
    """Settings every candidate inherits, made once in the worker instead of once per candidate."""
    os.environ.update(HOME=workdir, TMPDIR=workdir, PWD=workdir)
    sys.stdout.reconfigure(line_buffering=True)  # so a test process can end without flushing
    sys.argv = [""]
    sys.exit = builtins.exit = builtins.quit = _hard_exit
    _signal.signal(signal.SIGXFSZ, _signal.SIG_IGN)  # an oversized write raises OSError instead of killing
    for sig in _WORKER_IGNORES:
        _signal.signal(sig, _signal.SIG_IGN)
    isolation.prctl(isolation.PR_SET_NO_NEW_PRIVS, 1)  # setuid binaries never elevate a candidate


#: Ignored by the worker, restored to their defaults in each candidate process.
_WORKER_IGNORES = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2,
                   signal.SIGALRM)


def candidate_main(s: Session) -> None:
    """Entry point of the forked candidate process; never returns."""
    try:
        _serve(s)
    finally:
        _exit(70)  # whatever the candidate did, never fall back into the worker's code


def _serve(s: Session) -> None:
    board = s.board
    try:
        _lock_down(s)
    except BaseException as exc:  # noqa: BLE001 - reported, then this process ends
        board.put(None, "crash", 0.0, f"sandbox setup failed: {describe(exc)}")
        return
    _on_exit[0] = lambda why: board.put(None, "crash", 0.0, why)
    poller = select.poll()
    start = _perf()
    try:
        namespace = _load(s.code)
    except SystemExit as exc:
        board.put(None, "crash", _perf() - start, describe(exc))
        return
    except BaseException as exc:  # noqa: BLE001 - any failure to load is the candidate's
        board.put(None, "error", _perf() - start, describe(exc))
        return
    board.put(None, "ok", _perf() - start, "")
    _flush_std()
    gc.freeze()  # tests then never touch (and copy) the loaded objects through GC passes
    _run_tests(s, namespace, poller)
    board.set_progress(len(s.tests), _monotonic())


def compile_test(test: str):
    """A test's code object, or the reason it does not compile (then it is an ``error`` for everyone)."""
    try:
        return _compile(test, "<test>", "exec")
    except Exception as exc:  # noqa: BLE001 - SyntaxError, ValueError (null bytes), a test too deep to compile
        return describe(exc)


def _lock_down(s: Session) -> None:
    os.setsid()
    os.dup2(s.out_w, 1)
    os.dup2(s.out_w, 2)
    os.closerange(3, 1 << 20)
    for sig in _WORKER_IGNORES[1:]:
        _signal.signal(sig, _signal.SIG_DFL)
    _signal.signal(signal.SIGINT, _signal.default_int_handler)
    limits = s.limits
    # A CPU-time backstop for the load and for each test process (which starts from zero).
    cpu = math.ceil(2 * max(limits["load_timeout"], max(s.timeouts, default=0))) + 2
    _setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    _setrlimit(resource.RLIMIT_AS, (limits["memory_mb"] << 20,) * 2)
    _setrlimit(resource.RLIMIT_FSIZE, (limits["max_file_mb"] << 20,) * 2)
    _setrlimit(resource.RLIMIT_NOFILE, (limits["max_open_files"],) * 2)
    _setrlimit(resource.RLIMIT_CORE, (0, 0))
    if s.limit_processes:
        _setrlimit(resource.RLIMIT_NPROC, (limits["max_processes"],) * 2)
    isolation.drop_privileges(s.uid)
    # kill(-1) sweeps only where facts show it stays inside the sandbox (see processes.kill_all_visible);
    # in a PID namespace the worker found that out already, as a dedicated uid it holds from now on.
    s.sweep_all = s.sweep_all and (confined() or confirm_confined(s.outer_namespace, isolation.SANDBOX_UID_BASE))
    # Orphans of a test come back to this process, to be found, killed and reaped before the next test
    # (left to the worker, their zombies would pile up against the process limit until the job ends).
    isolation.prctl(isolation.PR_SET_CHILD_SUBREAPER, 1)
    if not s.sweep_all:
        isolation.prctl(isolation.PR_SET_PDEATHSIG, signal.SIGKILL)  # no PID namespace to end with the worker


def _load(code: str) -> dict:
    namespace = {"__name__": "__candidate__", "__builtins__": builtins}
    _exec(_compile(code, "<candidate>", "exec"), namespace)
    return namespace


def _run_tests(s: Session, namespace: dict, poller) -> None:
    """Fork each test from the loaded state and wait for it, within its limit.

    Every page this loop writes after a fork costs a page fault, so it keeps
    to a few local names (see docs/execute.md, "Speed").
    """
    board, timeouts = s.board, s.timeouts
    register, unregister, wait = poller.register, poller.unregister, poller.poll
    for j in range(s.first, len(s.tests)):
        code = s.tests[j]
        if isinstance(code, str):
            board.put(j, "error", 0.0, code)  # the test itself does not compile
            continue
        start = _monotonic()
        board.start_test(j, start)
        pid = _fork()
        if pid == 0:
            try:
                _test_main(board, namespace, j, code)
            finally:
                _exit(70)
        pidfd = _pidfd_open(pid)
        register(pidfd, select.POLLIN)
        finished = bool(wait(timeouts[j] * 1000))
        unregister(pidfd)
        if not finished:
            _kill_group(pid)
        status = _waitpid(pid, 0)[1]
        _close(pidfd)
        _sweep(s, pid)
        if not board.has(j):
            board.put(j, *_verdict_without_report(status, finished, _monotonic() - start, timeouts[j]))


def _verdict_without_report(status: int, finished: bool, seconds: float, timeout: float) -> tuple[str, float, str]:
    """What happened to a test process that left no verdict of its own."""
    if not finished:
        return "timeout", seconds, f"no result after {timeout:g}s"
    if os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGXCPU:
        return "timeout", seconds, "CPU time limit exceeded"
    return "crash", seconds, f"test process {describe_status(status)} before finishing"


def _kill_group(pid: int) -> None:
    for kill in (_killpg, _kill):
        try:
            kill(pid, signal.SIGKILL)
        except OSError:
            pass


def _sweep(s: Session, pid: int) -> None:
    """After the test process was reaped: kill and reap whatever it left behind (daemons, setsid escapees)."""
    if s.sweep_all:
        if kill_all_visible():
            reap(1.0)
        return
    _kill_group(pid)
    kill_descendants(os.getpid())
    reap(1.0)


def _test_main(board: Board, namespace: dict, j: int, code) -> None:
    """The forked test process: run one test in the loaded namespace, leave its verdict, exit."""
    start = _perf()
    _on_exit[0] = lambda why: board.put(j, "crash", _perf() - start, why)
    try:
        _exec(code, namespace)
    except AssertionError as exc:
        board.put(j, "fail", _perf() - start, describe(exc))
    except SystemExit as exc:
        board.put(j, "crash", _perf() - start, describe(exc))
    except BaseException as exc:  # noqa: BLE001 - every other exception is the test's error
        board.put(j, "error", _perf() - start, describe(exc))
    else:
        board.put(j, "pass", _perf() - start, _probe_result(namespace))
    _exit(0)  # no flush: stdout is line-buffered (see prepare_worker), and a flush costs page faults


def _probe_result(namespace: dict) -> str:
    """A digest of the values an output probe saw (``fdpo.probes``), the reason of its ``pass``; "" for other tests.

    Hashed here, where hashlib is already loaded, not in the probe: importing it costs a test ~3 ms.
    """
    value = namespace.get("__fdpo_probe__")
    if type(value) is not str:
        return ""
    return hashlib.sha1(value.encode("utf-8", "replace")).hexdigest()[:PROBE_DIGEST_CHARS]


def _hard_exit(code=None) -> None:
    """sys.exit, exit() and quit() in the sandbox: report and end the process, whatever catches SystemExit."""
    try:
        shown = "" if code is None else repr(code)[:100]
    except BaseException:  # noqa: BLE001 - a hostile __repr__
        shown = "…"
    _on_exit[0](f"exit({shown}) called")
    _flush_std()
    _exit(EXITED)


def describe(exc: BaseException) -> str:
    """``Type: message``, one line, at most a few hundred characters, whatever the exception holds."""
    name = type(exc).__name__
    try:
        message = str(exc)
    except BaseException:  # noqa: BLE001 - a hostile __str__
        return name
    text = f"{name}: {message[:_REASON_CHARS]}" if message else name
    text = text.replace("\n", " ").replace("\r", " ").replace("\t", " ")
    return text if len(text) <= _REASON_CHARS else text[: _REASON_CHARS - 1] + "…"


def _flush_std() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:  # noqa: BLE001 - closed or replaced by the candidate
            pass
