"""The sample stage: code candidates and tests for each problem record.

Covers batching records into engine calls (code prompts and test prompts, each
sampled n times natively), turning generations into ``candidates`` / ``tests`` /
``sampling`` fields, counting what is unusable, and tokens per second. Does not
cover the command line (``fdpo.commands.sample``), the engines, prompt texts or
extraction (the sibling modules).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from itertools import chain, islice

from fdpo.console import console
from fdpo.errors import error_text
from fdpo.sampling.engine import Decoding, EngineOptions, generate, problem_seed
from fdpo.sampling.extract import CODE_STOPS, TEST_STOPS, collect_tests, defined_names, extract_code, extract_tests
from fdpo.sampling.prompting import code_prompt, completion_lead, entry_point_of, test_prompt
from fdpo.stage import upstream_error


@dataclass
class Settings:
    """Everything about a sample run that does not change from record to record."""

    engine: EngineOptions
    decoding: Decoding
    n_code: int = 10
    n_tests: int = 10
    max_tests: int = 30
    templates: dict = field(default_factory=dict)  # "code" / "test" → template text
    backend_name: str = ""  # the started engine's

    def meta(self) -> dict:
        return {"model": self.engine.model, "backend": self.backend_name, **self.decoding.meta(),
                "n_code": self.n_code, "n_tests": self.n_tests}


@dataclass
class Job:
    """One problem on its way through the engine."""

    record: dict
    entry_point: str | None
    code_prompt: str
    test_prompt: str


def prepare(record: dict, s: Settings) -> Job:
    """The prompts for one record; ValueError when the record cannot be sampled."""
    if "id" not in record:
        raise ValueError("record has no 'id'")
    style = s.decoding.style
    return Job(
        record,
        entry_point_of(record) if isinstance(record.get("prompt"), str) else None,
        code_prompt(record, style, s.templates.get("code")),
        test_prompt(record, style, s.templates.get("test")) if s.n_tests else "",
    )


def generate_jobs(backend, jobs: list[Job], s: Settings) -> list[tuple]:
    """(code generations, test generations) per job; either is the exception its prompt raised."""
    seed = s.decoding.seed
    codes = generate(backend, [j.code_prompt for j in jobs], [problem_seed(seed, j.record["id"], "code") for j in jobs],
                     s.decoding, n=s.n_code, stop=CODE_STOPS)
    tests: list = [[] for _ in jobs]
    if s.n_tests:
        tests = generate(backend, [j.test_prompt for j in jobs],
                         [problem_seed(seed, j.record["id"], "tests") for j in jobs], s.decoding, n=s.n_tests,
                         stop=TEST_STOPS)
    return list(zip(codes, tests))


@dataclass
class Speed:
    """Tokens generated and seconds spent generating, for tokens/s."""

    tokens: int = 0
    seconds: float = 0.0

    def add(self, results, seconds: float) -> None:
        tokens = sum(g.num_tokens for pair in results for gens in pair if isinstance(gens, list) for g in gens)
        self.tokens += tokens
        self.seconds += seconds
        rate = tokens / seconds if seconds > 0 else 0.0
        console.print(f"sample: {len(results)} problems, {tokens:,} tokens in {seconds:.1f}s ({rate:,.0f} tok/s)")

    def rate(self) -> int:
        return round(self.tokens / self.seconds) if self.seconds > 0 else 0


def sample_batch(backend, jobs: list[Job], s: Settings, summary, speed: Speed) -> list[dict]:
    """Output records for ``jobs``; a problem whose prompt the engine refuses gets an ``error``."""
    if not jobs:
        return []
    start = time.perf_counter()
    results = generate_jobs(backend, jobs, s)
    speed.add(results, time.perf_counter() - start)
    out = []
    for job, (codes, tests) in zip(jobs, results):
        failed = next((r for r in (codes, tests) if isinstance(r, Exception)), None)
        if failed is not None:
            summary.errors += 1
            out.append({**job.record, "error": error_text(failed)})
        else:
            out.append(build_record(job, codes, tests, s, backend, summary.counts))
    return out


def build_record(job: Job, codes, tests, s: Settings, backend, counts) -> dict:
    """The output record; ``counts`` (the summary's) learns what was unusable."""
    style = s.decoding.style
    prompt, ep = job.record["prompt"], job.entry_point
    candidates = []
    for i, g in enumerate(codes):
        code = extract_code(g.text, style=style, prompt=prompt if style == "chat" else job.code_prompt, entry_point=ep)
        candidates.append({"id": f"c{i}", "response": g.text, "code": code, "finish_reason": g.finish_reason})
        _count(counts, "candidates cut at --max-tokens", g.finish_reason == "length")
        _count(counts, "candidates without their entry point", bool(ep) and ep not in defined_names(code))
    lead = completion_lead(job.test_prompt) if style == "completion" else ""
    per_generation = [extract_tests(g.text, style=style, lead=lead, entry_point=ep) for g in tests]
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
        "sampling": {**s.meta(), **_prompts(job, style, backend)},
    }


def _count(counts, key: str, value: int) -> None:
    if value:  # only what happened is listed in the summary
        counts[key] += value


def _prompts(job: Job, style: str, backend) -> dict:
    """The exact texts the responses continue (what training scores them after)."""
    if style == "completion":
        return {"code_prompt": job.code_prompt, "test_prompt": job.test_prompt or None}
    return {
        "code_prompt": backend.render_chat(job.code_prompt),
        "test_prompt": backend.render_chat(job.test_prompt) if job.test_prompt else None,
        "code_message": job.code_prompt,
        "test_message": job.test_prompt or None,
    }


def prepare_chunk(chunk: list[dict], s: Settings, summary) -> list:
    """A ``Job`` for each record that can be sampled; the others as they will be written."""
    slots = []
    for record in chunk:
        if upstream_error(record, summary):
            slots.append(record)
            continue
        try:
            slots.append(prepare(record, s))
        except ValueError as exc:
            summary.errors += 1
            slots.append({**record, "error": error_text(exc)})
    return slots


def sample_transform(s: Settings):
    """The stage transform: sample records in batches, keep input order.

    The engine starts with the first record, so a run with nothing to do (everything
    already there with --resume) loads no model.
    """

    def transform(records, summary):
        first = next(records, None)
        if first is None:
            return
        backend = s.engine.start()
        s.backend_name = backend.name
        s.decoding.fit(backend)
        records = chain([first], records)
        speed = Speed()
        summary.counts.update(candidates=0, tests=0)  # listed first in the summary
        try:
            while chunk := list(islice(records, s.decoding.batch_size)):
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
