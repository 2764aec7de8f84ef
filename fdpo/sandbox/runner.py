"""The candidate's side of the sandbox: load its code once, then fork a fresh copy per test (or per batch).

``candidate_main`` runs in a process the worker forks for one candidate. It
locks itself down (session, file descriptors, resource limits, private
directory, unprivileged user), runs the candidate's code once, then runs the
(already compiled) tests from that loaded state in one of two ways:

- per test (the default): one fork per test, so every test starts from the
  same fresh interpreter state at the price of a fork, not a re-exec;
- per candidate (``Session.batch``): one fork runs the tests one after the
  other, each with its own verdict and time limit; a test that crashes, hangs,
  exits, or starts processes or threads ends that fork, and a fresh one takes
  over the remaining tests, so such a test spoils only itself. What else a test
  changes (objects, modules, the working directory) is seen by the next tests
  of the same fork; the candidate's top-level names are put back after each test.

The candidate process is the parent of each test (or batch) process and
enforces the wall-clock limits; the worker above it is the backstop. Verdicts
go on the job's ``Board``: a test passes only when the process that ran it
wrote ``pass`` there after the test code returned.
Does not cover supervision of this process or reading the results (see
``supervisor``). Standard library only.
"""

from __future__ import annotations

import _signal
import _thread
import builtins
import functools
import gc
import math
import os
import signal
import sys
import time

from fdpo.sandbox import isolation, syscalls
from fdpo.sandbox.board import BLANK, CRASH, ERROR, FAIL, PASS, Board, pack_progress, prepare, unpack_progress, write
from fdpo.sandbox.processes import confined, confirm_confined, describe_status, kill_all_visible, kill_descendants, reap


# Bound now: candidate code may rebind names in os, sys or time before a test forks.
_fork, _exit, _waitpid, _kill, _killpg = os.fork, os._exit, os.waitpid, os.kill, os.killpg
_pidfd_open, _close, _perf, _monotonic = os.pidfd_open, os.close, time.perf_counter, time.monotonic
_pread, _getpid, _getppid, _process_time = os.pread, os.getpid, os.getppid, time.process_time
_exec, _compile, _setrlimit, _alarm = builtins.exec, builtins.compile, isolation.setrlimit, signal.alarm
_poll_in, _plain_fork, _RLIMIT = syscalls.poll_in, syscalls.fork, isolation.rlimit_numbers()
_REASON_CHARS = 300
_MAX_WAIT = (1 << 31) - 1  # milliseconds: the most poll() takes
PROBE_DIGEST_CHARS = 16
#: The variable an output probe leaves its values in (``fdpo.execution.probes.RESULT``).
PROBE_NAME = "__fdpo_probe__"
#: Exit status of a candidate process that asked to exit (sys.exit, exit(), quit()).
EXITED = 3
#: Exit status of a batch process that ends itself after a test that started processes or threads.
RESTART = 86
#: How long past its last verdict a batch process may take to end.
_BATCH_END_SLACK = 1.0
#: Where ``_hard_exit`` reports: the board, the candidate process's pid, when its load started.
_exiting: list = [None, 0, 0.0]
#: Whether anything asked to run code around a fork (``os.register_at_fork``) since ``prepare_worker``.
_at_fork_hooks = [False]
#: The hash of an output probe's digest; loaded by the worker with its first probe (``load_probe_hash``),
#: so that a worker that runs no probes maps one library less into every fork.
_sha1 = None


