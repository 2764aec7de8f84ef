"""Run untrusted candidate code against tests, isolated, fast, and never fatally.

The API other stages build on::

    from fdpo.sandbox import Limits, Outcome, CandidateResult, run_candidate, Executor

    result = run_candidate("def f(x):\\n    return x + 1", ["assert f(1) == 2", "assert f(2) == 4"])
    result.load                 # "ok" | "error" | "timeout" | "crash"
    result.statuses             # ["pass", "fail"]
    result.outcomes[1].reason   # "AssertionError"

    with Executor(jobs=4, limits=Limits(timeout=3)) as ex:
        for r in ex.map((code, tests, None) for code in codes):   # in input order, lazily
            ...

A test is a string of Python run in the candidate's namespace after the
candidate's code, in a fresh copy of that state (a fork per test):
``pass`` = it ran to completion without an exception; ``fail`` = an
``AssertionError``; ``error`` = any other exception (or the candidate did not
load: all its tests take the load's status and reason); ``timeout`` = over
the wall-clock limit (or the CPU limit); ``crash`` = the process died or
exited (signal, ``sys.exit``/``os._exit``, memory kill, …). HumanEval checks
and EvalPlus input/output comparisons are built as tests by ``fdpo.sandbox.testcode``.

``Executor.map_tagged`` takes ``(tag, job)`` pairs and yields ``(tag, result)``;
a ``None`` job keeps its tag's place in the order. See docs/execute.md for the
isolation each measure gives, root or not.

Modules: ``limits`` (the types), ``pool`` (the ``fdpo`` side: ``Executor``,
``run_candidate``), ``zygote`` (a worker process), ``supervisor`` (one job in a
worker), ``runner`` (inside the candidate's processes), ``board`` (verdicts in
shared memory), ``isolation`` (namespaces, mounts, privileges), ``processes``
(kill, reap, remove), ``wire`` (fdpo ↔ worker messages), ``testcode`` (building
tests), ``compare`` (EvalPlus's output comparison, inside the sandbox). Generic: it
knows nothing of records (``fdpo.execution`` maps them to jobs). Names are imported on
first use, so a worker that imports ``fdpo.sandbox.zygote`` stays small.
"""

from __future__ import annotations

_EXPORTS = {
    "Limits": "fdpo.sandbox.limits",
    "Outcome": "fdpo.sandbox.limits",
    "CandidateResult": "fdpo.sandbox.limits",
    "STATUSES": "fdpo.sandbox.limits",
    "Executor": "fdpo.sandbox.pool",
    "run_candidate": "fdpo.sandbox.pool",
    "SandboxError": "fdpo.sandbox.pool",
    "io_test": "fdpo.sandbox.testcode",
    "check_test": "fdpo.sandbox.testcode",
}
__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'fdpo.sandbox' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(_EXPORTS[name]), name)
