"""The ``fdpo`` side of the sandbox: a pool of worker processes and the ordered, lazy ``map``.

Covers starting the workers (bare interpreters with a clean environment, see
``zygote``; pinned to CPUs, see ``worker_cpus``), handing them one job each,
collecting results in input order with a bounded prefetch (so a stream of
records can be fed), replacing a worker that dies or stops answering (its job
becomes ``crash`` outcomes, the stream goes on), and ``run_candidate`` for
one-off calls on a shared pool.
Does not cover anything that happens inside a worker.
"""

from __future__ import annotations

import atexit
import itertools
import os
import queue
import select
import selectors
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from fdpo.errors import FdpoError
from fdpo.sandbox import wire
from fdpo.sandbox.limits import CandidateResult, Limits, Outcome
from fdpo.sandbox.processes import rmtree
from fdpo.sandbox.syscalls import FORCE_CTYPES

Job = tuple[str, list[str], "list[float] | None"]

#: Only this reaches candidates: no secrets, one thread for every numeric library.
CLEAN_ENV = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "LANG": "C.UTF-8",
    "LC_ALL": "C.UTF-8",
    "PYTHONDONTWRITEBYTECODE": "1",
    "PYTHONIOENCODING": "utf-8",
    **{v: "1" for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS",
                        "VECLIB_MAXIMUM_THREADS", "BLIS_NUM_THREADS")},
}
#: For the worker process only (it drops them from the environment its candidates get): resolve every
#: library symbol at start, so that no test process resolves one (and copies the pages that takes).
WORKER_ENV = {"LD_BIND_NOW": "1"}
_BOOT = ("import sys; sys.path.insert(0, sys.argv.pop(1)); sys.path += sys.argv.pop(1).split(':'); "
         "from fdpo.sandbox.zygote import main; main()")
TMPFS_MB = 512  # each worker's private /tmp
#: What one fork of a loaded candidate runs: one test (each test from a fresh state), or all its tests.
ISOLATION = ("test", "candidate")
START_SECONDS = 60.0
#: Added to a job's own limits before ``fdpo`` gives up on its worker.
WORKER_GRACE = 30.0


def _passed_on() -> dict[str, str]:
    """What of fdpo's own environment the workers read: ``FDPO_SANDBOX_CTYPES`` (see ``syscalls``)."""
    return {name: os.environ[name] for name in (FORCE_CTYPES,) if name in os.environ}


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def worker_cpus(jobs: int, pin: bool | None = None) -> list[int | None]:
    """The CPU each of ``jobs`` workers is pinned to (``None``: not pinned).

    ``pin=None`` pins when every CPU this process may use gets a worker: a
    worker's candidate and test processes then stay on its CPU, instead of a
    fork landing on a CPU that another worker keeps busy while its own goes idle
    (~15 % more outcomes per second forking per test on 2 cores; docs/benchmarks.md).
    With fewer workers than CPUs the scheduler places them, unless ``pin=True``:
    then one thread of each core is taken before a second one.
    """
    try:
        cpus = os.sched_getaffinity(0)
    except AttributeError:  # pragma: no cover - not Linux
        return [None] * jobs
    if pin is False or (pin is None and jobs < len(cpus)):
        return [None] * jobs
    cpus = sorted(cpus, key=_core_thread)  # read the topology only when pinning
    return [cpus[i % len(cpus)] for i in range(jobs)]


def placement(cpus: list[int | None]) -> str:
    """Where workers pinned to ``cpus`` (``worker_cpus``) run, in words: "2 workers, pinned to CPUs 0, 1"."""
    pinned = [cpu for cpu in cpus if cpu is not None]
    workers = f"{len(cpus)} worker{'s' * (len(cpus) != 1)}"
    if not pinned:
        return f"{workers}, placed by the scheduler"
    return f"{workers}, pinned to CPU{'s' * (len(set(pinned)) != 1)} {', '.join(map(str, pinned))}"


def _core_thread(cpu: int) -> tuple[int, int]:
    """(which thread of its core ``cpu`` is, ``cpu``): sorting by it puts one thread of every core first."""
    try:
        siblings = cpu_list(Path(f"/sys/devices/system/cpu/cpu{cpu}/topology/thread_siblings_list").read_text())
    except (OSError, ValueError):
        return 0, cpu
    return sorted(siblings).index(cpu) if cpu in siblings else 0, cpu


def cpu_list(text: str) -> list[int]:
    """The CPUs of a Linux CPU list such as ``0-3,8``."""
    cpus: list[int] = []
    for part in text.strip().split(","):
        first, _, last = part.partition("-")
        cpus += range(int(first), int(last or first) + 1)
    return cpus