class Session:
    """What one candidate process needs: code, tests from ``first`` on, limits, how it is confined.

    ``tests`` are code objects (or the reason one does not compile), compiled
    once by the worker for every candidate of a record. The working directory
    is the worker's current one, prepared per job (see ``supervisor``).
    ``batch``: run the tests in one fork instead of one fork each.
    """

    def __init__(self, code: str, tests: list, timeouts: list[float], first: int, limits: dict,
                 uid: int | None, sweep_all: bool, outer_namespace: int, limit_processes: bool, board: Board,
                 out_w: int, batch: bool = False):
        self.code, self.tests, self.timeouts, self.first = code, tests, timeouts, first
        self.limits, self.uid = limits, uid
        self.sweep_all, self.outer_namespace, self.limit_processes = sweep_all, outer_namespace, limit_processes
        self.board, self.out_w, self.batch = board, out_w, batch
        # A CPU-time backstop for the load and for each test: a test process starts from zero; a batch process
        # raises its own soft limit before each test, up to a hard limit that covers every test it may run.
        self.cpu_each = cpu = math.ceil(2 * max(limits["load_timeout"], max(timeouts, default=0))) + 2
        self.cpu_hard = cpu * (len(tests) - first + 1) + 1 if batch else cpu + 1
        # Worked out here, in the worker: the candidate process only makes the calls (see _lock_down).
        self.rlimits = _rlimits(cpu, self.cpu_hard, limits["memory_mb"] << 20, limits["max_file_mb"] << 20,
                                limits["max_open_files"], limits["max_processes"] if limit_processes else None)
        # So is what the compiled test loop reads (see _run_tests): each record's offset, each test's wait in
        # milliseconds (-1: the test does not compile).
        self.loop_offsets = self.loop_waits = b""
        if not batch and syscalls.run_tests is not None:
            self.loop_offsets = _int_array(8, board.offsets[:len(tests)])
            self.loop_waits = _int_array(4, [-1 if type(code) is str else min(math.ceil(t * 1000), _MAX_WAIT)
                                             for code, t in zip(tests, timeouts)])


@functools.lru_cache(maxsize=16)
def _rlimits(cpu: int, cpu_hard: int, memory: int, file_size: int, files: int, processes: int | None) -> tuple:
    """The (resource, soft, hard) limits a candidate process sets; the same for most jobs of a run."""
    limit = _RLIMIT
    triples = [(limit["CPU"], cpu, cpu_hard), (limit["AS"], memory, memory), (limit["FSIZE"], file_size, file_size),
               (limit["NOFILE"], files, files), (limit["CORE"], 0, 0)]
    if processes is not None:
        triples.append((limit["NPROC"], processes, processes))
    return tuple(triples)


def prepare_worker(workdir: str) -> None:
    """Settings every candidate inherits, made once in the worker instead of once per candidate."""
    for name in ("LD_BIND_NOW", syscalls.FORCE_CTYPES):  # the worker's own (see pool); its symbols are bound already
        os.environ.pop(name, None)
    os.environ.update(HOME=workdir, TMPDIR=workdir, PWD=workdir)
    sys.stdout.reconfigure(line_buffering=True)  # so a test process can end without flushing
    sys.argv = [""]
    sys.exit = builtins.exit = builtins.quit = _hard_exit
    _signal.signal(signal.SIGXFSZ, _signal.SIG_IGN)  # an oversized write raises OSError instead of killing
    for sig in _WORKER_IGNORES:
        _signal.signal(sig, _signal.SIG_IGN)
    isolation.prctl(isolation.PR_SET_NO_NEW_PRIVS, 1)  # setuid binaries never elevate a candidate
    _watch_at_fork_hooks()


def _watch_at_fork_hooks() -> None:
    """Note when a module (``random``, ``threading``, ...) registers code to run around a fork, so that
    ``needs_bookkeeping`` hands such a process to ``os.fork``, which runs them."""
    import posix

    register = posix.register_at_fork

    def register_at_fork(**hooks):
        _at_fork_hooks[0] = True
        return register(**hooks)

    register_at_fork.__doc__ = register.__doc__
    os.register_at_fork = posix.register_at_fork = register_at_fork


def needs_bookkeeping() -> bool:
    """Whether a fork of this process needs ``os.fork``'s bookkeeping, or libc's ``fork`` will do.

    ``os.fork`` takes the import lock, re-creates the thread and import locks
    and the GIL's state in the child, drops other threads' states and runs
    ``os.register_at_fork`` hooks: every one of those writes costs the child a
    copied page (about 16 per fork, ~10 % of a test process). None of it is
    needed in a process with one thread and no hooks: then the child simply
    goes on. (The test loop asks once: a candidate process's threads and hooks
    can only come from its load.)
    """
    return _at_fork_hooks[0] or _thread._count() != 0


def fork_process() -> int:
    """Fork, with ``os.fork``'s bookkeeping only where needed; raises as ``os.fork`` does when the fork fails
    (say the process limit)."""
    return _fork() if needs_bookkeeping() else _plain_fork()


#: Ignored by the worker, restored to their defaults in each candidate process.
_WORKER_IGNORES = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2,
                   signal.SIGALRM)
_RESTORED_SIGNALS = tuple(int(sig) for sig in _WORKER_IGNORES[1:])  # plain ints: nothing of the enum to touch


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
    start = _perf()
    _exiting[:] = [board, _getpid(), start]
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
    if s.batch:
        _run_batches(s, namespace)
    else:
        _run_tests(s, namespace)
    board.set_progress(len(s.tests), _monotonic())


