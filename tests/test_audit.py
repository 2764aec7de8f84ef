"""fdpo audit: candidates judged in the real sandbox against hidden tests, and the label numbers.

Hand-written records with HumanEval-style `test` fields, the bundled tiny_demo set as a
benchmark FILE, HumanEval+ / MBPP+ from the EvalPlus release files, and one real
execute → rank → locate run whose labels are checked against an independent run of the
hidden tests. Deliberately wrong labels must lower the precision.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fdpo.audit import judge_records, label_report
from fdpo.cli import app
from fdpo.jsonl import read_records, write_records

DATA = Path(__file__).resolve().parents[1] / "fdpo" / "data"

PROMPT = 'def is_odd(n: int) -> bool:\n    """Return True when n is odd."""\n'
TEST = "def check(candidate):\n    assert candidate(3) is True\n    assert candidate(4) is False\n    assert candidate(-3) is True\n"
BODIES = {"c0": "    return n % 2 == 1\n", "c1": "    return n % 2 == 0\n", "c2": "    return n & 1 == 1\n",
          "c3": "    return n % 2 == 1 and n > 0\n"}  # c3 fails the hidden n = -3 only


pytestmark = pytest.mark.usefixtures("eval_cache_env")


def is_odd(pid: str = "odd", correct=("c0", "c2"), incorrect=("c1", "c3"), **extra) -> dict:
    """A ranked record whose own `test` field holds the hidden tests: c0, c2 right; c1, c3 wrong."""
    return {
        "id": pid, "prompt": PROMPT, "entry_point": "is_odd", "test": TEST,
        "candidates": [{"id": c, "response": body, "code": PROMPT + body} for c, body in BODIES.items()],
        "execution": {"load": ["ok"] * len(BODIES)},
        "ranking": {"correct": list(correct), "incorrect": list(incorrect), "reason": None},
        **extra,
    }


def audit(*args, input: str | None = None):
    return CliRunner().invoke(app, ["audit", *map(str, args)], input=input)


def run_ok(*args, input: str | None = None):
    result = audit(*args, input=input)
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()], result.stderr


# --- judging ---------------------------------------------------------------------------

def test_the_records_own_tests_judge_each_candidates_code(tmp_path):
    write_records(tmp_path / "ranked.jsonl", [is_odd()])
    (record,), stderr = run_ok(tmp_path / "ranked.jsonl", "--jobs", "2")
    assert record["audit"] == {"benchmark": "record", "task_id": "odd", "truth": [True, False, True, False],
                               "outcomes": ["pass", "fail", "pass", "fail"], "reason": None}
    assert record["ranking"] == is_odd()["ranking"]  # every field is kept, no label changes
    assert "fdpo audit: 1 read, 1 written; judged: 1" in stderr


def test_candidates_without_code_are_not_judged_and_broken_ones_are_wrong():
    record = is_odd()
    record["candidates"][1]["code"] = None
    record["candidates"][3]["code"] = PROMPT + "    return (\n"  # does not even load
    (out,) = judge_records([record], jobs=1)
    assert out["audit"]["truth"] == [True, None, True, False]
    assert out["audit"]["outcomes"] == ["pass", None, "pass", "error"]
    assert "audit" not in record  # the input is not changed


def test_records_without_hidden_tests_are_counted_not_dropped(tmp_path):
    bare = {"id": "bare", "prompt": PROMPT, "entry_point": "is_odd", "candidates": [{"id": "c0", "code": PROMPT}]}
    upstream = {"id": "broken", "error": "execute: boom"}
    write_records(tmp_path / "in.jsonl", [bare, is_odd(), upstream])
    out, stderr = run_ok(tmp_path / "in.jsonl", "--report", tmp_path / "r.json")
    assert [r["id"] for r in out] == ["bare", "odd", "broken"]
    assert out[0]["audit"]["truth"] is None and "no hidden tests" in out[0]["audit"]["reason"]
    assert out[2] == upstream  # passed on untouched
    assert "no hidden tests: 1" in stderr and "upstream errors passed on: 1" in stderr
    report = json.loads((tmp_path / "r.json").read_text())
    assert (report["records"], report["audited"], report["no_hidden_tests"], report["errors"]) == (3, 1, 1, 1)
    assert report["candidates"] == {"judged": 4, "truly_correct": 2, "not_judged": 1}


def test_existing_truth_is_reused_without_running_unless_rejudge(tmp_path):
    # A truth the sandbox would never give: keeping it proves nothing ran.
    planted = is_odd(audit={"benchmark": "record", "task_id": "odd", "truth": [False, True, False, True]})
    short = is_odd("short", audit={"truth": [True]})  # wrong length: judged again
    write_records(tmp_path / "audited.jsonl", [planted, short])
    out, stderr = run_ok(tmp_path / "audited.jsonl")
    assert out[0]["audit"]["truth"] == [False, True, False, True]
    assert out[1]["audit"]["truth"] == [True, False, True, False]
    assert "reused: 1" in stderr and "judged: 1" in stderr
    out, _ = run_ok(tmp_path / "audited.jsonl", "--rejudge")
    assert out[0]["audit"]["truth"] == [True, False, True, False]


# --- label precision -----------------------------------------------------------------------

def test_a_wrong_label_lowers_precision():
    right = judge_records([is_odd()], jobs=1)
    assert label_report(right)["labels"]["correct"]["precision"] == 1.0
    assert label_report(right)["labels"]["incorrect"]["precision"] == 1.0
    # c3 labelled correct (it fails the hidden n = -3), c2 labelled incorrect (it is right):
    wrong = [{**right[0], "ranking": {"correct": ["c0", "c3"], "incorrect": ["c1", "c2"], "reason": None}}]
    labels = label_report(wrong)["labels"]
    assert labels["correct"] == {"labelled": 2, "judged": 2, "truly_correct": 1, "precision": 0.5}
    assert labels["incorrect"] == {"labelled": 2, "judged": 2, "truly_incorrect": 1, "precision": 0.5}


def test_problem_counts_mixed_none_right_and_usable_split():
    right = judge_records([is_odd("a")], jobs=1)[0]
    all_wrong = {**right, "id": "b", "audit": {**right["audit"], "truth": [False] * 4},
                 "ranking": {"correct": ["c0", "c1", "c2", "c3"], "incorrect": [], "reason": "all equal"}}
    # Right and wrong, but the only right candidate did not load: not mixed.
    unloaded = {**right, "id": "c", "audit": {**right["audit"], "truth": [True, False, False, False]},
                "execution": {"load": ["error", "ok", "ok", "ok"]}}
    report = label_report([right, all_wrong, unloaded])
    assert report["problems"] == {"usable_split": 2, "mixed": 1, "none_right": 1, "all_right": 0}
    assert report["labels"]["correct"]["truly_correct"] == 2 + 0 + 1
    assert report["labels"]["correct"]["judged"] == 2 + 4 + 2
    assert report["labels_usable"]["correct"]["judged"] == 2 + 2  # "all equal" is not a usable split


def test_pair_precision_and_recall(tmp_path):
    records = [is_odd("p1"), is_odd("p2"), is_odd("p3"), is_odd("p4")]
    pairs = [
        {"problem_id": "p1", "chosen_id": "c0", "rejected_id": "c1"},  # right
        {"problem_id": "p1", "chosen_id": "c2", "rejected_id": "c3"},  # right
        {"problem_id": "p2", "chosen_id": "c1", "rejected_id": "c0"},  # reversed
        {"problem_id": "p3", "chosen_id": "c3", "rejected_id": "c1"},  # both wrong
        {"problem_id": "p3", "chosen_id": "c0", "rejected_id": "c2"},  # both right
        {"problem_id": "gone", "chosen_id": "c0", "rejected_id": "c1"},  # no audited record: not judged
    ]
    write_records(tmp_path / "ranked.jsonl", records)
    write_records(tmp_path / "pairs.jsonl", pairs)
    out, stderr = run_ok(tmp_path / "ranked.jsonl", "--pairs", tmp_path / "pairs.jsonl", "--report", tmp_path / "r.json")
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["pairs"] == {
        "built": 6, "right": 2, "both_wrong": 1, "reversed": 1, "both_right": 1, "not_judged": 1, "precision": 0.4,
        "mixed": 4, "mixed_with_pair": 3, "mixed_with_right_pair": 1, "recall": 0.75, "right_recall": 0.25,
    }
    assert report["benchmark"] == "record" and report["pairs_file"] == str(tmp_path / "pairs.jsonl")
    assert label_report(out, pairs)["pairs"] == report["pairs"]  # the API gives the same numbers
    line = next(line for line in stderr.splitlines() if line.startswith("fdpo audit:"))
    assert "pair precision: 2/5 (40.0%)" in line and "mixed problems with a right pair: 1/4 (25.0%)" in line
    assert "pair precision" in stderr.split(line, 1)[1]  # the table follows the line


# --- benchmarks ------------------------------------------------------------------------------

def tiny_demo(n: int = 3) -> list[dict]:
    return read_records(DATA / "tiny_demo.jsonl")[:n]


def test_a_benchmark_file_matched_by_task_id_else_id(tmp_path):
    p0, p1, _ = tiny_demo()
    right0 = p0["prompt"] + p0["canonical_solution"]
    wrong0 = right0.replace("x <= 8", "x < 8")
    records = [
        {"id": "mine/0", "task_id": p0["task_id"], "candidates": [{"id": "a", "code": right0}, {"id": "b", "code": wrong0}]},
        {"id": p1["task_id"], "candidates": [{"id": "a", "code": p1["prompt"] + "    return 0\n"}]},  # by id
        {"id": "elsewhere", "task_id": "Nope/1", "candidates": [{"id": "a", "code": right0}]},
    ]
    write_records(tmp_path / "in.jsonl", records)
    out, _ = run_ok(tmp_path / "in.jsonl", "-b", DATA / "tiny_demo.jsonl")
    assert [r["audit"]["truth"] for r in out] == [[True, False], [False], None]
    assert [r["audit"]["task_id"] for r in out] == [p0["task_id"], p1["task_id"], None]
    assert out[0]["audit"]["benchmark"] == "tiny_demo"
    assert "is not in tiny_demo" in out[2]["audit"]["reason"]


def test_an_unknown_benchmark_and_a_malformed_line_exit_1(tmp_path):
    result = audit(tmp_path / "x.jsonl", "-b", "nonsense")
    assert result.exit_code == 1 and "unknown benchmark 'nonsense'" in result.stderr
    (tmp_path / "bad.jsonl").write_text(json.dumps(is_odd()) + "\n{not json\n")
    result = audit(tmp_path / "bad.jsonl")
    assert result.exit_code == 1
    assert "fdpo audit: error: line 2:" in result.stderr
    (tmp_path / "pairs.jsonl").write_text('{"problem_id": "odd"}\n')
    result = audit(tmp_path / "bad.jsonl", "--pairs", tmp_path / "pairs.jsonl")
    assert result.exit_code == 1 and "pair 1" in result.stderr


def evalplus_rows(data_dir: Path, name: str) -> dict[str, dict]:
    return {r["task_id"]: r for r in map(json.loads, gzip.open(data_dir / f"{name}.jsonl.gz", "rt"))}


def base_only(row: dict) -> str:
    """Right on exactly HumanEval/0's base inputs, wrong elsewhere: passes the base tests, fails HumanEval+."""
    right = row["prompt"] + row["canonical_solution"]
    return right.replace("def has_close_elements(", "def _right(") + (
        f"\nBASE = {row['base_input']!r}\n\n"
        "def has_close_elements(numbers, threshold):\n"
        "    answer = _right(numbers, threshold)\n"
        "    return answer if [numbers, threshold] in BASE else not answer\n"
    )


