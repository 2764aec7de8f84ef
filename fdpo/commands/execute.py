"""fdpo execute: run every candidate of a record against every test, sandboxed, and record the matrix.

Covers the command line (limits, parallelism), the stage loop over records,
the outcome counts and rate in the closing summary. Does not cover the
sandbox itself (see ``fdpo.sandbox``) or what the matrix means (see ``rank``).
"""

from __future__ import annotations

import time
from enum import Enum
from typing import Annotated

import typer

from fdpo.console import console
from fdpo.errors import handle_errors
from fdpo.options import (
    MAX_SECONDS,
    InputArg,
    JobsOpt,
    MemoryOpt,
    OutputOpt,
    PinOpt,
    ResumeOpt,
    ShardOpt,
    SkipInvalidOpt,
    between,
    stage_io,
)
from fdpo.stage import run_stage, upstream_error

HELP = """Run each record's candidates against its tests in a sandbox; add the pass matrix.

Each candidate's code runs once in its own locked-down process (own PID and
network namespaces, an unprivileged user, a read-only filesystem with a
private /tmp, resource limits; see docs/execute.md for what holds where), and
each test runs in a fresh copy of that loaded state (with --isolation
candidate: all its tests in one copy, faster). Adds `execution`:
`outcomes[i][j]` (pass / fail / error / timeout / crash) for candidate i and
test j, the reasons, each candidate's load status and output, timings, and
`probes[i][j]`: a digest of what candidate i returned on test j's inputs,
whatever the test expected (the evidence of `fdpo rank`'s output consensus).
Whatever a candidate does, the stage goes on and the record comes out.

Example: fdpo execute sampled.jsonl -o executed.jsonl --timeout 3 --jobs 8"""


class Isolation(str, Enum):
    test = "test"
    candidate = "candidate"


@handle_errors("execute")
def command(
    input: InputArg = None,
    output: OutputOpt = None,
    timeout: Annotated[
        float, typer.Option(callback=between(0.001, MAX_SECONDS, "a number of seconds"),
                            help="Wall-clock seconds per test (also the limit for loading a candidate).")
    ] = 3.0,
    jobs: JobsOpt = None,
    memory_mb: MemoryOpt = 2048,
    pin_workers: PinOpt = None,
    probes: Annotated[
        bool, typer.Option("--probes/--no-probes", help="Also record what each candidate returns on each test's inputs "
                           "(`execution.probes`, for `fdpo rank`'s output consensus; about doubles the runs).")
    ] = True,
    examples: Annotated[
        bool, typer.Option("--examples/--no-examples", help="Add the prompt's own examples (doctest or `f(x) == y` lines) "
                           "to the tests, marked `source: \"prompt\"`; `fdpo rank` trusts them.")
    ] = True,
    isolation: Annotated[
        Isolation, typer.Option(help="test: each test in a fresh fork of the loaded candidate. candidate: a "
                                "candidate's tests in one fork, each with its own verdict and limit (a test that "
                                "crashes, hangs or exits spoils only itself; other changes a test makes are seen by "
                                "the next; ~3x faster).")
    ] = Isolation.test,
    resume: ResumeOpt = False,
    shard: ShardOpt = None,
    skip_invalid: SkipInvalidOpt = False,
) -> None:
    # lazy: not loaded by `fdpo --help` (the sandbox pool and the matrix, with doctest and pdb, cost ~45 ms)
    from fdpo.execution.matrix import execute, execution_field
    from fdpo.sandbox.limits import STATUSES, Limits
    from fdpo.sandbox.pool import Executor

    limits = Limits(timeout=timeout, memory_mb=memory_mb)

    def transform(records, summary):
        start, done = time.perf_counter(), 0
        for status in STATUSES:
            summary.counts[status] = 0
        with Executor(jobs, limits, isolation=isolation.value, pin=pin_workers) as executor:
            console.print(f"fdpo execute: sandbox: {executor.isolation}; {executor.placement}", markup=False)
            for record, plan in execute(records, executor, probes, examples):
                if plan is None:  # it arrived with an error of its own
                    upstream_error(record, summary)  # counts it
                    yield record
                elif isinstance(plan, str):
                    summary.errors += 1
                    yield {**record, "error": plan}
                else:
                    execution = execution_field(plan, limits)
                    for row in execution["outcomes"]:
                        summary.counts.update(row)
                        done += len(row)
                    summary.counts["outcomes/s"] = round(done / max(time.perf_counter() - start, 1e-9), 1)
                    yield {**record, "execution": execution}

    run_stage("execute", stage_io(input, output, resume, shard, skip_invalid), transform, live=("outcomes/s",))
