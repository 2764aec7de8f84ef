"""Expected outputs for EvalPlus-style tasks, from the canonical solution, cached on disk.

Covers running each task's canonical solution in the sandbox on its base and
plus inputs (the same sandbox as the candidates, so its times are comparable),
caching outputs and times per task under the dataset's md5, and the time-limit
rule: an input's limit is ``max(min_limit, factor × canonical seconds)``
(EvalPlus: 1 s and 4×), enforced inside the test. Seconds are CPU seconds
(EvalPlus uses wall time), so that a loaded machine does not turn right
answers into timeouts; each call also has a wall-clock bound (see
``oracle.time_limit``). A split as a whole gets at most
``max(60 s, 3 × factor × canonical total) + 2 s`` of wall time (more where the
test recomputes expected outputs), the backstop for code that a signal cannot
interrupt. (EvalPlus caps a split at 60 s flat; scaling the cap keeps slow
canonical solutions, such as Mbpp/599's, from failing their own tests.) Does
not cover judging candidates (see ``oracle``).
"""

from __future__ import annotations

import base64
import pickle
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

from fdpo.errors import FdpoError
from fdpo.evaluation.datasets import Benchmark, Task, cache_dir
from fdpo.evaluation.oracle import MEASURE_CLOSE, MEASURE_OPEN, WALL_FACTOR
from fdpo.evaluation.programs import measure_run

CACHE_FORMAT = "v2"  # bump when what a cached measurement holds changes
MIN_TIME_LIMIT = 1.0
TIME_FACTOR = 4.0
SPLIT_CAP = 60.0  # EvalPlus's EVALPLUS_TIMEOUT_PER_TASK
# Expected outputs larger than this (pickled, per split) are not stored: each test recomputes them with
# the canonical solution instead (HumanEval/15: 147 MB, Mbpp/255: 781 MB; most splits are a few kB).
KEEP_BYTES = 8 << 20
MAX_MEASURE_OUTPUT = 8 * KEEP_BYTES  # the captured output that brings measurements back, base64-encoded


def time_limits(seconds: Iterable[float], min_limit: float = MIN_TIME_LIMIT,
                factor: float = TIME_FACTOR) -> list[float]:
    return [max(min_limit, factor * t) for t in seconds]


def split_timeout(seconds: list[float], limits: list[float], factor: float = TIME_FACTOR,
                  live: bool = False) -> float:
    """The wall-time backstop of a whole split; ``live``: the canonical solution runs in the test too.

    Wall time, so everything scales by ``WALL_FACTOR`` as each call's own wall bound does.
    """
    calls = sum(WALL_FACTOR * limit + 1 for limit in limits)
    scaled = max(SPLIT_CAP, WALL_FACTOR * factor * sum(seconds))
    reference = WALL_FACTOR * sum(seconds) if live else 0.0
    return min(calls, scaled) + reference + 2.0


def splits_of(bench: Benchmark) -> list[str]:
    return ["base", "plus"] if bench.plus else ["base"]


def cache_path(bench: Benchmark, task: Task, split: str) -> Path:
    return cache_dir() / "expected" / CACHE_FORMAT / bench.digest / f"{task.task_id.replace('/', '_')}.{split}.pkl"


def missing(bench: Benchmark, tasks: list[Task]) -> list[tuple[Task, list[str]]]:
    todo = []
    for task in tasks:
        splits = [s for s in splits_of(bench) if not cache_path(bench, task, s).is_file()]
        if splits:
            todo.append((task, splits))
    return todo


def read_measurements(output: str, splits: list[str]) -> dict[str, bytes]:
    """The pickled measurement of each split, found in a run's captured output."""
    found = {}
    for split in splits:
        start = output.find(MEASURE_OPEN.format(split))
        end = output.find(MEASURE_CLOSE, start)
        if start != -1 and end != -1:
            found[split] = base64.b64decode(output[start + len(MEASURE_OPEN.format(split)):end])
    return found


def compute(bench: Benchmark, todo: list[tuple[Task, list[str]]], executor) -> None:
    """Run the canonical solutions that have no cached outputs yet; fail loudly if one breaks."""
    runs = (measure_run(task, splits, KEEP_BYTES) for task, splits in todo)
    saved_limits = executor.limits
    executor.limits = replace(saved_limits, max_output=MAX_MEASURE_OUTPUT)
    failures = []
    try:
        for (task, splits), result in zip(todo, executor.map((r.code, r.tests, r.timeouts) for r in runs)):
            bad = [o for o in result.outcomes if o.status != "pass"]
            found = read_measurements(result.output, splits)
            if result.load != "ok" or bad or len(found) != len(splits):
                why = (result.load_reason if result.load != "ok" else
                       f"{bad[0].status}: {bad[0].reason}" if bad else "its measurements did not come back")
                failures.append(f"{task.task_id} ({why})")
                continue
            for split, blob in found.items():
                path = cache_path(bench, task, split)
                path.parent.mkdir(parents=True, exist_ok=True)
                part = path.with_name(path.name + ".part")
                part.write_bytes(blob)
                part.replace(path)
    finally:
        executor.limits = saved_limits
    if failures:
        raise FdpoError(
            f"the canonical solution failed in the sandbox for {len(failures)} task(s), so their expected "
            f"outputs are unknown: {'; '.join(failures[:5])}"
        )


def load(bench: Benchmark, tasks: list[Task], executor, *, min_limit: float = MIN_TIME_LIMIT,
         factor: float = TIME_FACTOR) -> dict[str, dict[str, dict[str, Any]]]:
    """``{task_id: {split: {"outputs", "seconds", "limits", "timeout"}}}`` for ``tasks``, computing what is missing."""
    todo = missing(bench, tasks)
    if todo:
        compute(bench, todo, executor)
    expected = {}
    for task in tasks:
        expected[task.task_id] = {}
        for split in splits_of(bench):
            with open(cache_path(bench, task, split), "rb") as f:
                data = pickle.load(f)
            data["limits"] = time_limits(data["seconds"], min_limit, factor)
            data["timeout"] = split_timeout(data["seconds"], data["limits"], factor, live=data["outputs"] is None)
            expected[task.task_id][split] = data
    return expected