def slot(pid: int, index: int) -> int:
    """Worker ``index`` of process ``pid``: its number, and as root its uid offset (``isolation.SANDBOX_UID_BASE``).

    Distinct per process and worker, so concurrent pools never share a sandbox uid.
    """
    return (pid * 1024 + index) % 100_000_000


class SandboxError(FdpoError):
    """The sandbox itself cannot run (as opposed to a candidate failing in it)."""


class _Worker:
    def __init__(self, slot: int, namespaces: bool, cpu: int | None):
        root = str(Path(__file__).resolve().parents[2])
        paths = sysconfig.get_paths()
        sites = list(dict.fromkeys(paths[k] for k in ("purelib", "platlib")))
        needed = [root, *sites, paths["stdlib"], paths["platstdlib"], os.path.dirname(os.path.realpath(sys.executable))]
        debug = os.environ.get("FDPO_DEBUG", "") not in ("", "0")
        # Where candidates' directories go if the worker gets no private /tmp (it creates it then);
        # removed with the worker.
        self.tmp_root = os.path.join(tempfile.gettempdir(), f"fdpo-sandbox-{os.getpid()}-{slot}-{id(self):x}")
        self.proc = subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", _BOOT, root, os.pathsep.join(sites), str(slot),
             "1" if namespaces else "0", self.tmp_root, str(TMPFS_MB), os.pathsep.join(needed),
             "" if cpu is None else str(cpu)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=None if debug else subprocess.DEVNULL,
            env={**CLEAN_ENV, **WORKER_ENV, **_passed_on()}, cwd="/", start_new_session=True, bufsize=0,
        )
        self.in_fd, self.out_fd = self.proc.stdin.fileno(), self.proc.stdout.fileno()
        self.busy: tuple | None = None  # (job id, map call, input index, deadline, job)
        self.description = ""

    def wait_ready(self) -> None:
        if not select.select([self.out_fd], [], [], START_SECONDS)[0]:
            self.proc.kill()
            raise SandboxError(f"sandbox worker did not start within {START_SECONDS:g}s")
        message = wire.receive(self.out_fd)
        if message is None or message[0] != "ready":
            detail = message[1] if message else f"exit status {self.proc.wait()}"
            raise SandboxError(f"sandbox worker failed to start: {detail}")
        self.description = message[1]

    def kill(self) -> None:
        self.hang_up()
        if not _ends_within(self.proc, 2.0):
            self.proc.kill()
        self.proc.wait()
        rmtree(self.tmp_root)

    def hang_up(self) -> None:
        """Close the job channel: the worker ends once its current job is done."""
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError:
                pass


def _ends_within(proc: subprocess.Popen, seconds: float) -> bool:
    """Wait up to ``seconds`` for ``proc`` to end: woken by its exit (a pidfd), not by polling with sleeps."""
    try:
        fd = os.pidfd_open(proc.pid)
    except OSError:  # already reaped, or no pidfd here
        try:
            proc.wait(timeout=seconds)
            return True
        except subprocess.TimeoutExpired:
            return False
    try:
        return bool(select.select([fd], [], [], seconds)[0])
    finally:
        os.close(fd)


