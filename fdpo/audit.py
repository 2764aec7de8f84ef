"""Label precision against hidden tests: judge every candidate, then score rank's labels and locate's pairs.

Covers finding a record's hidden tests (a benchmark loaded exactly as ``fdpo eval -b``
loads it, matched by the record's ``task_id``, else its ``id``; or, without a benchmark,
the record's own HumanEval fields ``test`` + ``entry_point`` or EvalPlus fields
``base_input`` + ``canonical_solution``), judging each candidate's ``code`` (the program
``fdpo execute`` ran) in the sandbox by the evaluation code's rules, which adds
``audit`` to the record, and the label report: how many of rank's ``correct`` /
``incorrect`` labels and of locate's pairs the hidden tests confirm. Does not cover
ranking or locating, and never changes a label: the pipeline itself never reads
hidden tests, only this audit does.

Python API (what benchmarks use without the CLI)::

    from fdpo.audit import judge_records, label_report

    audited = judge_records(ranked, benchmark="humaneval+", jobs=2)   # adds audit.truth
    report = label_report(audited, pairs=pair_records)                # the numbers, a dict
    report["labels"]["correct"]["precision"], report["pairs"]["precision"]

A record that already carries ``audit.truth`` with one entry per candidate is not run
again (``rejudge=True`` forces it), so one audited file can be ranked many ways cheaply:
re-rank it, then ``label_report`` the result.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from fdpo.errors import FdpoError, record_error
from fdpo.evaluation import expected
from fdpo.evaluation.datasets import Benchmark, Task, evalplus_task, humaneval_task, load_benchmark
from fdpo.evaluation.scoring import build_run, verdict
from fdpo.sandbox import Executor, Limits

Record = dict[str, Any]
FROM_RECORD = "record"  # ``audit.benchmark`` when the hidden tests are the record's own fields
MEMORY_MB = 4096  # EvalPlus's memory cap, as in fdpo eval
NO_TESTS = "the record has no hidden tests (test + entry_point, or base_input + canonical_solution)"
PAIR_KINDS = {(True, False): "right", (False, False): "both_wrong", (False, True): "reversed", (True, True): "both_right"}


# --- where the hidden tests come from ----------------------------------------

@dataclass
class Hidden:
    """One record's hidden tests: the benchmark (or the record) and its task, with expected outputs."""

    bench: Benchmark
    task: Task
    expected: dict[str, Any] | None = None  # EvalPlus-style tasks: {task_id: {split: …}}


class HiddenTests:
    """Finds each record's hidden tests; one per run.

    With ``benchmark`` (a name or a FILE, as ``fdpo eval -b`` takes it) records are
    matched by ``task_id``, else ``id``; without it, the record's own fields are the
    tests. Expected outputs of EvalPlus-style tasks come from ``fdpo.evaluation.expected``
    (computed once in a sandbox of their own, then cached on disk).
    """

    def __init__(self, benchmark: str | None = None, *, jobs: int | None = None, memory_mb: int = MEMORY_MB,
                 pin: bool | None = None) -> None:
        self.bench = load_benchmark(benchmark) if benchmark else None
        if self.bench is not None and not self.bench.tasks:
            raise FdpoError(f"{benchmark}: no problems")
        self.tasks = {t.task_id: t for t in self.bench.tasks} if self.bench else {}
        self.name = self.bench.name if self.bench else FROM_RECORD
        self.jobs, self.memory_mb, self.pin = jobs, memory_mb, pin
        self._expected: dict[tuple[str, str], dict] = {}
        self._measurer = None

    def find(self, record: Record) -> Hidden | str:
        """The record's hidden tests, or why it has none."""
        task_id = record.get("task_id", record.get("id"))
        if self.bench is not None:
            task = self.tasks.get(str(task_id)) if task_id is not None else None
            if task is None:
                return f"task {task_id!r} is not in {self.bench.name}"
            return self._with_expected(self.bench, task)
        return self._from_record(record, task_id)

    def _from_record(self, record: Record, task_id: Any) -> Hidden | str:
        if task_id is None or not isinstance(record.get("prompt"), str) or not isinstance(record.get("entry_point"), str):
            return NO_TESTS
        row = {**record, "task_id": str(task_id)}
        if isinstance(record.get("base_input"), list) and isinstance(record.get("canonical_solution"), str):
            task = evalplus_task(row)
            fields = {k: row.get(k) for k in ("task_id", "prompt", "entry_point", "canonical_solution",
                                              "base_input", "plus_input", "atol")}
            digest = hashlib.md5(orjson.dumps(fields, option=orjson.OPT_SORT_KEYS)).hexdigest()
            bench = Benchmark(FROM_RECORD, [task], bool(task.plus_input), FROM_RECORD, FROM_RECORD, digest)
            return self._with_expected(bench, task)
        if isinstance(record.get("test"), str):
            task = humaneval_task(row)
            return Hidden(Benchmark(FROM_RECORD, [task], False, FROM_RECORD, FROM_RECORD, ""), task)
        return NO_TESTS

    def _with_expected(self, bench: Benchmark, task: Task) -> Hidden:
        if task.kind != "io":
            return Hidden(bench, task)
        key = (bench.digest, task.task_id)
        if key not in self._expected:
            if self._measurer is None:  # its own pool: this may run while the judging pool is busy
                limits = Limits(memory_mb=self.memory_mb)
                self._measurer = Executor(jobs=self.jobs, limits=limits, pin=self.pin).__enter__()
            self._expected[key] = expected.load(bench, [task], self._measurer)[task.task_id]
        return Hidden(bench, task, {task.task_id: self._expected[key]})

    def close(self) -> None:
        if self._measurer is not None:
            self._measurer.close()
            self._measurer = None


