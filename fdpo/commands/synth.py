"""fdpo synth: seeds (functions and their concepts) from Python source trees, and problems from seeds.

Does not cover sampling answers to the problems (``fdpo sample``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from fdpo.errors import handle_errors
from fdpo.options import DtypeOpt, OutputOpt, at_least, backend_name, non_negative, style_name
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
    model: Annotated[
        Optional[str],
        typer.Option("--model", "-m", help="Model that writes the problems: folder, hub name or builtin:NAME.", show_default=False),
    ] = None,
    backend: Annotated[
        Optional[str],
        typer.Option(callback=backend_name,
                     help="Generation backend: vllm, transformers or openai (default: vllm on a GPU, else transformers).",
                     show_default=False),
    ] = None,
    style: Annotated[
        str, typer.Option(callback=style_name,
                          help="auto, chat (the template is a user message) or completion (the text is continued).")
    ] = "auto",
    base_url: Annotated[Optional[str], typer.Option(help="With --backend openai: the server's URL.", show_default=False)] = None,
    api_key_env: Annotated[
        Optional[str], typer.Option(help="With --backend openai: environment variable holding the API key.", show_default=False)
    ] = None,
    template: Annotated[
        Optional[Path], typer.Option(help="Prompt template file with {code} and {concepts}.", show_default=False)
    ] = None,
    temperature: Annotated[float, typer.Option(callback=non_negative, help="Sampling temperature for the problems.")] = 0.8,
    max_tokens: Annotated[int, typer.Option(callback=at_least(1), help="Longest reply, in tokens.")] = 512,
    batch_size: Annotated[
        Optional[int],
        typer.Option(callback=at_least(1), help="Seeds per engine call (default: vllm 256, transformers 8, openai 64).",
                     show_default=False),
    ] = None,
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
    concurrency: Annotated[int, typer.Option(callback=at_least(1), help="openai: most requests in flight.")] = 8,
    tensor_parallel_size: Annotated[int, typer.Option(callback=at_least(1), help="vllm: GPUs to shard the model over.")] = 1,
    dtype: DtypeOpt = "auto",
    keep_rejects: Annotated[
        Optional[Path], typer.Option(help="Also write rejected drafts, with the reply and the reason, to this file.", show_default=False)
    ] = None,
) -> None:
    import time
    from collections import Counter

    from fdpo.console import console
    from fdpo.errors import FdpoError, UsageError
    from fdpo.models import check_model
    from fdpo.stage import check_output
    from fdpo.synth.dedup import NearDuplicateIndex
    from fdpo.synth.pipeline import seed_stream, summary_text
    from fdpo.synth.seeds import SeedRules, find_files

    if seeds_only == (model is not None):
        raise UsageError("give --model to write problems, or --seeds-only to write the seeds")
    if min_lines > max_lines:
        raise UsageError(f"--min-lines {min_lines} is more than --max-lines {max_lines}")
    if model is not None and backend != "openai":  # a missing or empty model folder fails before any mining
        check_model(model)
    check_output(output, inputs=paths)
    check_output(keep_rejects, "--keep-rejects", inputs=paths)
    start = time.perf_counter()
    files = find_files(paths, tuple(exclude) if exclude else DEFAULT_EXCLUDE)
    if not files:
        raise FdpoError("no Python files under " + ", ".join(paths))
    counts: Counter = Counter()
    rules = SeedRules(min_lines, max_lines)

    def seeds(on_file):
        dedup = NearDuplicateIndex(dedup_threshold)
        return seed_stream(files, rules, counts, seed=seed, jobs=jobs, per_file=per_file, dedup=dedup, on_file=on_file)

    if seeds_only:
        _write_seeds(seeds, len(files), counts, output, max_problems)
    else:
        from fdpo.backends import load_backend

        drafting = _drafting(template, temperature, max_tokens, seed, model)
        filters = _filters(dedup_threshold, decontam_threshold)
        with load_backend(
            model, backend, base_url=base_url, api_key_env=api_key_env, seed=seed,
            tensor_parallel_size=tensor_parallel_size, dtype=dtype, concurrency=concurrency,
        ) as engine:
            drafting.chat = engine.is_chat_model if style == "auto" else style == "chat"
            drafting.batch_size = batch_size or engine.default_batch_size
            drafting.meta.update(backend=engine.name, style="chat" if drafting.chat else "completion")
            _write_problems(seeds, len(files), counts, output, max_problems, engine, drafting, filters, keep_rejects)
    console.print(summary_text(counts, time.perf_counter() - start, problems=not seeds_only))


def _write_seeds(seeds, files: int, counts, output, max_problems) -> None:
    from fdpo.jsonl import Sink

    with Sink(output) as sink, _progress(files) as tick:  # a failed run leaves an existing -o FILE as it was
        for record in seeds(tick.file):
            sink.write(record)
            counts["written"] += 1
            tick.status(counts)
            if counts["written"] == max_problems:
                break


def _write_problems(seeds, files: int, counts, output, max_problems, engine, drafting, filters, keep_rejects) -> None:
    from fdpo.jsonl import Sink
    from fdpo.synth.pipeline import draft_problems

    from contextlib import nullcontext

    with Sink(output) as sink, Sink(keep_rejects) if keep_rejects else nullcontext() as rejects, _progress(files) as tick:
        for record, accepted in draft_problems(seeds(tick.file), engine, drafting, filters, counts):
            if accepted:
                sink.write(record)
                counts["written"] += 1
            elif rejects is not None:
                rejects.write(record)
            tick.status(counts)
            if counts["written"] == max_problems:
                break


def _drafting(template, temperature, max_tokens, seed, model):
    from fdpo.synth.pipeline import Drafting
    from fdpo.synth.problems import load_template

    meta = {"model": model, "temperature": temperature, "max_tokens": max_tokens, "seed": seed}
    return Drafting(load_template(template), temperature, max_tokens, seed=seed, meta=meta)


def _filters(dedup_threshold: float, decontam_threshold: float):
    from fdpo.errors import FdpoError
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


class _progress:
    """A progress bar over files on stderr, with a running count of seeds, problems and rejects."""

    def __init__(self, total: int) -> None:
        from rich.progress import TextColumn

        from fdpo.console import progress

        self.bar = progress("file", TextColumn("{task.fields[status]}"))
        self.task = self.bar.add_task("synth", total=total, status="")

    def __enter__(self):
        self.bar.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.bar.__exit__(*exc)

    def file(self) -> None:
        self.bar.advance(self.task)

    def status(self, counts) -> None:
        rejected = sum(v for k, v in counts.items() if k.startswith("rejected: "))
        text = f"{counts['seeds']} seeds, {counts['written']} written"
        self.bar.update(self.task, status=text + (f", {rejected} rejected" if rejected else ""))