class Executor:
    """Run candidates in parallel sandbox workers; a context manager.

    ``map`` takes ``(code, tests, timeouts)`` jobs (``timeouts`` per test, or
    None for ``limits.timeout``) and yields one ``CandidateResult`` per job,
    in input order, reading its input lazily. ``namespaces=False`` skips the
    Linux namespaces (the weaker fallback, kept switchable for tests).
    ``isolation``: ``"test"`` (default) forks the loaded candidate once per
    test; ``"candidate"`` runs a candidate's tests in one fork, each with its
    own verdict and limit, a fresh fork taking over after a test that crashes,
    hangs, exits or starts processes (what a test changes is seen by the next
    ones; see docs/execute.md). ``pin``: pin each worker to a CPU (``None``:
    when there are at least as many workers as CPUs; see ``worker_cpus``).
    """

    def __init__(self, jobs: int | None = None, limits: Limits = Limits(), *, namespaces: bool = True,
                 isolation: str = "test", pin: bool | None = None):
        self.jobs = jobs if jobs is not None else available_cores()
        if self.jobs < 1:
            raise ValueError(f"jobs must be at least 1, got {self.jobs}")
        if isolation not in ISOLATION:
            raise ValueError(f"isolation must be one of {', '.join(ISOLATION)}, got {isolation!r}")
        self.limits = limits
        self.namespaces = namespaces
        self.isolation_mode = isolation
        self.cpus = worker_cpus(self.jobs, pin)
        self._wire_limits: tuple[Limits | None, dict] = (None, {})  # (a copy of the limits, as sent to workers)
        self._workers: list[_Worker] = []
        self._selector = selectors.DefaultSelector()
        self._job_ids = itertools.count()
        self._map_calls = itertools.count()
        self._results: dict[int, dict[int, CandidateResult]] = {}
        self._isolation = ""

    @property
    def isolation(self) -> str:
        """What isolation holds in this pool's workers, in words."""
        if not self._isolation:
            self.start()
        return self._isolation

    @property
    def placement(self) -> str:
        """Where the workers run, in words (see ``placement``)."""
        return placement(self.cpus)

    def __enter__(self) -> Executor:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def start(self) -> None:
        if self._workers:
            return
        workers = [self._spawn(i) for i in range(self.jobs)]
        try:
            for w in workers:
                w.wait_ready()
        except BaseException:
            for w in workers:
                w.kill()
            raise
        for w in workers:
            self._selector.register(w.out_fd, selectors.EVENT_READ, w)
        self._workers = workers
        self._isolation = workers[0].description

    def _spawn(self, index: int) -> _Worker:
        return _Worker(slot(os.getpid(), index), self.namespaces, self.cpus[index])

    def close(self) -> None:
        for w in self._workers:
            self._selector.unregister(w.out_fd)
            w.hang_up()  # all of them first, so that they end together
        for w in self._workers:
            w.kill()
        self._workers = []

    def map(self, jobs: Iterable[Job]) -> Iterator[CandidateResult]:
        for _, result in self.map_tagged((None, job) for job in jobs):
            yield result

    def map_tagged(self, items: Iterable[tuple[Any, Job | None]]) -> Iterator[tuple[Any, CandidateResult | None]]:
        """Like ``map`` for ``(tag, job)`` pairs; a ``None`` job just keeps its tag's place in the order.

        Input is read by a background thread, so a slow stream (a pipe from
        another stage) never holds back results that are ready.
        """
        self.start()
        call = next(self._map_calls)
        done = self._results[call] = {}
        tags: dict[int, Any] = {}
        queue: deque = deque()
        taken, emitted, window, exhausted = 0, 0, 4 * self.jobs, False
        feeder = _Feeder(items, self.jobs)  # so at most 5 × jobs items are read ahead of the consumer
        self._selector.register(feeder.wake_r, selectors.EVENT_READ, None)
        try:
            while True:
                while not exhausted and taken - emitted < window:
                    item = feeder.take()
                    if item is _Feeder.EMPTY:
                        break
                    if item is _Feeder.END:
                        exhausted = True
                        break
                    tags[taken] = item[0]
                    if item[1] is None:
                        done[taken] = None
                    else:
                        queue.append((taken, self._prepare(item[1])))
                    taken += 1
                self._dispatch(call, queue)
                while emitted in done:
                    yield tags.pop(emitted), done.pop(emitted)
                    emitted += 1
                if exhausted and emitted == taken:
                    return
                if not (taken - emitted < window and feeder.pending()):  # else take the waiting input first
                    self._collect(feeder)
        finally:
            self._selector.unregister(feeder.wake_r)
            feeder.close()
            del self._results[call]

    def _prepare(self, job: Job) -> tuple:
        code, tests, timeouts = job
        tests = list(tests)
        if timeouts is None:
            timeouts = [self.limits.timeout] * len(tests)
        elif len(timeouts) != len(tests):
            raise ValueError(f"{len(timeouts)} timeouts for {len(tests)} tests")
        if any(not t > 0 for t in timeouts):
            raise ValueError("timeouts must be positive")
        return code, tests, [float(t) for t in timeouts], self._limits_for_wire()

    def _limits_for_wire(self) -> dict:
        """The limits as workers take them, worked out again only when ``limits`` changed (callers may swap it)."""
        if self._wire_limits[0] != self.limits:
            self._wire_limits = (replace(self.limits), {**self.limits.to_wire(), "isolation": self.isolation_mode})
        return self._wire_limits[1]

    def _dispatch(self, call: int, queue: deque) -> None:
        for w in self._workers:
            if not queue:
                return
            if w.busy is None:
                index, job = queue.popleft()
                job_id = next(self._job_ids)
                code, tests, timeouts, limits = job
                deadline = time.monotonic() + limits["load_timeout"] + sum(timeouts) + len(tests) + WORKER_GRACE
                w.busy = (job_id, call, index, deadline, job)
                try:
                    wire.send(w.in_fd, (job_id, *job))
                except OSError:
                    self._replace(w, "the sandbox worker died")

    def _collect(self, feeder: _Feeder) -> None:
        """Wait until a worker answers (or is given up on) or more input arrives."""
        busy = [w for w in self._workers if w.busy is not None]
        timeout = max(0.0, min(w.busy[3] for w in busy) - time.monotonic()) if busy else None
        for key, _ in self._selector.select(timeout):
            w = key.data
            if w is None:
                feeder.drain_wake()
                continue
            try:
                message = wire.receive(w.out_fd)
            except OSError:
                message = None
            if message is None:
                self._replace(w, "the sandbox worker died")
            elif message[0] == "done" and w.busy and message[1] == w.busy[0]:
                self._deliver(w, _result(message[2:]))
            elif message[0] == "fault":
                self._replace(w, f"sandbox worker fault: {message[2]}")
        now = time.monotonic()
        for w in self._workers:
            if w.busy is not None and now > w.busy[3]:
                self._replace(w, "the sandbox worker stopped answering")

    def _deliver(self, w: _Worker, result: CandidateResult) -> None:
        _, call, index, _, _ = w.busy
        w.busy = None
        if call in self._results:  # else that map() was abandoned by its caller
            self._results[call][index] = result

    def _replace(self, w: _Worker, why: str) -> None:
        """A worker that died or hung: its job becomes crashes, a fresh worker takes its place."""
        job = w.busy[4] if w.busy else None
        slot = self._workers.index(w)
        self._selector.unregister(w.out_fd)
        w.proc.kill()
        w.kill()
        fresh = self._spawn(slot)
        fresh.wait_ready()
        self._selector.register(fresh.out_fd, selectors.EVENT_READ, fresh)
        self._workers[slot] = fresh
        if job is not None:
            fresh.busy = w.busy
            tests = job[1]
            self._deliver(fresh, CandidateResult("crash", why, [Outcome("crash", why) for _ in tests], 0.0))