def compile_test(test: str):
    """A test's code object, or the reason it does not compile (then it is an ``error`` for everyone)."""
    try:
        return _compile(test, "<test>", "exec")
    except Exception as exc:  # noqa: BLE001 - SyntaxError, ValueError (null bytes), a test too deep to compile
        return describe(exc)


# What a candidate process calls to lock itself down, bound here in the worker: looked up in a module there,
# each name would also write the interpreter's type cache, and every page written there is a copied page.
_setsid, _dup2, _closerange, _set_signal = os.setsid, os.dup2, os.closerange, _signal.signal
_SIG_DFL, _SIGINT, _SIGKILL, _default_int_handler = _signal.SIG_DFL, _signal.SIGINT, _signal.SIGKILL, \
    _signal.default_int_handler
_prctl, _drop_privileges, _SANDBOX_UID_BASE = isolation.prctl, isolation.drop_privileges, isolation.SANDBOX_UID_BASE
_PR_SET_CHILD_SUBREAPER, _PR_SET_PDEATHSIG = isolation.PR_SET_CHILD_SUBREAPER, isolation.PR_SET_PDEATHSIG


def _lock_down(s: Session) -> None:
    _setsid()
    _dup2(s.out_w, 1)
    _dup2(s.out_w, 2)
    _closerange(3, 1 << 20)
    for sig in _RESTORED_SIGNALS:
        _set_signal(sig, _SIG_DFL)
    _set_signal(_SIGINT, _default_int_handler)
    for which, soft, hard in s.rlimits:
        _setrlimit(which, soft, hard)
    _drop_privileges(s.uid)
    # kill(-1) sweeps only where facts show it stays inside the sandbox (see processes.kill_all_visible);
    # in a PID namespace the worker found that out already, as a dedicated uid it holds from now on.
    s.sweep_all = s.sweep_all and (confined() or confirm_confined(s.outer_namespace, _SANDBOX_UID_BASE))
    # Orphans of a test come back to this process, to be found, killed and reaped before the next test
    # (left to the worker, their zombies would pile up against the process limit until the job ends).
    _prctl(_PR_SET_CHILD_SUBREAPER, 1)
    if not s.sweep_all:
        _prctl(_PR_SET_PDEATHSIG, _SIGKILL)  # no PID namespace to end with the worker


def _load(code: str) -> dict:
    namespace = {"__name__": "__candidate__", "__builtins__": builtins}
    _exec(_compile(code, "<candidate>", "exec"), namespace)
    return namespace


def _probe_flags(tests: list) -> list[bool]:
    """Which tests are output probes (their ``pass`` carries a digest): those that set ``PROBE_NAME``."""
    return [type(code) is not str and PROBE_NAME in code.co_names for code in tests]


def load_probe_hash(tests: list) -> None:
    """Load the probe digest's hash if ``tests`` (code objects) hold a probe: in the worker, which may still
    read the interpreter's files; ``_sha1`` spares every process of the sandbox OpenSSL's pages."""
    global _sha1
    if _sha1 is None and any(_probe_flags(tests)):
        try:
            from _sha1 import sha1 as _sha1
        except ImportError:  # pragma: no cover - an interpreter built without it
            from hashlib import sha1 as _sha1


# ---------------------------------------------------------------- a fork per test

def _run_tests(s: Session, namespace: dict) -> None:
    """Fork each test from the loaded state and wait for it, within its limit: in the compiled loop
    (``syscalls.run_tests``) where it is built, else in Python (``_run_tests_here``).

    Every page this process writes between forks costs a page fault (a copy
    while the test process lives). The compiled loop writes none of this
    process's Python objects from one test to the next: it comes back to Python
    only in the test's process (to run it) and for a test that needs a look
    (no verdict of its own, killed at its limit, left processes or threads).
    See docs/execute.md, "Speed".
    """
    board, tests, timeouts = s.board, s.tests, s.timeouts
    if syscalls.run_tests is None:
        return _run_tests_here(s, namespace)
    for j in range(s.first, len(tests)):
        if type(tests[j]) is str:
            board.put(j, "error", 0.0, tests[j])  # the test itself does not compile
    run_tests, mem, times, offsets, probes = syscalls.run_tests, board.map, board.times, board.offsets, \
        _probe_flags(tests)
    last_pid, plain, first = _open_last_pid(), not needs_bookkeeping(), s.first
    while True:
        event = run_tests(board.address, board.size, first, s.loop_offsets, s.loop_waits, BLANK, last_pid, plain)
        if type(event) is int:  # this is the test's process
            try:
                _test_main(namespace, tests[event], board, mem, times, offsets[event], probes[event])
            finally:
                _exit(0)  # no flush: stdout is line-buffered (see prepare_worker), and a flush costs page faults
        if event is None:
            return
        j, pid, status, finished, seconds, moved = event
        if pid < 0:
            _unforked(board, j, OSError(status, os.strerror(status)))
        else:
            if moved:  # the test started processes or threads (or cannot tell)
                _sweep(s, pid)
            if mem[offsets[j]] != 1:
                board.put(j, *_verdict_without_report(status, bool(finished), seconds, timeouts[j]))
        first = j + 1


