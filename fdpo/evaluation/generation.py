"""Solutions from a model, made exactly as ``fdpo sample`` makes candidates.

Covers the problem record a task is prompted as, the prompt and the program taken
from each response (``fdpo.sampling``; for LiveCodeBench the last fenced block,
as its own harness takes it, since those programs are whole scripts). Generation,
seeds and retries are the sampling engine's (``fdpo.sampling.engine``); a problem
the engine cannot answer gets empty, failing solutions. Does not cover starting
the engine or scoring.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Any

from fdpo.console import warn
from fdpo.errors import error_text
from fdpo.evaluation.datasets import Task
from fdpo.sampling.engine import Decoding, generate, problem_seed
from fdpo.sampling.extract import CODE_STOPS, extract_code, fenced_blocks
from fdpo.sampling.prompting import code_prompt

# LiveCodeBench's question already says how to answer, so the template adds nothing.
LCB_TEMPLATE = "{prompt}"


def problem_record(task: Task) -> dict[str, Any]:
    record = {"id": task.task_id, "prompt": task.prompt}
    if task.entry_point:
        record["entry_point"] = task.entry_point
    return record


def prompt_for(task: Task, style: str, template: str | None) -> str:
    return code_prompt(problem_record(task), style, LCB_TEMPLATE if task.kind == "lcb" else template)


def solution_of(task: Task, prompt: str, response: str, style: str) -> str:
    if task.kind == "lcb":
        blocks = fenced_blocks(response)
        return blocks[-1] if blocks else response
    return extract_code(response, style=style, prompt=task.prompt if style == "chat" else prompt,
                        entry_point=task.entry_point)


def generate_batch(backend, tasks: list[Task], d: Decoding, n: int, template: str | None) -> list[list[dict[str, Any]]]:
    """For each task, ``n`` samples ``{solution, response, finish_reason}``; blank ones where generation failed."""
    prompts = [prompt_for(t, d.style, template) for t in tasks]
    # A benchmark holds one kind of task; whole scripts (LiveCodeBench) must not stop at "\ndef ".
    stop = CODE_STOPS if tasks[0].kind != "lcb" else None
    seeds = [problem_seed(d.seed, t.task_id, "code") for t in tasks]
    out = []
    for task, prompt, gens in zip(tasks, prompts, generate(backend, prompts, seeds, d, n=n, stop=stop)):
        if isinstance(gens, Exception):
            warn(f"{task.task_id}: generation failed ({error_text(gens)}); its samples count as wrong")
            blank = {"solution": "", "response": "", "finish_reason": None, "generation_error": error_text(gens)}
            out.append([dict(blank) for _ in range(n)])
        else:
            out.append([{"solution": solution_of(task, prompt, g.text, d.style), "response": g.text,
                         "finish_reason": g.finish_reason} for g in gens])
    return out


def batches(backend, tasks: Iterable[Task], d: Decoding, n: int, template: str | None = None,
            ) -> Iterator[list[tuple[Task, list[dict]]]]:
    """[(task, samples), …] per ``d.batch_size`` problems, each batch one engine call.

    Generated when the batch is asked for, in the caller's thread (the sandbox
    reads its input from a thread of its own; engines want the main one).
    """
    tasks = iter(tasks)
    while batch := list(islice(tasks, d.batch_size)):
        yield list(zip(batch, generate_batch(backend, batch, d, n, template)))