def test_humaneval_plus_truth_needs_the_extra_tests_and_agrees_with_fdpo_eval(tmp_path, data_dir, fdpo_exe):
    he0 = evalplus_rows(data_dir, "HumanEvalPlus")["HumanEval/0"]
    right = he0["prompt"] + he0["canonical_solution"]
    codes = [right, base_only(he0), right.replace("< threshold", "<= threshold"), he0["prompt"] + "    return True\n"]
    record = {"id": "HumanEval/0", "candidates": [{"id": f"c{i}", "code": c} for i, c in enumerate(codes)]}
    (out,) = judge_records([record], "humaneval+", jobs=2)
    assert out["audit"]["benchmark"] == "humaneval+"
    truth = out["audit"]["truth"]
    assert truth[:2] == [True, False] and truth[3] is False
    # The same programs through `fdpo eval --samples`: audit's truth is eval's plus_passed.
    write_records(tmp_path / "s.jsonl", [{"task_id": "HumanEval/0", "solution": c} for c in codes])
    done = subprocess.run(fdpo_exe + ["eval", "-b", "humaneval+", "--samples", str(tmp_path / "s.jsonl"), "--partial",
                                      "--k", "1"], capture_output=True, text=True, timeout=600, env=os.environ.copy())
    assert done.returncode == 0, done.stderr[-2000:]
    (scored,) = map(json.loads, done.stdout.splitlines())
    assert truth == [s["plus_passed"] for s in scored["samples"]]
    # The base-only candidate passes `humaneval` (the original check program): the benchmark decides.
    (base,) = judge_records([record], "humaneval", jobs=2)
    assert base["audit"]["truth"][:2] == [True, True]