# --- judging ------------------------------------------------------------------

@dataclass
class _Job:
    """One record on its way through the sandbox: distinct programs, which candidate has which."""

    record: Record
    hidden: Hidden
    code_of: list[int]  # candidate i -> index into runs (-1: no code, not judged)
    runs: list  # fdpo.evaluation.programs.Run, one per distinct program
    results: list = field(default_factory=list)


def reusable(record: Record) -> bool:
    """The record already carries ``audit.truth`` with one entry per candidate."""
    audit, candidates = record.get("audit"), record.get("candidates")
    return (isinstance(audit, dict) and isinstance(audit.get("truth"), list) and isinstance(candidates, list)
            and len(audit["truth"]) == len(candidates))


def _plan(record: Record, hidden: Hidden) -> _Job:
    programs: dict[str, int] = {}
    code_of = []
    for candidate in record["candidates"]:
        code = candidate.get("code") if isinstance(candidate, dict) else None
        code_of.append(programs.setdefault(code, len(programs)) if isinstance(code, str) else -1)
    runs = [build_run(hidden.bench, hidden.task, {"solution": code}, hidden.expected) for code in programs]
    return _Job(record, hidden, code_of, runs)


def _audit_field(job: _Job) -> dict[str, Any]:
    plus = job.hidden.bench.plus
    verdicts = [verdict(result, run.splits, plus) for run, result in zip(job.runs, job.results)]
    picked = [verdicts[k] if k >= 0 else None for k in job.code_of]
    return {
        "benchmark": job.hidden.bench.name,
        "task_id": job.hidden.task.task_id,
        "truth": [None if v is None else bool(v["plus_passed"] if plus else v["passed"]) for v in picked],
        "outcomes": [None if v is None else v["outcome"] for v in picked],
        "reason": None,
    }


def audit_stream(records: Iterable[Record], hidden: HiddenTests, executor, *,
                 rejudge: bool = False) -> Iterator[tuple[Record, str]]:
    """Each record with ``audit`` added and what happened to it, in input order, lazily.

    The word is ``judged``, ``reused`` (``audit.truth`` was already there), ``no hidden
    tests`` (``audit.truth`` is null, ``audit.reason`` says why), ``error`` (the record
    gets an ``error``) or ``upstream error`` (passed on untouched).
    """
    def items():
        for record in records:
            if record.get("error"):
                yield (record, "upstream error"), None
                continue
            if not rejudge and reusable(record):
                yield (record, "reused"), None
                continue
            if not isinstance(record.get("candidates"), list):
                yield ({**record, "error": "no candidates to audit"}, "error"), None
                continue
            try:
                found = hidden.find(record)
                job = _plan(record, found) if isinstance(found, Hidden) else None
            except Exception as exc:  # noqa: BLE001 - a record's failure is data
                yield ({**record, "error": f"audit: {record_error(exc)}"}, "error"), None
                continue
            if job is None:
                audit = {"benchmark": hidden.name, "task_id": None, "truth": None, "outcomes": None, "reason": found}
                yield ({**record, "audit": audit}, "no hidden tests"), None
            elif not job.runs:
                yield ({**record, "audit": _audit_field(job)}, "judged"), None
            else:
                for k, run in enumerate(job.runs):
                    yield (job, k == len(job.runs) - 1), (run.code, run.tests, run.timeouts)

    for tag, result in executor.map_tagged(items()):
        if result is None:
            yield tag
            continue
        job, last = tag
        job.results.append(result)
        if last:
            yield {**job.record, "audit": _audit_field(job)}, "judged"


