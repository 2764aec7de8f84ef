"""The tiny-coder corpus: training documents and the held-out demo and evaluation sets.

One slot kind per family and one phrasing per family are held out entirely (``HELD_OUT_KINDS``,
``HELD_OUT_PHRASING``): training problems never use them, and every demo and evaluation problem
uses at least one of them. Everything is a pure function of the seed. A document is a
(prompt, completion) pair, kept apart so that training tokenizes the prompt on its own exactly
as sampling does: the completion-style code prompt and the canonical body, or the rendered test
template and 1-3 asserts; EOS follows the completion. Does not cover tokenizing or training.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

from fdpo.sampling.prompting import code_prompt, test_prompt
from tools.tinycoder.families import FAMILIES, N_EXAMPLES, Family, Problem

Document = tuple[str, str]

HELD_OUT_PHRASING = 3
HELD_OUT_KINDS = {
    "sum_if": "divisible",
    "count_if": "atmost",
    "filter_if": "odd",
    "remove_if": "greater",
    "max_if": "even",
    "min_if": "indivisible",
    "first_index_if": "negative",
    "last_index_if": "atleast",
    "all_if": "positive",
    "any_if": "less",
    "product_if": "greater",
    "map_list": "halve",
    "sum_map": "square",
    "count_chars": "digits",
    "remove_chars": "vowels",
    "keep_chars": "uppercase",
    "mask_chars": "spaces",
    "first_char_index": "lowercase",
    "extreme_index": "min_last",
    "count_pairs": "falls",
    "count_words": "vowel_initial",
    "filter_words": "longer",
}

#: Share of held-out problems whose slot kind is held out (the rest only have a held-out phrasing).
HELD_OUT_KIND_SHARE = 0.5
TEST_DOC_SHARE = 0.25


def training_problem(rng: random.Random) -> Problem:
    family = rng.choice(FAMILIES)
    kind = rng.choice([k for k in family.kinds if k.kind != HELD_OUT_KINDS[family.name]])
    phrasing = rng.choice([p for p in range(len(family.phrasings)) if p != HELD_OUT_PHRASING])
    return family.problem(rng, kind, phrasing)


def held_out_problem(rng: random.Random, family: Family) -> Problem:
    if rng.random() < HELD_OUT_KIND_SHARE:
        kind = family.kind(HELD_OUT_KINDS[family.name])
        phrasing = rng.randrange(len(family.phrasings))
    else:
        kind = rng.choice([k for k in family.kinds if k.kind != HELD_OUT_KINDS[family.name]])
        phrasing = HELD_OUT_PHRASING
    return family.problem(rng, kind, phrasing)


def _record(problem: Problem) -> dict:
    return {"prompt": problem.prompt, "entry_point": problem.entry_point}


def code_document(problem: Problem) -> Document:
    return code_prompt(_record(problem), "completion"), problem.body


def test_document(problem: Problem, rng: random.Random) -> Document:
    """The completion-style test prompt of ``fdpo sample``, continued by 1-3 asserts.

    Half of the time the first assert repeats the docstring example, as real models often do;
    the others need the model to work the answer out, so its own tests are often wrong.
    """
    head = test_prompt(_record(problem), "completion")
    examples, others = problem.tests[:N_EXAMPLES], list(problem.tests[N_EXAMPLES:])
    rng.shuffle(others)
    cases = ([rng.choice(examples)] if rng.random() < 0.5 else []) + others
    lines = [f"{args}) == {expected}\n" for args, expected in cases[: rng.randint(1, 3)]]
    return head, f"assert {problem.entry_point}(".join(lines)


def training_documents(seed: int) -> Iterator[Document]:
    """An endless, seeded stream of training documents."""
    rng = random.Random(f"tiny-coder/train/{seed}")
    while True:
        problem = training_problem(rng)
        # One document per problem: a code and a test document of the same prompt side by side
        # would teach copying from the context instead of either task.
        yield test_document(problem, rng) if rng.random() < TEST_DOC_SHARE else code_document(problem)


def held_out_sets(seed: int, n_demo: int, n_eval: int, demo_first: int | None = None) -> tuple[list[dict], list[dict]]:
    """The demo problems and the evaluation set, both as HumanEval-shaped records.

    Families take turns so each is equally represented; no prompt appears twice. The first
    ``demo_first`` demo problems (all of them when None) are drawn before the evaluation set,
    the rest after it, so that more demo problems leave the evaluation set as it was. The demo
    pipeline reads only ``id``, ``prompt`` and ``entry_point``; the tests let ``fdpo audit``
    check the labels the pipeline gives the demo problems.
    """
    first = n_demo if demo_first is None else demo_first
    rng = random.Random(f"tiny-coder/held-out/{seed}")
    problems: list[Problem] = []
    seen: set[str] = set()
    while len(problems) < n_demo + n_eval:
        problem = held_out_problem(rng, FAMILIES[len(problems) % len(FAMILIES)])
        if problem.prompt not in seen:
            seen.add(problem.prompt)
            problems.append(problem)
    demo_problems = problems[:first] + problems[first + n_eval:]
    demo = [problem_record(f"TinyDemo/{i}", p) for i, p in enumerate(demo_problems)]
    evaluation = [problem_record(f"TinyEval/{i}", p) for i, p in enumerate(problems[first:first + n_eval])]
    return demo, evaluation


def problem_record(task_id: str, problem: Problem) -> dict:
    checks = "".join(f"    assert candidate({args}) == {expected}\n" for args, expected in problem.tests)
    return {
        "task_id": task_id,
        "id": task_id,
        "prompt": problem.prompt,
        "entry_point": problem.entry_point,
        "canonical_solution": problem.body,
        "test": f"def check(candidate):\n{checks}",
        "family": problem.family,
    }