def test_evalplus_fields_in_the_record_are_hidden_tests_without_a_benchmark(data_dir):
    he0 = evalplus_rows(data_dir, "HumanEvalPlus")["HumanEval/0"]
    right = he0["prompt"] + he0["canonical_solution"]
    fields = {k: he0[k] for k in ("task_id", "prompt", "entry_point", "canonical_solution", "base_input", "plus_input",
                                  "atol")}
    record = {**fields, "id": "he0", "candidates": [{"id": "a", "code": right}, {"id": "b", "code": base_only(he0)}]}
    (out,) = judge_records([record], jobs=2)
    assert out["audit"]["benchmark"] == "record"
    assert out["audit"]["truth"] == [True, False]


def test_mbpp_plus(data_dir):
    row = evalplus_rows(data_dir, "MbppPlus")["Mbpp/2"]
    right = row["prompt"] + row["canonical_solution"]  # MBPP+'s prompt is a docstring: together, a program
    record = {"id": "x", "task_id": "Mbpp/2", "candidates": [
        {"id": "a", "code": right},
        {"id": "b", "code": f"def {row['entry_point']}(a, b):\n    return tuple(a)\n"},
    ]}
    (out,) = judge_records([record], "mbpp+", jobs=2)
    assert out["audit"]["truth"] == [True, False]


