"""The synth stream: seeds out of source files, then, with a model, problems out of seeds.

Covers turning files into a lazy stream of seeds, asking a backend for a
problem per seed in batches, checking each reply, dropping benchmark-contaminated
and duplicate problems, counting every reject by its reason, and the closing
summary. Does not cover command-line parsing or where records are written (see
``fdpo.commands.synth``).
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from fdpo.errors import error_text
from fdpo.sampling.engine import Decoding, generate, problem_seed
from fdpo.synth.decontam import Decontaminator
from fdpo.synth.dedup import NearDuplicateIndex, masked
from fdpo.synth.problems import Verdict, check_reply, problem_record, render
from fdpo.synth.seeds import SeedRules, iter_seeds

REJECT = "rejected: "


@dataclass
class Drafting:
    """How seeds become problems: the model's instructions and sampling settings."""

    template: str
    decoding: Decoding = field(default_factory=lambda: Decoding(0.8, 512, seed=0, style="chat", batch_size=16))
    meta: dict = field(default_factory=dict)


@dataclass
class Filters:
    dedup: NearDuplicateIndex
    decontam: Decontaminator | None = None


def seed_stream(
    files: list[str],
    rules: SeedRules,
    counts: Counter,
    *,
    seed: int = 0,
    jobs: int = 1,
    per_file: int = 0,
    dedup: NearDuplicateIndex | None = None,
    on_file: Callable[[], None] = lambda: None,
) -> Iterator[dict]:
    """Every seed of ``files``, file by file, minus near-duplicates of earlier seeds when
    ``dedup`` is given (generated code repeats itself: 100 ``getregentry`` in ``encodings``).
    ``on_file`` is called as each file is done."""
    for _, seeds in iter_seeds(files, rules, seed=seed, jobs=jobs, per_file=per_file, counts=counts):
        on_file()
        for s in seeds:
            if dedup is not None:
                text = masked(s["code"], s["name"].rsplit(".", 1)[-1])
                if dedup.find(text):
                    counts["near-duplicate seeds"] += 1
                    continue
                dedup.add(s["id"], text)
            counts["seeds"] += 1
            yield s


def draft_problems(
    seeds: Iterator[dict], backend, drafting: Drafting, filters: Filters, counts: Counter
) -> Iterator[tuple[dict, bool]]:
    """(record, accepted) per seed: a problem, or the seed's draft with a ``reject`` reason.

    A seed whose prompt the engine refuses (longer than its context, …) is a
    ``model error`` reject; the engine's retry policy keeps the rest of its batch.
    """
    d = drafting.decoding
    while batch := list(itertools.islice(seeds, d.batch_size)):
        prompts = [render(drafting.template, s, d.chat) for s in batch]
        sampling_seeds = [problem_seed(d.seed, s["source"]["seed_hash"]) for s in batch]
        for snippet, gens in zip(batch, generate(backend, prompts, sampling_seeds, d, n=1)):
            counts["drafted"] += 1
            if isinstance(gens, Exception):
                reply, record = None, problem_record(snippet, Verdict())
                reject = {"reason": "model error", "detail": error_text(gens)}
            else:
                reply = gens[0].text
                verdict = check_reply(reply, snippet["code"], continued=not d.chat)
                record = problem_record(snippet, verdict)
                reject = {"reason": verdict.reason} if verdict.reason else screen(record, filters)
            if reject:
                counts[REJECT + reject["reason"]] += 1
                yield {**record, "reply": reply, "reject": reject}, False
            else:
                yield {**record, "synth": drafting.meta}, True


def screen(record: dict, filters: Filters) -> dict | None:
    """Why a well-formed problem is still dropped (contamination, duplication), or None to keep it."""
    if filters.decontam is not None:
        hit = filters.decontam.check(record["prompt"], record["entry_point"])
        if hit:
            return {"reason": f"contaminated ({hit.benchmark})", "task_id": hit.task_id, "overlap": hit.overlap}
    text = masked(record["prompt"], record["entry_point"])
    duplicate = filters.dedup.find(text)
    if duplicate:
        kind = "exact duplicate" if duplicate[1] == 1.0 else "near duplicate"
        return {"reason": kind, "of": duplicate[0], "similarity": round(duplicate[1], 4)}
    filters.dedup.add(record["id"], text)
    return None


def summary_text(counts: Counter, seconds: float, *, problems: bool) -> str:
    """One line: files and seeds found, problems written, rejects by reason, what was skipped and why."""
    head = f"{counts['files']} files, {counts['functions']} functions, {counts['seeds']} seeds"
    if problems:
        head += f"; {counts['drafted']} drafted, {counts['written']} problems written"
    else:
        head += f"; {counts['written']} written"
    rejects = sorted((k[len(REJECT):], v) for k, v in counts.items() if k.startswith(REJECT))
    if rejects:
        head += "; rejected: " + ", ".join(f"{k} {v}" for k, v in rejects)
    skipped = sorted((k, v) for k, v in counts.items() if k in _SKIPS and v)
    if skipped:
        head += "; skipped: " + ", ".join(f"{k} {v}" for k, v in skipped)
    return f"fdpo synth: {head} [{seconds:.1f}s]"


_SKIPS = ("too short", "too long", "syntax errors", "stubs", "duplicate seeds", "near-duplicate seeds", "over --per-file",
          "unreadable files", "unparseable files")