class _Feeder:
    """Reads an iterable in a daemon thread into a bounded queue; each arrival is signalled on a pipe."""

    EMPTY, END = object(), object()

    def __init__(self, items: Iterable, size: int):
        self._queue: queue.Queue = queue.Queue(size)
        self.wake_r, self._wake_w = os.pipe()
        os.set_blocking(self.wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(items,), daemon=True, name="fdpo-sandbox-feeder")
        self._thread.start()

    def _run(self, items: Iterable) -> None:
        try:
            for item in items:
                if not self._put(item):
                    return
            self._put(self.END)
        except BaseException as exc:  # noqa: BLE001 - handed to the consuming thread, raised there
            self._put(_Failure(exc))

    def _put(self, item) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
            except queue.Full:
                continue
            try:
                os.write(self._wake_w, b".")
            except OSError:
                pass  # the pipe is full (a wake-up is pending anyway) or closed
            return True
        return False

    def take(self):
        """The next item, ``EMPTY`` if none has arrived yet, or ``END``; re-raises the input's exception."""
        try:
            item = self._queue.get_nowait()
        except queue.Empty:
            return self.EMPTY
        if isinstance(item, _Failure):
            raise item.exc
        return item

    def pending(self) -> bool:
        """Input has arrived that ``take`` has not handed out yet (its wake-up may already be spent)."""
        return not self._queue.empty()

    def drain_wake(self) -> None:
        try:
            while os.read(self.wake_r, 4096):
                pass
        except OSError:
            pass

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=0.5)  # a thread blocked on a slow input stays behind (it is a daemon)
        if not self._thread.is_alive():
            os.close(self._wake_w)
        os.close(self.wake_r)


class _Failure:
    def __init__(self, exc: BaseException):
        self.exc = exc


def _result(fields: tuple) -> CandidateResult:
    load, load_reason, load_seconds, outcomes, seconds, output = fields
    return CandidateResult(
        load=load,
        load_reason=load_reason,
        outcomes=[Outcome(s, r, t) for s, r, t in outcomes],
        seconds=seconds,
        load_seconds=load_seconds,
        output=output,
    )


_shared: Executor | None = None
_shared_lock = threading.Lock()


def run_candidate(code: str, tests: list[str], limits: Limits = Limits(),
                  timeouts: list[float] | None = None) -> CandidateResult:
    """Run one candidate against its tests in a shared single-worker sandbox (started on first use)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = Executor(jobs=1)
            atexit.register(_shared.close)
        _shared.limits = limits
        return next(_shared.map([(code, tests, timeouts)]))