def _int_array(size: int, values: list[int]) -> bytes:
    """``values`` as native signed ints of ``size`` bytes, the way ``syscalls.run_tests`` reads them."""
    return b"".join(v.to_bytes(size, sys.byteorder, signed=True) for v in values)


def _run_tests_here(s: Session, namespace: dict) -> None:
    """The test loop in Python, for an install without the compiled one (or ``FDPO_SANDBOX_CTYPES=1``).

    It keeps to local names and precomputed offsets, for the same reason as the
    compiled loop: each page it writes between forks is a copy.
    """
    board, tests, timeouts = s.board, s.tests, s.timeouts
    mem, times, offsets, probes = board.map, board.times, board.offsets, _probe_flags(tests)
    waits, compiled = [t * 1000 for t in timeouts], [type(code) is not str for code in tests]
    fork, test_main, pread, to_int, poll_in = _fork if needs_bookkeeping() else _plain_fork, _test_main, _pread, \
        int, _poll_in
    last_pid = _open_last_pid()
    for j in range(s.first, len(tests)):
        code = tests[j]
        if not compiled[j]:
            board.put(j, "error", 0.0, code)  # the test itself does not compile
            continue
        offset = offsets[j]
        prepare(mem, offset)  # nothing earlier may pre-fill this verdict
        start = _monotonic()
        pack_progress(board, j, start)
        try:
            pid = fork()
        except OSError as exc:
            _unforked(board, j, exc)
            continue
        if pid == 0:
            try:
                test_main(namespace, code, board, mem, times, offset, probes[j])
            finally:
                _exit(0)
        pidfd = _pidfd_open(pid)
        finished = poll_in((pidfd,), waits[j])
        if not finished:
            _kill_group(pid)
        status = _waitpid(pid, 0)[1]
        _close(pidfd)
        try:  # the namespace's last PID (see _last_pid), read inline: a call is a frame and more pages
            moved = to_int(pread(last_pid, 32, 0)) != pid
        except (OSError, ValueError):
            moved = True
        if moved:  # the test started processes or threads (or cannot tell)
            _sweep(s, pid)
        if mem[offset] != 1:
            board.put(j, *_verdict_without_report(status, bool(finished), _monotonic() - start, timeouts[j]))


def _test_main(namespace: dict, code, board: Board, mem, times, offset: int, probe: bool) -> None:
    """Run one test in the loaded namespace and leave its verdict: a forked test process's whole
    work (the caller exits), or one step of a batch.

    Lean on purpose: each object it touches costs a copied page. A pass writes
    only its time and the state byte (the record was ``prepare``d as a pass).
    ``warm_up`` runs it in the worker first, so that no test process warms up
    or specialises its code (a write, hence a copy, each).
    """
    start = _perf()
    try:
        _exec(code, namespace)
    except AssertionError as exc:
        write(board, offset, FAIL, _perf() - start, describe(exc))
    except SystemExit as exc:
        write(board, offset, CRASH, _perf() - start, describe(exc))
    except BaseException as exc:  # noqa: BLE001 - every other exception is the test's error
        write(board, offset, ERROR, _perf() - start, describe(exc))
    else:
        if probe:
            write(board, offset, PASS, _perf() - start, _probe_result(namespace))
        else:
            times[(offset >> 3) + 1] = _perf() - start  # the record is a pass already, but for its time and state
            mem[offset] = 1


