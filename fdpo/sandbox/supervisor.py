"""One candidate job on the worker's (trusted) side: fork it, watch it, cut it off, clean up.

Covers forking the candidate process (see ``runner``) with a fresh verdict
``Board``, capturing its output up to a cap, the backstop deadlines (the load
limit, and each test's limit plus slack in case the candidate process itself
stops answering), killing and reaping everything it started, removing its
directory, and starting a fresh candidate process for the remaining tests
when one dies mid-way, so a test that kills its parent spoils only itself.
While the candidate runs normally the worker sleeps: it wakes for output,
for the candidate process's end, or for a deadline.
Does not cover worker start-up or the link to ``fdpo`` (see ``zygote``).
Standard library only.
"""

from __future__ import annotations

import os
import time

from fdpo.sandbox import processes
from fdpo.sandbox.board import Board
from fdpo.sandbox.runner import Session, candidate_main, compile_test, fork_process, load_probe_hash
from fdpo.sandbox.syscalls import poll_in

#: How long past a limit the worker waits for the candidate process's own verdict.
SLACK = 1.0
#: Candidate processes started per job at most (the first, then restarts after deaths).
MAX_STARTS = 3


class Orphaned(Exception):
    """``fdpo`` closed the job channel: stop at once."""


class Sandbox:
    """How this worker isolates candidates, fixed at start-up, and its reusable per-job resources."""

    def __init__(self, uid: int | None, sweep: str, outer_namespace: int, limit_processes: bool, tmp_root: str,
                 job_in: int):
        self.uid, self.sweep, self.limit_processes = uid, sweep, limit_processes
        self.outer_namespace = outer_namespace
        self.tmp_root, self.job_in = tmp_root, job_in
        self.workdir = os.path.join(tmp_root, "work")
        self._board = Board(16)
        self._compiled: tuple[list[str], list] = ([], [])

    def compile(self, tests: list[str]) -> list:
        """Code objects of ``tests``, kept for the next candidates: those of one record share their tests.

        Only the last list is kept: every candidate process inherits this
        process's memory, and each fork of it copies that many more pages.
        """
        if self._compiled[0] != tests:
            self._compiled = (tests, [compile_test(t) for t in tests])
            load_probe_hash(self._compiled[1])
        return self._compiled[1]

    def board(self, tests: int) -> Board:
        if self._board.tests < tests:
            self._board.close()
            self._board = Board(tests)
        return self._board

    def enter_workdir(self) -> None:
        """A fresh, empty working directory owned by the candidate's user, at the same path every time."""
        os.mkdir(self.workdir, 0o700)
        if self.uid is not None:
            os.chown(self.workdir, self.uid, self.uid)
        os.chdir(self.workdir)

    def leave_workdir(self) -> None:
        os.chdir(self.tmp_root)
        processes.rmtree(self.workdir)

    def kill_everything(self) -> dict[int, int]:
        """Kill every process of the current candidate, however it hid; {pid: status} of those reaped."""
        statuses = {}
        if self.sweep == "namespace":
            for _ in range(100):
                if not processes.kill_all_visible():
                    break
                statuses.update(processes.reap(0.005))
        else:
            if self.sweep == "uid":
                processes.kill_as_user(self.uid)
            processes.kill_descendants(os.getpid())
        statuses.update(processes.reap(0.01))
        return statuses


class Job:
    """One candidate's code, tests and limits, and what is known of its results so far."""

    def __init__(self, code: str, tests: list[str], timeouts: list[float], limits: dict):
        self.code, self.tests, self.timeouts, self.limits = code, tests, timeouts, limits
        self.load: tuple[str, float, str] | None = None
        self.outcomes: list[tuple[str, float, str] | None] = [None] * len(tests)
        self.output = bytearray()

    def next_test(self) -> int:
        return next((j for j, o in enumerate(self.outcomes) if o is None), len(self.tests))

    def fill(self, status: str, reason: str) -> None:
        self.outcomes = [o if o is not None else (status, 0.0, reason) for o in self.outcomes]

    def capture(self, data: bytes) -> None:
        room = self.limits["max_output"] - len(self.output)
        if room > 0:
            self.output += data[:room]


def run_job(sandbox: Sandbox, code: str, tests: list[str], timeouts: list[float], limits: dict) -> tuple:
    """Run one candidate against its tests; a plain tuple for ``wire.send``."""
    start = time.perf_counter()
    job = Job(code, tests, timeouts, limits)
    board = sandbox.board(len(tests))
    sandbox.enter_workdir()
    try:
        for _ in range(MAX_STARTS):
            first = job.next_test()
            if job.load is not None and first == len(tests):
                break
            load = _session(sandbox, job, board, first)
            job.load = job.load or load
            if load[0] != "ok":
                job.fill(load[0], load[2] or load[0])
                break
        job.fill("crash", "the candidate's process kept dying; test not run")
    finally:
        sandbox.leave_workdir()
    load_status, load_seconds, load_reason = job.load
    return (load_status, load_reason or None, load_seconds, [(s, r or None, t) for s, t, r in job.outcomes],
            time.perf_counter() - start, job.output.decode("utf-8", "replace"))


