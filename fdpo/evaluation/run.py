"""One evaluation from start to end: benchmark → solutions → sandbox → records → summary.

Covers the plan a command line describes, choosing and starting the source of
solutions (a backend or a samples file), ``--resume`` by task id, progress on
stderr, the per-problem JSONL and the closing summary and report. Does not
cover the pieces it wires together (see the other ``fdpo.evaluation`` modules).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fdpo import __version__
from fdpo.console import progress
from fdpo.errors import FdpoError
from fdpo.evaluation import expected as expected_outputs
from fdpo.evaluation.datasets import Benchmark, Task, load_benchmark
from fdpo.jsonl import Sink, read_records


@dataclass
class Plan:
    benchmark: str
    model: str | None
    samples: Path | None
    output: Path | None
    resume: bool
    report: Path | None
    label: str
    ks: list[int]
    n: int
    temperature: float
    top_p: float
    max_tokens: int
    seed: int | None
    backend: str | None
    style: str
    template: Path | None
    batch_size: int | None
    base_url: str | None
    api_key_env: str | None
    tensor_parallel_size: int
    dtype: str
    data: Path | None
    since: str | None
    until: str | None
    limit: int | None
    partial: bool
    jobs: int | None
    memory_mb: int
    min_time_limit: float
    time_factor: float
    started: float


def selected_tasks(bench: Benchmark, plan: Plan, done: set) -> list[Task]:
    tasks = bench.tasks[: plan.limit] if plan.limit else bench.tasks
    return [t for t in tasks if t.task_id not in done]


def read_solutions(bench: Benchmark, plan: Plan, tasks: list[Task]) -> tuple[list[Task], dict[str, list]]:
    """The tasks that ``--samples`` covers, and their samples."""
    from fdpo.evaluation.samples import match_benchmark, read_samples

    grouped = read_samples(plan.samples)
    wanted = set(match_benchmark(grouped, bench, plan.partial or plan.limit is not None))
    return [t for t in tasks if t.task_id in wanted], grouped


def start_backend(plan: Plan):
    from fdpo.backends import load_backend
    from fdpo.prompting import STYLES

    if plan.style not in ("auto", *STYLES):
        raise FdpoError(f"--style must be auto, completion or chat, got {plan.style!r}")
    return load_backend(plan.model, plan.backend, base_url=plan.base_url, api_key_env=plan.api_key_env,
                        seed=plan.seed, tensor_parallel_size=plan.tensor_parallel_size, dtype=plan.dtype)


def from_model(engine, plan: Plan, tasks: list[Task]) -> tuple[Iterator, dict[str, Any]]:
    from fdpo.evaluation.generation import Settings, batches
    from fdpo.prompting import read_template

    style = plan.style if plan.style != "auto" else ("chat" if engine.is_chat_model else "completion")
    settings = Settings(style=style, n=plan.n, temperature=plan.temperature, top_p=plan.top_p,
                        max_tokens=plan.max_tokens, seed=plan.seed,
                        batch_size=plan.batch_size or engine.default_batch_size,
                        template=read_template(plan.template) if plan.template else None)
    sampling = {"model": plan.model, "backend": engine.name, "style": style, "n": plan.n,
                "temperature": plan.temperature, "top_p": plan.top_p, "max_tokens": plan.max_tokens,
                "seed": plan.seed}
    return batches(engine, tasks, settings), {"sampling": sampling}


def sandbox(plan: Plan):
    from fdpo.sandbox import Executor, Limits

    return Executor(jobs=plan.jobs, limits=Limits(memory_mb=plan.memory_mb))


def evaluate(plan: Plan) -> dict[str, Any]:
    bench = load_benchmark(plan.benchmark, data=plan.data, since=plan.since, until=plan.until)
    if not bench.tasks:
        raise FdpoError(f"{plan.benchmark}: no problems to evaluate")
    sink = Sink(plan.output, resume=plan.resume, key=lambda r: r.get("task_id"))
    engine = None
    try:
        tasks = selected_tasks(bench, plan, sink.done)
        if plan.samples is not None:
            tasks, grouped = read_solutions(bench, plan, tasks)
        with sandbox(plan) as executor:
            expected = None
            if any(t.kind == "io" for t in tasks):
                expected = expected_outputs.load(bench, tasks, executor, min_limit=plan.min_time_limit,
                                                 factor=plan.time_factor)
            if plan.samples is not None:
                chunks, meta = [[(t, grouped[t.task_id]) for t in tasks]], {"samples_file": str(plan.samples)}
            else:
                engine = start_backend(plan) if tasks else None
                chunks, meta = from_model(engine, plan, tasks) if engine else ([], {})
            fresh = write_records(bench, chunks, expected, executor, plan, sink, len(tasks))
    except BaseException as exc:
        sink.close(exc)  # a failed run leaves an existing -o FILE as it was
        raise
    finally:
        sink.close()
        if engine is not None:
            engine.close()
    # With --resume the summary covers the problems of earlier runs too, which only the file holds.
    records = read_records(plan.output) if plan.resume and plan.output else fresh
    summary = build_summary(bench, plan, records, meta)
    from fdpo.evaluation.report import print_summary, write_report

    print_summary(summary)
    if plan.report:
        write_report(plan.report, summary)
    return summary


def write_records(bench, chunks, expected, executor, plan: Plan, sink: Sink, total: int) -> list[dict]:
    """Score each chunk of (task, samples) items as it comes and write its records."""
    from fdpo.evaluation.scoring import score

    fresh = []
    with progress("problem") as bar:
        task = bar.add_task(f"eval {bench.name}", total=total, rate="")
        for chunk in chunks:
            for record in score(bench, chunk, expected, executor, plan.ks):
                sink.write(record)
                fresh.append(record)
                bar.advance(task)
    return fresh


def build_summary(bench: Benchmark, plan: Plan, records: list[dict], meta: dict[str, Any]) -> dict[str, Any]:
    from fdpo.evaluation.expected import SPLIT_CAP
    from fdpo.evaluation.oracle import WALL_FACTOR
    from fdpo.evaluation.programs import HUMANEVAL_TIMEOUT, LCB_TIMEOUT
    from fdpo.evaluation.report import summarize

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
