"""fdpo sample: the policy writes code candidates and tests for each problem.

Covers the command line, batching problems into backend calls (code prompts and test
prompts, each sampled n times natively), per-problem seeds, turning generations into
``candidates`` / ``tests`` / ``sampling`` fields and counting what is unusable. Does not
cover the engines (``fdpo.backends``), prompt texts (``fdpo.prompting``) or extraction
(``fdpo.extract``).
"""

from __future__ import annotations

import time
import zlib
from dataclasses import dataclass, field
from itertools import chain, islice
from pathlib import Path
from typing import Annotated, Optional

import typer

from fdpo.errors import FdpoError, handle_errors
from fdpo.options import (
    DtypeOpt,
    InputArg,
    ModelOpt,
    OutputOpt,
    ResumeOpt,
    ShardOpt,
    SkipInvalidOpt,
    TemperatureOpt,
    TopPOpt,
    at_least,
    backend_name,
    stage_io,
    style_name,
)

HELP = """Sample code candidates and tests for each problem from the policy model.

Reads problem records (id, prompt, entry_point when known) and writes them back with `candidates` and `tests` (each {id, response, code}) and `sampling`. The defaults are the paper's: 10 candidates and 10 test generations per problem at temperature 1.5.

Example: fdpo sample problems.jsonl -m builtin:tiny-coder --seed 0 -o sampled.jsonl"""


@dataclass
class Settings:
    """Everything about a run that does not change from record to record."""

    model: str
    backend: str
    style: str
    n_code: int
    n_tests: int
    temperature: float
    top_p: float
    max_tokens: int
    seed: int | None
    max_tests: int
    batch_size: int | None = None  # None: the backend's default
    templates: dict = field(default_factory=dict)  # "code" / "test" → template text

    def meta(self) -> dict:
        return {
            "model": self.model,
            "backend": self.backend,
            "style": self.style,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "max_tokens": self.max_tokens,
            "seed": self.seed,
            "n_code": self.n_code,
            "n_tests": self.n_tests,
        }


@dataclass
class Job:
    """One problem on its way through the backend."""

    record: dict
    entry_point: str | None
    code_prompt: str
    test_prompt: str


def prepare(record: dict, s: Settings) -> Job:
    """The prompts for one record; ValueError when the record cannot be sampled."""
    from fdpo.prompting import code_prompt, entry_point_of, test_prompt

    if "id" not in record:
        raise ValueError("record has no 'id'")
    return Job(
        record,
        entry_point_of(record) if isinstance(record.get("prompt"), str) else None,
        code_prompt(record, s.style, s.templates.get("code")),
        test_prompt(record, s.style, s.templates.get("test")) if s.n_tests else "",
    )


def problem_seed(seed: int | None, record_id, kind: str) -> int | None:
    """A seed per problem and kind, so a problem's samples do not depend on its batch."""
    if seed is None:
        return None
    return zlib.crc32(f"{seed}\0{record_id}\0{kind}".encode()) & 0x7FFFFFFF


def generate(backend, jobs: list[Job], s: Settings):
    """(code generations, test generations) per job."""
    from fdpo.extract import CODE_STOPS, TEST_STOPS

    completion = s.style == "completion"
    common = {"temperature": s.temperature, "top_p": s.top_p, "max_tokens": s.max_tokens, "chat": not completion}
    codes = backend.generate(
        [j.code_prompt for j in jobs],
        n=s.n_code,
        stop=CODE_STOPS if completion else None,
        seed=[problem_seed(s.seed, j.record["id"], "code") for j in jobs],
        **common,
    )
    tests = [[] for _ in jobs]
    if s.n_tests:
        tests = backend.generate(
            [j.test_prompt for j in jobs],
            n=s.n_tests,
            stop=TEST_STOPS if completion else None,
            seed=[problem_seed(s.seed, j.record["id"], "tests") for j in jobs],
            **common,
        )
    return list(zip(codes, tests))


@dataclass
class Speed:
    """Tokens generated and seconds spent generating, for tokens/s."""

    tokens: int = 0
    seconds: float = 0.0

    def add(self, results, seconds: float) -> None:
        from fdpo.console import console

        tokens = sum(g.num_tokens for codes, tests in results for g in [*codes, *tests])
        self.tokens += tokens
        self.seconds += seconds
        rate = tokens / seconds if seconds > 0 else 0.0
        console.print(f"sample: {len(results)} problems, {tokens:,} tokens in {seconds:.1f}s ({rate:,.0f} tok/s)")

    def rate(self) -> int:
        return round(self.tokens / self.seconds) if self.seconds > 0 else 0