def _session(sandbox: Sandbox, job: Job, board: Board, first: int) -> tuple[str, float, str]:
    """One candidate process from test ``first`` on; returns how its load went."""
    out_r, out_w = os.pipe()
    for record in (None, *range(first, len(job.tests))):  # the board is reused: nothing stale may read as a verdict
        board.clear(record)
    board.set_progress(-1, 0.0)
    session = Session(job.code, sandbox.compile(job.tests), job.timeouts, first, job.limits, sandbox.uid,
                      sandbox.sweep != "tree", sandbox.outer_namespace, sandbox.limit_processes, board, out_w,
                      batch=job.limits.get("isolation") == "candidate")
    pid = fork_process()
    if pid == 0:
        candidate_main(session)
    os.close(out_w)
    watch = _Watch(job, board, first, pid, out_r)
    try:
        watch.run(sandbox.job_in)
    finally:
        watch.statuses.update(sandbox.kill_everything())
        watch.finish()
    return watch.load


class _Watch:
    """The worker's view of one candidate process while it runs."""

    def __init__(self, job: Job, board: Board, first: int, pid: int, out_r: int):
        self.job, self.board, self.first, self.pid, self.out_r = job, board, first, pid, out_r
        self.pidfd = os.pidfd_open(pid)
        self.started = time.monotonic()
        self.load: tuple[str, float, str] | None = None
        self.cut_off = False
        self.statuses: dict[int, int] = {}  # wait statuses of processes reaped on the way
        self._seen: tuple | None = None  # the board's last observed state, and since when

    def run(self, job_in: int) -> None:
        os.set_blocking(self.out_r, False)
        watched = (self.out_r, self.pidfd, job_in)
        deadline = self.started + self.job.limits["load_timeout"]
        while True:
            now = time.monotonic()
            if now >= deadline:
                deadline = self._due(now)
                if deadline <= now:
                    self._cut_off()
                    return
            exited = False
            for fd in poll_in(watched, (deadline - now) * 1000):
                if fd == job_in:
                    raise Orphaned
                if fd == self.out_r and not self._read_output():
                    watched = (self.pidfd, job_in)  # every writer closed it: stop waking up for it
                elif fd == self.pidfd:
                    exited = True
            self.statuses.update(processes.reap())  # orphans re-parented to this init meanwhile
            if exited:
                return

    def _due(self, now: float) -> float:
        """When the candidate process is overdue, judged from what it last wrote on the board."""
        load = self.board.get(None)
        limits, n = self.job.limits, len(self.job.tests)
        if load is None:
            return self.started + limits["load_timeout"]
        current, since = self.board.progress()
        if load[0] == "ok" and self.first <= current < n and self.board.get(current) is None:
            return min(max(since, self.started), now) + self.job.timeouts[current] + SLACK
        state = (load[0], current, since)
        if self._seen is None or self._seen[0] != state:
            self._seen = (state, now)
        return self._seen[1] + SLACK

    def _cut_off(self) -> None:
        self.cut_off = True
        limits = self.job.limits
        if self.board.get(None) is None:
            self.board.put(None, "timeout", limits["load_timeout"], f"loading took over {limits['load_timeout']:g}s")
            return
        current, _ = self.board.progress()
        if 0 <= current < len(self.job.tests) and self.board.get(current) is None:
            limit = self.job.timeouts[current]
            self.board.put(current, "timeout", limit, f"no verdict within {limit:g}s")

    def _read_output(self) -> bool:
        """Take what the candidate printed; False at end of file."""
        while True:
            try:
                data = os.read(self.out_r, 65536)
            except BlockingIOError:
                return True
            if not data:
                return False
            self.job.capture(data)

    def finish(self) -> None:
        """After everything was killed: collect verdicts and say what happened to the process."""
        self._read_output()
        status = self._exit_status()
        os.close(self.out_r)
        os.close(self.pidfd)
        self.load = self.board.get(None)
        died = f"candidate process {processes.describe_status(status)}" if status is not None else "candidate process lost"
        if self.load is None:
            self.load = ("crash", 0.0, died)
            return
        if self.load[0] != "ok":
            return
        n, j = len(self.job.tests), self.first
        while j < n and (verdict := self.board.get(j)) is not None:
            self.job.outcomes[j] = verdict
            j += 1
        if j < n and self.board.progress()[0] == j and not self.cut_off:
            self.job.outcomes[j] = ("crash", 0.0, f"{died} during this test")

    def _exit_status(self) -> int | None:
        if self.pid in self.statuses:
            return self.statuses[self.pid]
        try:
            return os.waitpid(self.pid, 0)[1]
        except ChildProcessError:
            return None
