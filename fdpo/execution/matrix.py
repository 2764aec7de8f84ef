"""Records to sandbox jobs and back: the ``execution`` field of a sampled record.

Covers turning a record's ``candidates`` × ``tests`` (docs/format.md) into one job
per distinct candidate code (identical candidates, common at high
temperature, run once and share their results), and writing the results back
as ``execution``: ``outcomes[i][j]``, ``reasons[i][j]``, per-candidate
``load`` / ``load_reasons`` / ``output``, ``seconds[i][j]``,
``candidate_seconds[i]``, the ``limits`` used and, with probes on,
``probes[i][j]``: what candidate i returned on test j's inputs (``fdpo.execution.probes``),
as a digest, ``!status`` when the probe did not finish, or null where test j
has no probe. A candidate without code does not load (``error``); a test
without code is an ``error`` for every candidate; neither runs anything.
Identical probes of a record run once.
Does not cover running jobs (``fdpo.sandbox.pool``) or the stage loop (``fdpo.commands.execute``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from fdpo.execution.examples import with_prompt_tests
from fdpo.execution.probes import probe_code
from fdpo.sandbox.limits import CandidateResult, Limits, Outcome
from fdpo.sandbox.pool import Executor

Record = dict[str, Any]
NO_TEST_CODE = "the test has no code"
NO_CANDIDATE_CODE = "the candidate has no code"


class BadRecord(ValueError):
    """The record cannot be executed; its message goes into the record's ``error``."""


@dataclass
class Plan:
    """One record's jobs: distinct codes, which candidate uses which, which tests run."""

    record: Record
    codes: list[str]
    code_of: list[int]  # candidate i -> index into codes (-1: no code)
    runnable: list[int]  # indices of tests that have code
    probes: list[str] = field(default_factory=list)  # distinct probe codes, run after the runnable tests
    probe_of: list[int] = field(default_factory=list)  # test j -> index into probes (-1: no probe)
    results: list[CandidateResult] = field(default_factory=list)

    def jobs_tests(self) -> list[str]:
        return [self.record["tests"][j]["code"] for j in self.runnable] + self.probes


def plan(record: Record, probes: bool = True) -> Plan:
    candidates, tests = record.get("candidates"), record.get("tests")
    if not isinstance(candidates, list) or not candidates:
        raise BadRecord("no candidates to execute")
    if not isinstance(tests, list) or not tests:
        raise BadRecord("no tests to execute")
    codes: dict[str, int] = {}
    code_of = []
    for i, candidate in enumerate(candidates):
        code = _code(candidate, f"candidate {i}")
        code_of.append(codes.setdefault(code, len(codes)) if code is not None else -1)
    runnable = [j for j, t in enumerate(tests) if _code(t, f"test {j}")]
    p = Plan(record, list(codes), code_of, runnable)
    if probes:
        p.probe_of = [-1] * len(tests)
        distinct: dict[str, int] = {}
        for j in runnable:
            code = probe_code(tests[j]["code"])
            if code is not None:
                p.probe_of[j] = distinct.setdefault(code, len(distinct))
        p.probes = list(distinct)
    return p


def _code(item: Any, what: str) -> str | None:
    if not isinstance(item, dict):
        raise BadRecord(f"{what} is not an object")
    code = item.get("code")
    if code is None:
        return None
    if not isinstance(code, str):
        raise BadRecord(f"{what}: 'code' must be a string")
    return code


def execute(records: Iterable[Record], executor: Executor, probes: bool = True,
            examples: bool = True) -> Iterator[tuple[Record, Plan | str | None]]:
    """Each input record with its finished ``Plan``, an error message, or None when it arrived
    with an ``error`` of its own (passed on untouched); in input order, lazily. With ``examples``,
    the prompt's own examples join the record's tests first (``fdpo.execution.examples``)."""

    def items():
        for record in records:
            if record.get("error"):
                yield (record, None), None
                continue
            if examples:
                record = with_prompt_tests(record)
            try:
                p = plan(record, probes)
            except BadRecord as exc:
                yield (record, str(exc)), None
                continue
            if not p.codes:
                yield (record, p), None
                continue
            tests = p.jobs_tests()
            for k, code in enumerate(p.codes):
                yield (record, p, k == len(p.codes) - 1), (code, tests, None)

    for tag, result in executor.map_tagged(items()):
        if result is None:
            yield tag
            continue
        record, p, last = tag
        p.results.append(result)
        if last:
            yield record, p


def execution_field(p: Plan, limits: Limits) -> dict:
    """The ``execution`` value of a finished plan, aligned with the record's candidates and tests."""
    n_tests = len(p.record["tests"])
    missing = Outcome("error", NO_TEST_CODE)
    no_code = CandidateResult("error", NO_CANDIDATE_CODE, [Outcome("error", NO_CANDIDATE_CODE)] * len(p.runnable), 0.0)
    rows = []
    for k in p.code_of:
        result = p.results[k] if k >= 0 else no_code
        row = [missing] * n_tests
        for j, outcome in zip(p.runnable, result.outcomes):
            row[j] = outcome
        rows.append((result, row))
    execution = {
        "outcomes": [[o.status for o in row] for _, row in rows],
        "reasons": [[o.reason for o in row] for _, row in rows],
        "seconds": [[round(o.seconds, 6) for o in row] for _, row in rows],
        "load": [r.load for r, _ in rows],
        "load_reasons": [r.load_reason for r, _ in rows],
        "candidate_seconds": [round(r.seconds, 6) for r, _ in rows],
        "output": [r.output for r, _ in rows],
        "limits": {"timeout": limits.timeout, "memory_mb": limits.memory_mb},
    }
    if p.probe_of:
        execution["probes"] = [_probe_row(p, result) for result, _ in rows]
    return execution


def _probe_row(p: Plan, result: CandidateResult) -> list[str | None]:
    """What one candidate's probes saw, aligned with the record's tests."""
    seen = result.outcomes[len(p.runnable):]
    return [None if k < 0 else _probe_value(seen[k]) if k < len(seen) else "!" + result.load for k in p.probe_of]


def _probe_value(outcome: Outcome) -> str:
    """The digest a probe reported, or ``!status:ExceptionType`` when it did not finish."""
    if outcome.status == "pass":
        return outcome.reason or "!pass"
    return f"!{outcome.status}:{(outcome.reason or '').split(':', 1)[0]}"