def sample_batch(backend, jobs: list[Job], s: Settings, summary, speed: Speed) -> list[dict]:
    """Output records for ``jobs``; a failing batch is retried one problem at a time so
    that only the problems that fail (e.g. a prompt longer than the context) get an error."""
    from fdpo.errors import debug
    from fdpo.stage import error_text

    if not jobs:
        return []
    start = time.perf_counter()
    try:
        results = generate(backend, jobs, s)
    except FdpoError:
        raise
    except Exception as exc:  # noqa: BLE001 - a problem's failure is data
        if debug():
            raise
        if len(jobs) == 1:
            summary.errors += 1
            return [{**jobs[0].record, "error": error_text(exc)}]
        return [out for job in jobs for out in sample_batch(backend, [job], s, summary, speed)]
    speed.add(results, time.perf_counter() - start)
    return [build_record(job, codes, tests, s, backend, summary.counts) for job, (codes, tests) in zip(jobs, results)]


def build_record(job: Job, codes, tests, s: Settings, backend, counts) -> dict:
    """The output record; ``counts`` (the summary's) learns what was unusable."""
    from fdpo.extract import collect_tests, defined_names, extract_code, extract_tests
    from fdpo.prompting import completion_lead

    prompt, ep = job.record["prompt"], job.entry_point
    candidates = []
    for i, g in enumerate(codes):
        code = extract_code(g.text, style=s.style, prompt=prompt if s.style == "chat" else job.code_prompt, entry_point=ep)
        candidates.append({"id": f"c{i}", "response": g.text, "code": code, "finish_reason": g.finish_reason})
        _count(counts, "candidates cut at --max-tokens", g.finish_reason == "length")
        _count(counts, "candidates without their entry point", bool(ep) and ep not in defined_names(code))
    lead = completion_lead(job.test_prompt) if s.style == "completion" else ""
    per_generation = [extract_tests(g.text, style=s.style, lead=lead, entry_point=ep) for g in tests]
    chosen, duplicates, over_cap = collect_tests(per_generation, s.max_tests)
    counts["candidates"] += len(candidates)
    counts["tests"] += len(chosen)
    _count(counts, "test generations without a usable assert", sum(not t for t in per_generation))
    _count(counts, "duplicate tests dropped", duplicates)
    _count(counts, "tests over --max-tests dropped", over_cap)
    return {
        **job.record,
        "candidates": candidates,
        "tests": [{"id": f"t{k}", "response": tests[g].text, "code": code} for k, (g, code) in enumerate(chosen)],
        "sampling": {**s.meta(), **_prompts(job, s, backend)},
    }


def _count(counts, key: str, value: int) -> None:
    if value:  # only what happened is listed in the summary
        counts[key] += value


def _prompts(job: Job, s: Settings, backend) -> dict:
    """The exact texts the responses continue (what training scores them after)."""
    if s.style == "completion":
        return {"code_prompt": job.code_prompt, "test_prompt": job.test_prompt or None}
    return {
        "code_prompt": backend.render_chat(job.code_prompt),
        "test_prompt": backend.render_chat(job.test_prompt) if job.test_prompt else None,
        "code_message": job.code_prompt,
        "test_message": job.test_prompt or None,
    }


def prepare_chunk(chunk: list[dict], s: Settings, summary) -> list:
    """A ``Job`` for each record that can be sampled; the others as they will be written."""
    from fdpo.stage import error_text

    slots = []
    for record in chunk:
        if record.get("error"):
            summary.counts["upstream errors passed on"] += 1
            slots.append(record)
            continue
        try:
            slots.append(prepare(record, s))
        except ValueError as exc:
            summary.errors += 1
            slots.append({**record, "error": error_text(exc)})
    return slots