def warm_up() -> None:
    """Run a test process's code here in the worker, on a scratch board, until CPython has specialised it."""
    global _sha1
    board = Board(1)
    namespace = {"__builtins__": builtins}
    tests = [_compile(t, "<warm-up>", "exec") for t in
             ("assert 1", "assert 0", "assert 0, 'x'", "1 / 0", f"{PROBE_NAME} = 'x'")]
    loaded, _sha1 = _sha1, _sha1 or _WarmUpHash
    for _ in range(64):
        for code in tests:
            prepare(board.map, board.offsets[0])
            _test_main(namespace, code, board, board.map, board.times, board.offsets[0], PROBE_NAME in code.co_names)
    _sha1 = loaded
    board.close()


class _WarmUpHash:
    """Stands in for ``_sha1`` while ``warm_up`` runs a probe's path (the worker may never load the real one)."""

    def __init__(self, data: bytes):
        pass

    def hexdigest(self) -> str:
        return ""


# ---------------------------------------------------------------- a fork per candidate (batch)

def _run_batches(s: Session, namespace: dict) -> None:
    """Run the tests in one fork; after a test that ends it, a fresh fork takes over the rest.

    The batch process says on the board which test runs since when; this
    process sleeps until that test's deadline (or the batch's end) and kills the
    batch when the test overruns. Whatever ended a batch, the first test left
    without a verdict is the one it ended in: it gets the verdict (timeout,
    crash) and the next batch starts after it.
    """
    board, tests, timeouts = s.board, s.tests, s.timeouts
    mem, offsets, probes, n = board.map, board.offsets, _probe_flags(tests), len(tests)
    last_pid = _open_last_pid()  # without it, every test gets a fork of its own
    j = s.first
    while j < n:
        for k in range(j, n):
            mem[offsets[k]] = 0  # nothing an earlier batch left may read as a verdict
        start = _monotonic()
        pack_progress(board, j, start)
        parent = _getpid()
        try:
            pid = fork_process()
        except OSError as exc:
            _unforked(board, j, exc)
            j += 1
            continue
        if pid == 0:
            try:
                _batch_main(namespace, tests, j, board, probes, last_pid, s.cpu_each, s.cpu_hard, parent)
            finally:
                _exit(70)
        pidfd = _pidfd_open(pid)
        killed_in = _watch_batch(pidfd, board, offsets, timeouts, j, start, pid)
        status = _waitpid(pid, 0)[1]
        _close(pidfd)
        _sweep(s, pid)
        j = _after_batch(board, mem, offsets, timeouts, j, start, status, killed_in)


def _watch_batch(pidfd: int, board: Board, offsets, timeouts, first: int, start: float, pid: int) -> int:
    """Wait for a batch process to end; kill it when its test overruns. The test it was killed in, or -1.

    Which test runs, and since when, is the batch's word, so it is bounded: a
    start before the batch's or after now does not count, and no test's deadline
    lies past the sum of the limits of the tests up to it (plus slack). A test
    whose verdict is in while the next has not started yet is taken to end now.
    """
    n, mem, fds = len(timeouts), board.map, (pidfd,)
    seen, seen_at = None, start
    while True:
        now = _monotonic()
        current, since = unpack_progress(board)
        if not first <= current < n:
            current, since = first, start
        state = (current, since, mem[offsets[current]])
        if state != seen:
            seen, seen_at = state, now
        if state[2] == 1:  # done, and the next test not started yet (or the batch is ending)
            current, since = current + 1, seen_at
        since = min(max(since, start), now)
        if current == n:
            deadline = since + _BATCH_END_SLACK
        else:
            cap = start + sum(timeouts[first:current + 1]) + _BATCH_END_SLACK + 0.01 * (current - first)
            deadline = min(since + timeouts[current], cap)
        if now >= deadline:
            _kill_group(pid)
            return current
        if _poll_in(fds, (deadline - now) * 1000):
            return -1


def _after_batch(board: Board, mem, offsets, timeouts, first: int, start: float, status: int, killed_in: int) -> int:
    """Give the test a batch ended in its verdict; where the next batch starts."""
    n = len(offsets)
    k = first
    while k < n and mem[offsets[k]] == 1:
        k += 1
    if k == n:
        return n
    current, since = unpack_progress(board)
    ended_in = killed_in if killed_in >= 0 else current
    stopped = killed_in < 0 and os.WIFEXITED(status) and os.WEXITSTATUS(status) == RESTART
    if k != first and (k != ended_in or stopped):
        return k  # the batch ended after its test's verdict (or was stopped between tests): the rest run afresh
    since = min(max(since, start), _monotonic()) if current == k else start
    board.put(k, *_verdict_without_report(status, killed_in < 0, _monotonic() - since, timeouts[k]))
    return k + 1


