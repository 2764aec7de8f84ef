"""The sandbox pool: workers pinned to CPUs, workers that die or stop answering.

Real workers throughout: a worker is killed or stopped with a signal, and a
candidate reports the CPUs it may run on.
"""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

import pytest

from fdpo.sandbox import Executor, Limits, pool
from fdpo.sandbox.pool import cpu_list, worker_cpus

CPUS = sorted(os.sched_getaffinity(0))
SEEN_CPUS = "import os\nprint(sorted(os.sched_getaffinity(0)))"


def test_workers_are_pinned_when_every_cpu_gets_one():
    n = len(CPUS)
    assert sorted(worker_cpus(n)) == CPUS  # one worker per CPU
    assert sorted(worker_cpus(2 * n)) == sorted(CPUS * 2)
    assert worker_cpus(n, pin=False) == [None] * n
    if n > 1:
        assert worker_cpus(n - 1) == [None] * (n - 1)  # fewer workers than CPUs: the scheduler places them
        assert len(set(worker_cpus(n - 1, pin=True))) == n - 1  # asked for: each on a CPU of its own


def test_cpu_lists_parse_like_the_kernel_writes_them():
    assert cpu_list("0-3,8\n") == [0, 1, 2, 3, 8]
    assert cpu_list("5") == [5]
    with pytest.raises(ValueError):
        cpu_list("")


@pytest.mark.parametrize("pin", [True, False])
def test_a_candidate_runs_on_its_workers_cpu(pin):
    jobs = min(len(CPUS), 4)
    with Executor(jobs, Limits(timeout=2), pin=pin) as ex:
        seen = [eval(r.output) for r in ex.map([(SEEN_CPUS, [], None)] * (4 * jobs))]
        placement = ex.placement
    if pin:
        assert all(len(cpus) == 1 for cpus in seen), seen
        assert {c for cpus in seen for c in cpus} == set(worker_cpus(jobs, pin=True))  # every worker worked
        assert "pinned to CPU" in placement
    else:
        assert all(cpus == CPUS for cpus in seen), seen
        assert placement == f"{jobs} worker{'s' * (jobs > 1)}, placed by the scheduler"


def _kill_worker_soon(ex: Executor, sig: int, after: float) -> threading.Timer:
    """Signal the worker's sandbox init (its PID namespace's first process) or, without one, the worker."""
    worker = ex._workers[0].proc.pid

    def send():
        children = Path(f"/proc/{worker}/task/{worker}/children").read_text().split()
        os.kill(int(children[0]) if children else worker, sig)

    timer = threading.Timer(after, send)
    timer.start()
    return timer


def test_a_dead_worker_costs_only_the_job_it_ran():
    jobs = [("import time\ntime.sleep(3)", ["assert True"], None), ("x = 1", ["assert x == 1"], None),
            ("y = 2", ["assert y == 2", "assert y == 3"], None)]
    with Executor(1, Limits(timeout=10)) as ex:
        first_worker = ex._workers[0].proc.pid
        timer = _kill_worker_soon(ex, signal.SIGKILL, 1.0)
        results = list(ex.map(jobs))
        timer.join()
        assert ex._workers[0].proc.pid != first_worker  # replaced
    assert results[0].load == "crash" and results[0].load_reason == "the sandbox worker died"
    assert results[0].statuses == ["crash"]
    assert [r.statuses for r in results[1:]] == [["pass"], ["pass", "fail"]]


def test_a_worker_that_stops_answering_is_replaced(monkeypatch):
    monkeypatch.setattr(pool, "WORKER_GRACE", 0.5)  # deadline: the job's own limits (2 s) plus this
    jobs = [("x = 0", ["import time\ntime.sleep(0.5)"], [0.5]), ("x = 1", ["assert x == 1"], None)]
    with Executor(1, Limits(timeout=0.5)) as ex:
        timer = _kill_worker_soon(ex, signal.SIGSTOP, 0.2)
        results = list(ex.map(jobs))
        timer.join()
    assert results[0].load_reason == "the sandbox worker stopped answering"
    assert results[1].statuses == ["pass"]
