"""Scores samples: builds each sample's sandbox run, reads back verdicts, writes one record per problem.

Covers the per-sample verdict (``passed`` on the base tests, ``plus_passed`` on
base and extra tests, ``outcome`` and ``reason`` of the first thing that went
wrong) and the per-problem record with its pass@k. Runs go through the sandbox
``Executor`` lazily and in order. Does not cover generation or the summary.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from typing import Any

from fdpo.evaluation.datasets import Benchmark, Task
from fdpo.evaluation.passk import pass_at_k
from fdpo.evaluation.programs import Run, candidate_program, evalplus_run, humaneval_run, lcb_run

Record = dict[str, Any]


def build_run(bench: Benchmark, task: Task, sample: dict[str, Any], expected: dict[str, Any] | None) -> Run:
    program = candidate_program(task, sample)
    if task.kind == "check":
        return humaneval_run(task, program)
    if task.kind == "lcb":
        return lcb_run(task, program)
    return evalplus_run(task, program, expected[task.task_id], bench.plus)


def verdict(result, splits: list[str], plus: bool) -> dict[str, Any]:
    """One sample's verdict from its sandbox result (load status and one outcome per test)."""
    if result.load != "ok":
        return {"passed": False, "plus_passed": False if plus else None, "outcome": result.load,
                "reason": f"program did not load: {result.load_reason}", "seconds": round(result.seconds, 4)}
    ok = {split: True for split in splits}
    first_bad = None
    for split, outcome in zip(splits, result.outcomes):
        if outcome.status != "pass":
            ok[split] = False
            first_bad = first_bad or outcome
    passed = ok.get("base", True)
    return {
        "passed": passed,
        "plus_passed": (passed and ok.get("plus", True)) if plus else None,
        "outcome": outcome_of(first_bad) if first_bad else "pass",
        "reason": (first_bad.reason or "") if first_bad else "",
        "seconds": round(result.seconds, 4),
    }


def outcome_of(outcome) -> str:
    """The sandbox's status, except that the oracle's per-input time limit counts as a timeout."""
    if outcome.status == "error" and (outcome.reason or "").startswith("OverTimeLimit"):
        return "timeout"
    return outcome.status


def pass_at_ks(flags: list[bool], ks: list[int]) -> dict[str, float]:
    n, c = len(flags), sum(flags)
    return {f"pass@{k}": pass_at_k(n, c, k) for k in ks if k <= n}


def problem_record(bench: Benchmark, task: Task, samples: list[dict], verdicts: list[dict],
                   ks: list[int]) -> Record:
    record: Record = {"task_id": task.task_id, "benchmark": bench.name}
    if task.difficulty:
        record["difficulty"] = task.difficulty
    record["samples"] = [{**v, **s} for s, v in zip(samples, verdicts)]
    record["pass@k"] = pass_at_ks([v["passed"] for v in verdicts], ks)
    if bench.plus:
        record["plus_pass@k"] = pass_at_ks([bool(v["plus_passed"]) for v in verdicts], ks)
    return record


def score(bench: Benchmark, items: Iterable[tuple[Task, list[dict]]], expected: dict[str, Any] | None,
          executor, ks: list[int]) -> Iterator[Record]:
    """One record per (task, samples) item, in order, as soon as its samples are judged."""
    pending: deque[tuple[Task, list[dict], list[str]]] = deque()

    def runs() -> Iterator[tuple[str, list[str], list[float]]]:
        for task, samples in items:
            built = [build_run(bench, task, s, expected) for s in samples]
            pending.append((task, samples, built[0].splits))
            for run in built:
                yield run.code, run.tests, run.timeouts

    verdicts: list[dict] = []
    for result in executor.map(runs()):
        task, samples, splits = pending[0]
        verdicts.append(verdict(result, splits, bench.plus))
        if len(verdicts) == len(samples):
            pending.popleft()
            yield problem_record(bench, task, samples, verdicts, ks)
            verdicts = []
