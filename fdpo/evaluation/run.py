"""One evaluation from start to end: benchmark → solutions → sandbox → records → summary.

Covers the plan a command line describes, choosing the source of solutions (a
model through the sampling engine, or a samples file), the stage transform that
scores problems as their solutions come (on the stage driver: ``--resume`` by
task id, progress and the closing line), and the summary and report. Does not
cover the pieces it wires together (see the other ``fdpo.evaluation`` modules).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fdpo import __version__
from fdpo.errors import FdpoError
from fdpo.evaluation import expected as expected_outputs
from fdpo.evaluation.datasets import Benchmark, Task, load_benchmark
from fdpo.evaluation.expected import SPLIT_CAP
from fdpo.evaluation.generation import batches
from fdpo.evaluation.oracle import WALL_FACTOR
from fdpo.evaluation.programs import HUMANEVAL_TIMEOUT, LCB_TIMEOUT
from fdpo.evaluation.report import print_summary, summarize, write_report
from fdpo.evaluation.samples import match_benchmark, read_samples
from fdpo.evaluation.scoring import score
from fdpo.jsonl import read_records
from fdpo.sampling.engine import Decoding, EngineOptions
from fdpo.sampling.prompting import read_template
from fdpo.sandbox import Executor, Limits
from fdpo.stage import StageIO, run_stage


@dataclass
class Plan:
    """What to score, with what, and where to write it: one ``fdpo eval`` command line."""

    benchmark: str
    label: str
    ks: list[int]
    engine: EngineOptions | None = None  # generate solutions with a model …
    decoding: Decoding | None = None
    n: int = 1
    template: Path | None = None
    samples: Path | None = None  # … or score a samples file
    partial: bool = False
    output: Path | None = None
    resume: bool = False
    report: Path | None = None
    data: Path | None = None  # livecodebench
    since: str | None = None
    until: str | None = None
    limit: int | None = None
    jobs: int | None = None
    memory_mb: int = 4096
    pin: bool | None = None  # sandbox workers pinned to CPUs (None: when jobs >= cores)
    min_time_limit: float = 1.0
    time_factor: float = 4.0
    started: float = field(default_factory=time.time)


def selected_tasks(bench: Benchmark, plan: Plan) -> tuple[list[Task], dict[str, list]]:
    """The tasks to score (``--limit``; with ``--samples``, those the file covers) and the file's samples."""
    tasks = bench.tasks[: plan.limit] if plan.limit else bench.tasks
    if plan.samples is None:
        return tasks, {}
    grouped = read_samples(plan.samples)
    wanted = set(match_benchmark(grouped, bench, plan.partial or plan.limit is not None))
    return [t for t in tasks if t.task_id in wanted], grouped


def from_model(plan: Plan, tasks: list[Task]):
    """Chunks of (task, samples) generated as they are asked for, the sampling metadata, and the engine."""
    engine = plan.engine.start()
    d = plan.decoding.fit(engine)
    template = read_template(plan.template) if plan.template else None
    sampling = {"model": plan.engine.model, "backend": engine.name, **d.meta(), "n": plan.n}
    return batches(engine, tasks, d, plan.n, template), {"sampling": sampling}, engine


def scoring(bench: Benchmark, plan: Plan, grouped: dict[str, list], meta: dict, fresh: list):
    """The stage transform: task records in, one scored record per problem out (kept in ``fresh``)."""

    def transform(records, summary):
        tasks = [r["task"] for r in records]
        if not tasks:
            return
        engine = None
        try:
            with Executor(jobs=plan.jobs, limits=Limits(memory_mb=plan.memory_mb), pin=plan.pin) as executor:
                expected = None
                if any(t.kind == "io" for t in tasks):
                    expected = expected_outputs.load(bench, tasks, executor, min_limit=plan.min_time_limit,
                                                     factor=plan.time_factor)
                if plan.samples is not None:
                    chunks = [[(t, grouped[t.task_id]) for t in tasks]]
                else:
                    chunks, more, engine = from_model(plan, tasks)
                    meta.update(more)
                for chunk in chunks:
                    for record in score(bench, chunk, expected, executor, plan.ks):
                        fresh.append(record)
                        yield record
        finally:
            if engine is not None:
                engine.close()

    return transform


def evaluate(plan: Plan) -> dict[str, Any]:
    bench = load_benchmark(plan.benchmark, data=plan.data, since=plan.since, until=plan.until)
    if not bench.tasks:
        raise FdpoError(f"{plan.benchmark}: no problems to evaluate")
    tasks, grouped = selected_tasks(bench, plan)
    meta: dict[str, Any] = {"samples_file": str(plan.samples)} if plan.samples is not None else {}
    fresh: list[dict] = []
    run_stage("eval", StageIO(output=plan.output, resume=plan.resume), scoring(bench, plan, grouped, meta, fresh),
              source=[{"id": t.task_id, "task": t} for t in tasks], output_key=lambda r: r.get("task_id"),
              unit="problem")
    # With --resume the summary covers the problems of earlier runs too, which only the file holds.
    records = read_records(plan.output) if plan.resume and plan.output else fresh
    summary = build_summary(bench, plan, records, meta)
    print_summary(summary)
    if plan.report:
        write_report(plan.report, summary)
    return summary


def build_summary(bench: Benchmark, plan: Plan, records: list[dict], meta: dict[str, Any]) -> dict[str, Any]:
    limits = {"humaneval_seconds": HUMANEVAL_TIMEOUT, "livecodebench_seconds_per_case": LCB_TIMEOUT,
              "evalplus": f"per input max({plan.min_time_limit:g}s, {plan.time_factor:g} × canonical) CPU seconds, "
                          f"{WALL_FACTOR:g}× that + 1s wall; per split at most "
                          f"max({SPLIT_CAP:g}s, {WALL_FACTOR * plan.time_factor:g} × canonical total) + 2s wall",
              "memory_mb": plan.memory_mb}
    return summarize(
        bench.name, bench.plus, records, plan.ks,
        label=plan.label, dataset=bench.describe(), **meta, time_limits=limits,
        fdpo_version=__version__, date=time.strftime("%Y-%m-%d %H:%M:%S"),
        seconds=round(time.time() - plan.started, 1),
    )