def _batch_main(namespace: dict, tests: list, first: int, board: Board, probes, last_pid: int, cpu_each: int,
                cpu_hard: int, parent: int) -> None:
    """The batch process: run the tests from ``first`` on, one after the other, each with its own verdict.

    After each test the candidate's top-level names are put back and a pending
    alarm is cancelled; after a test that started a process or a thread (the
    namespace's last PID moved: they could still be running) it ends itself,
    and a fresh fork runs the rest.
    """
    isolation.prctl(isolation.PR_SET_PDEATHSIG, signal.SIGKILL)  # never outlive the candidate process
    if _getppid() != parent:
        _exit(0)
    mem, times, offsets = board.map, board.times, board.offsets
    names = namespace.copy()
    soft = cpu_each
    mark = _last_pid(last_pid)
    for j in range(first, len(tests)):
        code, offset = tests[j], offsets[j]
        prepare(mem, offset)
        pack_progress(board, j, _monotonic())
        if type(code) is str:
            write(board, offset, ERROR, 0.0, code)  # the test itself does not compile
            continue
        need = _process_time() + cpu_each
        if need > soft:  # the CPU time of the tests before counts against this process's limit
            soft = min(math.ceil(need), cpu_hard)
            _setrlimit(_RLIMIT["CPU"], soft, cpu_hard)
        _test_main(namespace, code, board, mem, times, offset, probes[j])
        namespace.clear()
        namespace.update(names)
        _alarm(0)  # an alarm a test left set would end the batch in a later test
        now = _last_pid(last_pid)
        if now is None or now != mark:
            _exit(RESTART)
    _exit(0)


def _open_last_pid() -> int:
    """A descriptor for the last PID handed out in this PID namespace, or -1."""
    try:
        return os.open("/proc/sys/kernel/ns_last_pid", os.O_RDONLY)
    except OSError:
        return -1


def _last_pid(fd: int) -> bytes | None:
    """The last PID handed out in this PID namespace (processes and threads), or None if unknown."""
    try:
        return _pread(fd, 32, 0)
    except OSError:
        return None


# ---------------------------------------------------------------- both

def _verdict_without_report(status: int, finished: bool, seconds: float, timeout: float) -> tuple[str, float, str]:
    """What happened to a test process that left no verdict of its own."""
    if not finished:
        return "timeout", seconds, f"no result after {timeout:g}s"
    if os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGXCPU:
        return "timeout", seconds, "CPU time limit exceeded"
    return "crash", seconds, f"test process {describe_status(status)} before finishing"


def _unforked(board: Board, test: int, exc: OSError) -> None:
    """A test whose process could not be forked (say its candidate's load used up the process limit)."""
    board.put(test, "crash", 0.0, f"could not start the test's process: {describe(exc)}")


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


def _probe_result(namespace: dict) -> str:
    """A digest of the values an output probe saw (``fdpo.execution.probes``), the reason of its ``pass``; "" if it saw none.

    Hashed here, where the hash is already loaded, not in the probe: an import costs a test milliseconds.
    """
    value = namespace.get(PROBE_NAME)
    if type(value) is not str:
        return ""
    return _sha1(value.encode("utf-8", "replace")).hexdigest()[:PROBE_DIGEST_CHARS]


def _hard_exit(code=None) -> None:
    """sys.exit, exit() and quit() in the sandbox: report and end the process, whatever catches SystemExit.

    In the candidate process (its load, or a thread of its own) the load is a
    crash; in a test or batch process, the test the board says is running.
    """
    try:
        shown = "" if code is None else repr(code)[:100]
    except BaseException:  # noqa: BLE001 - a hostile __repr__
        shown = "…"
    board, owner, load_start = _exiting
    if board is not None:
        why = f"exit({shown}) called"
        if _getpid() == owner:
            board.put(None, "crash", _perf() - load_start, why)
        else:
            test, since = board.progress()
            if 0 <= test < board.tests:
                board.put(test, "crash", max(0.0, _monotonic() - since), why)
    _flush_std()
    _exit(EXITED)


def describe(exc: BaseException) -> str:
    """``Type: message``, one line, at most a few hundred characters, whatever the exception holds."""
    kind = type(exc)
    if kind is AssertionError and not exc.args:
        return "AssertionError"  # a bare ``assert`` failing, the commonest verdict: spared the rest
    name = kind.__name__
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