def judge_records(records: Iterable[Record], benchmark: str | None = None, *, jobs: int | None = None,
                  memory_mb: int = MEMORY_MB, rejudge: bool = False, pin: bool | None = None) -> list[Record]:
    """The records with ``audit`` added (new dicts; the inputs are not changed).

    ``benchmark``: humaneval, humaneval+, mbpp, mbpp+ or a FILE of problems (as
    ``fdpo eval -b``); None: each record's own hidden-test fields. ``jobs``: programs run
    at once (default: the cores); ``pin``: as ``Executor``'s. Records with ``audit.truth``
    already are kept unless ``rejudge``.
    """
    hidden = HiddenTests(benchmark, jobs=jobs, memory_mb=memory_mb, pin=pin)
    try:
        with Executor(jobs=jobs, limits=Limits(memory_mb=memory_mb), pin=pin) as executor:
            return [record for record, _ in audit_stream(records, hidden, executor, rejudge=rejudge)]
    finally:
        hidden.close()


# --- the report ----------------------------------------------------------------

def share(part: int, whole: int) -> float | None:
    return round(part / whole, 6) if whole else None


def slim(record: Record) -> Record:
    """Only what ``label_report`` reads, so a long run need not keep whole records in memory."""
    out: Record = {k: record[k] for k in ("id", "error", "audit") if k in record}
    if isinstance(record.get("candidates"), list):
        out["candidates"] = [{"id": c.get("id")} if isinstance(c, dict) else {} for c in record["candidates"]]
    if isinstance(record.get("ranking"), dict):
        out["ranking"] = {k: record["ranking"].get(k) for k in ("correct", "incorrect", "reason")}
    load = (record.get("execution") or {}).get("load") if isinstance(record.get("execution"), dict) else None
    if isinstance(load, list):
        out["execution"] = {"load": load}
    return out


def _truths(record: Record) -> tuple[list, list[bool], dict]:
    """(truth per candidate, loaded per candidate, candidate id -> truth)."""
    truth = record["audit"]["truth"]
    candidates = record.get("candidates") or []
    load = (record.get("execution") or {}).get("load")
    loaded = [s == "ok" for s in load] if isinstance(load, list) and len(load) == len(truth) else [True] * len(truth)
    ids = {c.get("id"): t for c, t in zip(candidates, truth) if isinstance(c, dict)}
    return truth, loaded, ids


def _label_counts(records: list[Record]) -> dict[str, dict[str, Any]]:
    counts = {side: Counter() for side in ("correct", "incorrect")}
    for record in records:
        _, _, by_id = _truths(record)
        for side, wanted in (("correct", True), ("incorrect", False)):
            for cid in record["ranking"].get(side) or []:
                t = by_id.get(cid)
                counts[side]["labelled"] += 1
                counts[side]["judged"] += t is not None
                counts[side]["confirmed"] += t is wanted
    return {side: {"labelled": c["labelled"], "judged": c["judged"],
                   f"truly_{side}": c["confirmed"], "precision": share(c["confirmed"], c["judged"])}
            for side, c in counts.items()}


