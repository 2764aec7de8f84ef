"""fdpo synth: seeds (functions and their concepts) from Python source trees, and problems from seeds.

Covers the command line and the stage transforms (seeds as they are, or a problem
drafted per seed, up to --max-problems, rejects to --keep-rejects), run on the
stage driver with the seeds as its source. Does not cover mining, drafting or
filtering (``fdpo.synth``) or sampling answers to the problems (``fdpo sample``).
"""

from __future__ import annotations

from collections import Counter
from contextlib import nullcontext
from pathlib import Path
from typing import Annotated, Optional

import typer

from fdpo.errors import FdpoError, UsageError, handle_errors
from fdpo.jsonl import Sink
from fdpo.options import (
    ApiKeyEnvOpt,
    BackendOpt,
    BaseUrlOpt,
    BatchSizeOpt,
    ConcurrencyOpt,
    DtypeOpt,
    MaxTokensOpt,
    MaybeModelOpt,
    OutputOpt,
    StyleOpt,
    TemperatureOpt,
    TensorParallelOpt,
    TopPOpt,
    at_least,
    non_negative,
)
from fdpo.sampling.engine import Decoding, EngineOptions
from fdpo.stage import StageIO, check_output, run_stage
from fdpo.synth import DEFAULT_EXCLUDE

NO_ARGS_IS_HELP = True

HELP = """Mine Python source for seed functions and their concepts, and turn them into new problems.

Walks the PATHs (files or folders: any repository checkout; the standard library, from
`python -c "import sysconfig; print(sysconfig.get_paths()['stdlib'])"`, is a good first
corpus) and cuts out functions and methods of --min-lines to --max-lines lines with
tree-sitter, each with its concepts: the library APIs, builtins and methods it calls,
its control flow, data structures, language features, exceptions and the imports it needs.
--seeds-only writes these seeds. With --model, each seed is shown to the model (template:
fdpo/templates/synth_problem.txt, or --template) which writes a new HumanEval-style
problem: a signature and a docstring with examples. A problem must parse, define a
function with a docstring and not copy its seed; problems that overlap a HumanEval or
MBPP prompt (--decontam-threshold) or duplicate an earlier one (--dedup-threshold) are
dropped too. Rejects are counted by reason in the summary (--keep-rejects FILE keeps
them). Files and seeds come in a shuffled order fixed by --seed.

Example: fdpo synth /usr/lib/python3.11 -m Qwen/Qwen2.5-Coder-7B-Instruct -o problems.jsonl"""