# --- a real execute → rank → locate run ------------------------------------------------------

def hidden_pass(problem: dict, program: str) -> bool:
    """An independent judge: the program and the problem's check, in a plain interpreter."""
    source = f"{program}\n{problem['test']}\ncheck({problem['entry_point']})\n"
    return subprocess.run([sys.executable, "-c", source], capture_output=True, timeout=30).returncode == 0


def test_real_pipeline_labels_checked_against_the_hidden_tests(tmp_path, fdpo_exe):
    """Executed, ranked and located by the real stages; for TinyDemo/1 the model's tests side with a bug."""
    p0, p1, p2 = tiny_demo()

    def record(problem, bodies, tests):
        return {**problem,
                "candidates": [{"id": f"c{i}", "response": b, "code": problem["prompt"] + b} for i, b in enumerate(bodies)],
                "tests": [{"id": f"t{j}", "response": t, "code": t} for j, t in enumerate(tests)]}

    right0, right1, right2 = (p["canonical_solution"] for p in (p0, p1, p2))
    sampled = [
        record(p0, [right0, right0.replace("x <= 8", "x < 8"), right0],
               ["assert sum_at_most_8([4, 3, 14]) == 7", "assert sum_at_most_8([8]) == 8", "assert sum_at_most_8([]) == 0"]),
        # Two wrong tests agree with `x <= 0`, which counts zeros: rank prefers the bug.
        record(p1, [right1, right1.replace("x < 0", "x <= 0")],
               ["assert how_many_negative([0]) == 1", "assert how_many_negative([0, -1]) == 2",
                "assert how_many_negative([-1]) == 1"]),
        record(p2, [right2, right2.replace("== 1", "== 0")],
               ["assert filter_odd([1, 2]) == [1]", "assert filter_odd([4]) == []"]),
    ]
    write_records(tmp_path / "sampled.jsonl", sampled)
    done = _pipeline_and_audit(tmp_path, fdpo_exe, ["--no-examples"], ["--method", "codedpo"], ["--paper"])

    problems = {p["id"]: p for p in (p0, p1, p2)}
    audited = read_records(tmp_path / "audited.jsonl")
    truth = {r["id"]: dict(zip((c["id"] for c in r["candidates"]), r["audit"]["truth"])) for r in audited}
    for r in audited:  # the audit agrees with a plain interpreter
        for c in r["candidates"]:
            assert truth[r["id"]][c["id"]] == hidden_pass(problems[r["id"]], c["code"]), (r["id"], c["id"])
    kinds = {"right": 0, "both_wrong": 0, "reversed": 0, "both_right": 0}
    for pair in read_records(tmp_path / "pairs.jsonl"):
        verdict = (truth[pair["problem_id"]][pair["chosen_id"]], truth[pair["problem_id"]][pair["rejected_id"]])
        kinds[{(True, False): "right", (False, False): "both_wrong", (True, True): "both_right"}.get(verdict, "reversed")] += 1
    report = json.loads((tmp_path / "r.json").read_text())
    assert {k: report["pairs"][k] for k in kinds} == kinds
    assert kinds["reversed"] >= 1  # TinyDemo/1's labels are upside down ...
    assert report["pairs"]["precision"] < 1.0  # ... and that lowers the precision
    assert report["labels"]["correct"]["precision"] < 1.0
    assert report["problems"]["mixed"] == 3
    assert f"pair precision: {kinds['right']}/{sum(kinds.values())}" in done.stderr

    # The default labels (behaviour groups + the prompt's examples) build no reversed pair; records where
    # one candidate stands against one other are too close to call and give none.
    _pipeline_and_audit(tmp_path, fdpo_exe, [], [], [])
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["pairs"]["reversed"] == 0 and report["pairs"]["right"] >= 1 and report["pairs"]["precision"] == 1.0


def _pipeline_and_audit(tmp_path, fdpo_exe, execute_flags, rank_flags, locate_flags):
    """sampled.jsonl → execute → rank → locate, then audit of the ranked records and pairs (r.json)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    fdpo = " ".join(fdpo_exe)
    pipeline = (f"{fdpo} execute {tmp_path / 'sampled.jsonl'} --jobs 2 {' '.join(execute_flags)} "
                f"| {fdpo} rank {' '.join(rank_flags)} | tee {tmp_path / 'ranked.jsonl'} "
                f"| {fdpo} locate --pairs-per-problem 2 {' '.join(locate_flags)} > {tmp_path / 'pairs.jsonl'}")
    subprocess.run(pipeline, shell=True, check=True, capture_output=True, timeout=600, env=env)
    done = subprocess.run(fdpo_exe + ["audit", str(tmp_path / "ranked.jsonl"), "-b", str(DATA / "tiny_demo.jsonl"),
                                      "--pairs", str(tmp_path / "pairs.jsonl"), "--report", str(tmp_path / "r.json"),
                                      "--jobs", "2", "-o", str(tmp_path / "audited.jsonl"), "--rejudge"],
                          capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    return done