def label_report(records: Iterable[Record], pairs: Iterable[Record] | None = None) -> dict[str, Any]:
    """The label numbers of audited records (and of locate's pairs, when given), as a dict.

    - ``records``, ``audited``, ``no_hidden_tests``, ``errors``: how many of each;
    - ``candidates``: ``judged``, ``truly_correct``, ``not_judged`` (no code, or no hidden tests);
    - ``problems``: ``usable_split`` (rank's ``reason`` is null), ``mixed`` (at least one truly
      correct and one truly incorrect candidate that loaded), ``none_right`` (no candidate
      truly correct), ``all_right``;
    - ``labels`` (records with ``ranking``): for ``correct`` and ``incorrect``, how many were
      ``labelled``, ``judged``, ``truly_correct`` / ``truly_incorrect`` and the ``precision``
      (confirmed / judged, null when nothing was judged); ``labels_usable``: the same over
      usable splits only (the records locate draws pairs from);
    - ``pairs`` (with ``pairs``): ``built``, ``right`` (chosen truly correct and rejected truly
      incorrect), ``both_wrong``, ``reversed``, ``both_right``, ``not_judged``, ``precision`` =
      right / judged pairs, and recall over the mixed problems: ``mixed``,
      ``mixed_with_pair``, ``mixed_with_right_pair`` and their shares ``recall`` /
      ``right_recall``.
    """
    records = list(records)
    errors = [r for r in records if r.get("error")]
    audited = [r for r in records if not r.get("error") and isinstance((r.get("audit") or {}).get("truth"), list)]
    unaudited = [r for r in records if not r.get("error") and not isinstance((r.get("audit") or {}).get("truth"), list)]
    report: dict[str, Any] = {
        "records": len(records),
        "audited": len(audited),
        "no_hidden_tests": len(unaudited),
        "errors": len(errors),
    }
    candidates, problems, mixed = Counter(), Counter(), set()
    for record in unaudited:
        candidates["not_judged"] += len(record.get("candidates") or [])
    for record in audited:
        truth, loaded, _ = _truths(record)
        candidates["judged"] += sum(t is not None for t in truth)
        candidates["truly_correct"] += sum(t is True for t in truth)
        candidates["not_judged"] += sum(t is None for t in truth)
        seen = {t for t, ok in zip(truth, loaded) if ok and t is not None}
        if seen == {True, False}:
            mixed.add(record.get("id"))
        problems["mixed"] += seen == {True, False}
        problems["none_right"] += True not in truth
        problems["all_right"] += bool(truth) and all(t is True for t in truth)
        ranking = record.get("ranking")
        problems["usable_split"] += isinstance(ranking, dict) and ranking.get("reason") is None and bool(
            ranking.get("correct")) and bool(ranking.get("incorrect"))
    report["candidates"] = {k: candidates[k] for k in ("judged", "truly_correct", "not_judged")}
    report["problems"] = {k: problems[k] for k in ("usable_split", "mixed", "none_right", "all_right")}
    ranked = [r for r in audited if isinstance(r.get("ranking"), dict)]
    report["ranked"] = len(ranked)
    report["labels"] = _label_counts(ranked)
    report["labels_usable"] = _label_counts([r for r in ranked if r["ranking"].get("reason") is None])
    if pairs is not None:
        report["pairs"] = _pair_report(audited, list(pairs), mixed)
    return report


def _pair_report(audited: list[Record], pairs: list[Record], mixed: set) -> dict[str, Any]:
    by_problem = {r.get("id"): _truths(r)[2] for r in audited}
    kinds = Counter({kind: 0 for kind in PAIR_KINDS.values()})
    with_pair, with_right = set(), set()
    for pair in pairs:
        truths = by_problem.get(pair.get("problem_id"), {})
        verdict = (truths.get(pair.get("chosen_id")), truths.get(pair.get("rejected_id")))
        kind = PAIR_KINDS.get(verdict, "not_judged")
        kinds[kind] += 1
        if pair.get("problem_id") in mixed:
            with_pair.add(pair["problem_id"])
            if kind == "right":
                with_right.add(pair["problem_id"])
    judged = len(pairs) - kinds["not_judged"]
    return {
        "built": len(pairs), **{k: kinds[k] for k in (*PAIR_KINDS.values(), "not_judged")},
        "precision": share(kinds["right"], judged),
        "mixed": len(mixed), "mixed_with_pair": len(with_pair), "mixed_with_right_pair": len(with_right),
        "recall": share(len(with_pair), len(mixed)), "right_recall": share(len(with_right), len(mixed)),
    }


def ratio_text(part: int, whole: int) -> str:
    return f"{part}/{whole} ({100 * part / whole:.1f}%)" if whole else f"{part}/0"


def summary_counts(report: dict[str, Any]) -> dict[str, str]:
    """The headline numbers as short texts, for the stage's one-line summary."""
    labels, out = report["labels"], {}
    if report["ranked"]:
        out["correct labels truly correct"] = ratio_text(labels["correct"]["truly_correct"], labels["correct"]["judged"])
        out["incorrect labels truly incorrect"] = ratio_text(labels["incorrect"]["truly_incorrect"],
                                                             labels["incorrect"]["judged"])
    if "pairs" in report:
        p = report["pairs"]
        out["pair precision"] = ratio_text(p["right"], p["built"] - p["not_judged"])
        out["mixed problems with a right pair"] = ratio_text(p["mixed_with_right_pair"], p["mixed"])
    return out