@handle_errors("synth")
def command(
    paths: Annotated[
        list[str], typer.Argument(metavar="PATH", help="Python files or source folders to mine.", show_default=False)
    ],
    output: OutputOpt = None,
    seeds_only: Annotated[bool, typer.Option("--seeds-only", help="Write the seeds (code, concepts, source), no model.")] = False,
    model: MaybeModelOpt = None,
    backend: BackendOpt = None,
    style: StyleOpt = "auto",
    base_url: BaseUrlOpt = None,
    api_key_env: ApiKeyEnvOpt = None,
    template: Annotated[
        Optional[Path], typer.Option(help="Prompt template file with {code} and {concepts}.", show_default=False)
    ] = None,
    temperature: TemperatureOpt = 0.8,
    top_p: TopPOpt = 1.0,
    max_tokens: MaxTokensOpt = 512,
    batch_size: BatchSizeOpt = None,
    max_problems: Annotated[
        Optional[int],
        typer.Option(callback=at_least(1), help="Stop after this many problems (seeds with --seeds-only).", show_default=False),
    ] = None,
    seed: Annotated[int, typer.Option(help="Fixes the order of files and seeds, and the sampling.")] = 0,
    jobs: Annotated[int, typer.Option("--jobs", "-j", callback=at_least(1), help="Processes parsing files.")] = 1,
    min_lines: Annotated[int, typer.Option(callback=at_least(1), help="Shortest seed function, in lines.")] = 5,
    max_lines: Annotated[int, typer.Option(callback=at_least(1), help="Longest seed function, in lines.")] = 80,
    per_file: Annotated[int, typer.Option(callback=at_least(0), help="Most seeds taken from one file (0: all).")] = 0,
    exclude: Annotated[
        Optional[list[str]],
        typer.Option(
            metavar="GLOB",
            help=f"File or folder name to skip (glob); repeatable; replaces the default: {' '.join(DEFAULT_EXCLUDE)}",
            show_default=False,
        ),
    ] = None,
    dedup_threshold: Annotated[
        float,
        typer.Option(callback=non_negative,
                     help="Word 3-gram Jaccard at which a seed or problem duplicates an earlier one (>1: exact only)."),
    ] = 0.7,
    decontam_threshold: Annotated[
        float, typer.Option(callback=non_negative,
                            help="Word 5-gram overlap with a HumanEval/MBPP prompt that drops a problem (>1: off).")
    ] = 0.5,
    concurrency: ConcurrencyOpt = 8,
    tensor_parallel_size: TensorParallelOpt = 1,
    dtype: DtypeOpt = "auto",
    keep_rejects: Annotated[
        Optional[Path], typer.Option(help="Also write rejected drafts, with the reply and the reason, to this file.", show_default=False)
    ] = None,
) -> None:
    # The synth engine parses with tree-sitter: imported here, so `fdpo --help` stays light.
    from fdpo.synth.dedup import NearDuplicateIndex
    from fdpo.synth.pipeline import Drafting, seed_stream, summary_text
    from fdpo.synth.problems import load_template
    from fdpo.synth.seeds import SeedRules, find_files

    if seeds_only == (model is not None):
        raise UsageError("give --model to write problems, or --seeds-only to write the seeds")
    if min_lines > max_lines:
        raise UsageError(f"--min-lines {min_lines} is more than --max-lines {max_lines}")
    engine = EngineOptions(model, backend, base_url, api_key_env, concurrency, tensor_parallel_size, dtype, seed)
    if model is not None:
        engine.check()  # a missing or empty model folder fails before any mining
    check_output(output, inputs=paths)
    check_output(keep_rejects, "--keep-rejects", inputs=paths)
    files = find_files(paths, tuple(exclude) if exclude else DEFAULT_EXCLUDE)
    if not files:
        raise FdpoError("no Python files under " + ", ".join(paths))
    counts: Counter = Counter()
    seeds = seed_stream(files, SeedRules(min_lines, max_lines), counts, seed=seed, jobs=jobs, per_file=per_file,
                        dedup=NearDuplicateIndex(dedup_threshold))
    if seeds_only:
        transform = _seeds(counts, max_problems)
    else:
        decoding = Decoding(temperature, max_tokens, top_p, seed, style, batch_size)
        drafting = Drafting(load_template(template), decoding, {"model": model})
        filters = _filters(dedup_threshold, decontam_threshold)
        transform = _problems(counts, max_problems, engine, drafting, filters, keep_rejects)
    run_stage("synth", StageIO(output=output), transform, source=seeds, unit="seed", live=("seeds",),
              closing=lambda summary: summary_text(counts, summary.seconds, problems=not seeds_only))


def _seeds(counts: Counter, max_problems: int | None):
    """The transform of --seeds-only: the seeds themselves, up to --max-problems."""

    def transform(records, summary):
        summary.counts = counts  # the seed stream counts files, functions and skips into it
        for record in records:
            counts["written"] += 1
            yield record
            if counts["written"] == max_problems:
                return

    return transform


def _problems(counts: Counter, max_problems: int | None, engine: EngineOptions, drafting, filters, keep_rejects):
    """The transform that drafts a problem per seed; rejects go to --keep-rejects when given."""
    # heavy: the pipeline parses with tree-sitter, so `fdpo --help` does not import it
    from fdpo.synth.pipeline import draft_problems

    def transform(records, summary):
        summary.counts = counts  # the seed stream and the drafts count into it
        with engine.start() as backend, Sink(keep_rejects) if keep_rejects else nullcontext() as rejects:
            drafting.decoding.fit(backend)
            drafting.meta.update(backend=backend.name, **drafting.decoding.meta())
            for record, accepted in draft_problems(records, backend, drafting, filters, counts):
                if accepted:
                    counts["written"] += 1
                    yield record
                    if counts["written"] == max_problems:
                        return
                elif rejects is not None:
                    rejects.write(record)

    return transform


def _filters(dedup_threshold: float, decontam_threshold: float):
    # heavy: the pipeline parses with tree-sitter, so `fdpo --help` does not import it
    from fdpo.synth.decontam import Decontaminator, load_prompts
    from fdpo.synth.dedup import NearDuplicateIndex
    from fdpo.synth.pipeline import Filters

    decontam = None
    if decontam_threshold <= 1:
        try:
            decontam = Decontaminator(load_prompts(), decontam_threshold)
        except FdpoError as exc:
            raise FdpoError(f"decontamination needs the benchmark prompts: {exc} (--decontam-threshold 2 turns it off)") from None
    return Filters(NearDuplicateIndex(dedup_threshold), decontam)