def make_transform(s: Settings, load):
    """The stage transform: sample records in batches, keep input order.

    The backend starts with the first record, so a run with nothing to do (everything
    already there with --resume) loads no model.
    """

    def transform(records, summary):
        first = next(records, None)
        if first is None:
            return
        backend = load(s)
        records = chain([first], records)
        speed = Speed()
        summary.counts.update(candidates=0, tests=0)  # listed first in the summary
        try:
            while chunk := list(islice(records, s.batch_size)):
                slots = prepare_chunk(chunk, s, summary)
                jobs = [slot for slot in slots if isinstance(slot, Job)]
                done = iter(sample_batch(backend, jobs, s, summary, speed))
                summary.counts["tok/s"] = speed.rate()
                yield from (next(done) if isinstance(slot, Job) else slot for slot in slots)
        finally:
            backend.close()
            summary.counts["tokens"] = speed.tokens
            summary.counts["tok/s"] = speed.rate()

    return transform


@handle_errors("sample")
def command(
    model: ModelOpt,
    input: InputArg = None,
    output: OutputOpt = None,
    backend: Annotated[
        Optional[str],
        typer.Option(callback=backend_name,
                     help="vllm, transformers or openai. Default: vllm when a GPU and vLLM are present, else transformers."),
    ] = None,
    style: Annotated[
        str, typer.Option(callback=style_name,
                          help="auto, completion (the prompt is continued) or chat (the model's chat template).")
    ] = "auto",
    n_code: Annotated[int, typer.Option("--n-code", callback=at_least(1), help="Code candidates per problem.")] = 10,
    n_tests: Annotated[int, typer.Option("--n-tests", callback=at_least(0), help="Test generations per problem (0: none).")] = 10,
    temperature: TemperatureOpt = 1.5,
    top_p: TopPOpt = 1.0,
    max_tokens: Annotated[int, typer.Option("--max-tokens", callback=at_least(1), help="Most tokens per generation.")] = 512,
    seed: Annotated[Optional[int], typer.Option(help="Seed for reproducible samples.", show_default=False)] = None,
    batch_size: Annotated[
        Optional[int],
        typer.Option("--batch-size", callback=at_least(1),
                     help="Problems per engine call (default: vllm 256, transformers 8, openai 64).", show_default=False),
    ] = None,
    max_tests: Annotated[
        int, typer.Option("--max-tests", callback=at_least(0), help="Most distinct single-assert tests kept per problem.")
    ] = 30,
    code_template: Annotated[
        Optional[Path], typer.Option("--code-template", help="Template file for code prompts ({prompt}, {entry_point}).", show_default=False)
    ] = None,
    test_template: Annotated[
        Optional[Path], typer.Option("--test-template", help="Template file for test prompts ({prompt}, {entry_point}).", show_default=False)
    ] = None,
    base_url: Annotated[
        Optional[str], typer.Option("--base-url", help="openai: server URL ending in /v1 (default $OPENAI_BASE_URL or http://127.0.0.1:8000/v1).", show_default=False)
    ] = None,
    api_key_env: Annotated[
        Optional[str], typer.Option("--api-key-env", help="openai: environment variable holding the API key (default OPENAI_API_KEY, optional).", show_default=False)
    ] = None,
    concurrency: Annotated[int, typer.Option(callback=at_least(1), help="openai: most requests in flight.")] = 8,
    tensor_parallel_size: Annotated[
        int, typer.Option("--tensor-parallel-size", callback=at_least(1), help="vllm: GPUs to shard the model over.")
    ] = 1,
    dtype: DtypeOpt = "auto",
    resume: ResumeOpt = False,
    shard: ShardOpt = None,
    skip_invalid: SkipInvalidOpt = False,
) -> None:
    from fdpo.models import check_model
    from fdpo.prompting import read_template
    from fdpo.stage import run_stage

    if backend != "openai":  # a missing or empty model folder fails now, not after reading input
        check_model(model)
    settings = Settings(model, backend or "", style, n_code, n_tests, temperature, top_p, max_tokens, seed, max_tests, batch_size)
    settings.templates = {k: read_template(p) for k, p in (("code", code_template), ("test", test_template)) if p}

    def load(s: Settings):
        from fdpo.backends import load_backend

        engine = load_backend(
            model, backend, base_url=base_url, api_key_env=api_key_env, seed=seed,
            tensor_parallel_size=tensor_parallel_size, dtype=dtype, concurrency=concurrency,
        )
        s.backend = engine.name
        if s.style == "auto":
            s.style = "chat" if engine.is_chat_model else "completion"
        s.batch_size = s.batch_size or engine.default_batch_size
        return engine

    run_stage("sample", stage_io(input, output, resume, shard, skip_invalid), make_transform(settings, load), unit="problem",
              live=("tok/s",))
