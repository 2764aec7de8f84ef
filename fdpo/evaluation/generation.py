"""Solutions from a model, made exactly as ``fdpo sample`` makes candidates.

Covers the problem record a task is prompted as, the prompt (``fdpo.prompting``),
the backend call (greedy by default, per-problem seeds as ``sample`` derives
them) and the program taken from each response (``fdpo.extract``; for
LiveCodeBench the last fenced block, as its own harness takes it, since those
programs are whole scripts). A problem the backend cannot answer gets empty,
failing solutions. Does not cover starting the backend or scoring.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from typing import Any

from fdpo.console import warn
from fdpo.evaluation.datasets import Task

# LiveCodeBench's question already says how to answer, so the template adds nothing.
LCB_TEMPLATE = "{prompt}"


@dataclass
class Settings:
    style: str
    n: int
    temperature: float
    top_p: float
    max_tokens: int
    seed: int | None
    batch_size: int
    template: str | None = None


def problem_record(task: Task) -> dict[str, Any]:
    record = {"id": task.task_id, "prompt": task.prompt}
    if task.entry_point:
        record["entry_point"] = task.entry_point
    return record


def prompt_for(task: Task, s: Settings) -> str:
    from fdpo.prompting import code_prompt

    template = LCB_TEMPLATE if task.kind == "lcb" else s.template
    return code_prompt(problem_record(task), s.style, template)


def solution_of(task: Task, prompt: str, response: str, style: str) -> str:
    from fdpo.extract import extract_code, fenced_blocks

    if task.kind == "lcb":
        blocks = fenced_blocks(response)
        return blocks[-1] if blocks else response
    return extract_code(response, style=style, prompt=task.prompt if style == "chat" else prompt,
                        entry_point=task.entry_point)


def generate_batch(backend, tasks: list[Task], s: Settings) -> list[list[dict[str, Any]]]:
    """For each task, ``n`` samples ``{solution, response, finish_reason}`` (one backend call)."""
    from fdpo.commands.sample import problem_seed
    from fdpo.extract import CODE_STOPS

    completion = s.style == "completion"
    prompts = [prompt_for(t, s) for t in tasks]
    # A benchmark holds one kind of task; whole scripts (LiveCodeBench) must not stop at "\ndef ".
    stop = CODE_STOPS if completion and tasks[0].kind != "lcb" else None
    seeds = [problem_seed(s.seed, t.task_id, "code") for t in tasks] if s.seed is not None else None
    out = backend.generate(prompts, n=s.n, temperature=s.temperature, top_p=s.top_p, max_tokens=s.max_tokens,
                           stop=stop, seed=seeds, chat=not completion)
    return [
        [{"solution": solution_of(t, p, g.text, s.style), "response": g.text, "finish_reason": g.finish_reason}
         for g in gens]
        for t, p, gens in zip(tasks, prompts, out)
    ]


def generate_or_blank(backend, tasks: list[Task], s: Settings) -> list[list[dict[str, Any]]]:
    """``generate_batch``; a failing batch is retried a problem at a time, and a problem the
    backend cannot answer (a prompt longer than the context, …) gets empty solutions, which fail."""
    from fdpo.errors import FdpoError, debug
    from fdpo.stage import error_text

    try:
        return generate_batch(backend, tasks, s)
    except FdpoError:
        raise
    except Exception as exc:  # noqa: BLE001 - one problem's failure is its score, not the run's end
        if debug():
            raise
        if len(tasks) > 1:
            return [generate_or_blank(backend, [t], s)[0] for t in tasks]
        warn(f"{tasks[0].task_id}: generation failed ({error_text(exc)}); its samples count as wrong")
        blank = {"solution": "", "response": "", "finish_reason": None, "generation_error": error_text(exc)}
        return [[dict(blank) for _ in range(s.n)]]


def batches(backend, tasks: Iterable[Task], s: Settings) -> Iterator[list[tuple[Task, list[dict]]]]:
    """[(task, samples), …] per ``batch_size`` problems, each batch one backend call.

    Generated when the batch is asked for, in the caller's thread (the sandbox
    reads its input from a thread of its own; engines want the main one).
    """
    tasks = iter(tasks)
    while batch := list(islice(tasks, s.batch_size)):
        yield list(zip(batch, generate_or_blank(backend, batch, s)))
