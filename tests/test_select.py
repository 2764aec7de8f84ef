"""fdpo select: global ranking by Diff, the per-problem cap, the split by problem, and the command."""

from __future__ import annotations

import os
import random
import subprocess

import orjson
import pytest
from typer.testing import CliRunner

from fdpo.cli import app
from fdpo.ranking.scoring import rank_record
from fdpo.selection import BELOW_CUT, ERROR, NO_DIFF, NOT_WHOLE, OVER_CAP, diff_value, problem_key, select


def pair(pid: str, value, k: int = 0, **extra) -> dict:
    """A pair record as `fdpo locate` writes it (texts shortened)."""
    return {
        "id": f"{pid}:c{k}>c9",
        "problem_id": pid,
        "prompt": f"Write {pid}.\n",
        "chosen": "return 1\n",
        "rejected": "return 2\n",
        "diff": {"value": value, "rank_gap": 1.0, "shared": 0.5, "lambda": 1.0},
        **extra,
    }


def many(problems: int, per_problem: int = 1, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    return [pair(f"p{p}", round(rng.uniform(0, 2), 5), k) for p in range(problems) for k in range(per_problem)]


def ids(records) -> list[str]:
    return [r["id"] for r in records]


def problems(records) -> set[str]:
    return {r["problem_id"] for r in records}


# --- the logic -------------------------------------------------------------------


def test_keeps_the_best_by_diff_highest_first():
    records = [pair(f"p{i}", v) for i, v in enumerate([0.5, 1.9, 0.1, 1.2, 1.5, 0.7])]
    out = select(records, 4, 0)
    assert [r["diff"]["value"] for r in out.train] == [1.9, 1.5, 1.2, 0.7]
    assert [r["select"]["rank"] for r in out.train] == [1, 2, 3, 4]
    assert all(r["select"]["split"] == "train" for r in out.train)
    assert out.left_out == {BELOW_CUT: 2} and out.val == []
    # Every other field travels unchanged.
    assert {k: v for k, v in out.train[0].items() if k != "select"} == records[1]


def test_ties_keep_input_order():
    records = [pair(f"p{i}", 1.0) for i in range(5)] + [pair("top", 2.0)]
    out = select(records, 4, 0)
    assert ids(out.train) == ["top:c0>c9", "p0:c0>c9", "p1:c0>c9", "p2:c0>c9"]


@pytest.mark.parametrize("value", [None, "1.5", True, [1.0], float("nan"), float("inf")])
def test_a_diff_value_must_be_a_finite_number(value):
    assert diff_value(pair("p", value)) is None
    assert diff_value({"diff": 3}) is None and diff_value({}) is None
    assert diff_value(pair("p", 2)) == 2.0


def test_errors_and_missing_diffs_are_counted_not_selected():
    records = [pair("a", 1.0), {**pair("b", 9.0), "error": "ValueError: x"}, {"id": "c", "problem_id": "c"}, pair("d", "high")]
    out = select(records, 10, 0)
    assert ids(out.train) == ["a:c0>c9"]
    assert out.left_out == {ERROR: 1, NO_DIFF: 2} and out.selectable == 1


def test_no_problem_is_on_both_sides():
    records = many(200, per_problem=3)
    random.Random(1).shuffle(records)
    out = select(records, 300, 150)
    assert len(out.train) == 300 and len(out.val) == 150
    assert not problems(out.train) & problems(out.val)
    assert out.val_problems == len(problems(out.val)) and out.train_problems == len(problems(out.train))
    assert all(r["select"]["split"] == "val" for r in out.val)
    # Together they are exactly the best 450 pairs.
    best = sorted(records, key=lambda r: -r["diff"]["value"])[:450]
    assert sorted(ids(out.train + out.val)) == sorted(ids(best))


def test_validation_is_drawn_across_the_diff_range_not_from_one_end():
    out = select(many(600), 400, 200)
    train_values = [r["diff"]["value"] for r in out.train]
    val_values = [r["diff"]["value"] for r in out.val]
    # Neither the top nor the bottom slice: validation spans the range training spans.
    assert min(val_values) < sorted(train_values)[40] and max(val_values) > sorted(train_values)[-40]
    mean = lambda xs: sum(xs) / len(xs)  # noqa: E731
    assert abs(mean(val_values) - mean(train_values)) < 0.1


def test_the_split_is_deterministic_and_follows_the_seed():
    records = many(100, per_problem=2)
    first = select(records, 120, 40, seed=0)
    assert ids(select(records, 120, 40, seed=0).val) == ids(first.val)
    assert problems(select(records, 120, 40, seed=7).val) != problems(first.val)
    # A problem's side depends on its id and the seed, not on where it sits in the input.
    shuffled = records[:]
    random.Random(5).shuffle(shuffled)
    assert problems(select(shuffled, 160, 40, seed=3).val) == problems(select(records, 160, 40, seed=3).val)


def test_max_per_problem_keeps_each_problems_best():
    records = [pair("big", v, k) for k, v in enumerate([1.9, 1.8, 1.7, 1.6])] + [pair("a", 1.0), pair("b", 0.5)]
    out = select(records, 10, 0, max_per_problem=2)
    assert ids(out.train) == ["big:c0>c9", "big:c1>c9", "a:c0>c9", "b:c0>c9"]
    assert out.left_out == {OVER_CAP: 2}
    assert len(select(records, 10, 0).train) == 6  # no cap by default


def test_fewer_pairs_than_asked_keep_the_ratio():
    out = select(many(60), 100, 20)
    assert (out.train_target, out.val_target) == (50, 10)
    assert len(out.train) == 50 and len(out.val) == 10 and out.pool == 60


def test_a_short_validation_side_leaves_train_at_its_size():
    # Three problems of three pairs: 4 validation pairs cannot be made of whole problems.
    records = [pair(p, 1.0 + i / 10, k) for i, p in enumerate("abc") for k in range(3)]
    out = select(records, 5, 4)
    assert len(out.val) == 3 and len(out.train) == 5
    assert out.left_out == {NOT_WHOLE: 1}
    assert not problems(out.train) & problems(out.val)


def test_pairs_without_a_problem_id_are_grouped_by_prompt():
    a, b = pair("x", 1.0, 0), pair("x", 0.9, 1)
    for p in (a, b):
        del p["problem_id"]
    assert problem_key(a, 0) == problem_key(b, 1)
    out = select([a, b, pair("y", 0.8)], 1, 2, seed=0)
    assert len(out.train) == 1
    assert not {r["prompt"] for r in out.train} & {r["prompt"] for r in out.val}


# --- the command (CliRunner) -----------------------------------------------------


@pytest.fixture
def pairs_file(tmp_path):
    path = tmp_path / "pairs.jsonl"
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in many(50, per_problem=2)))
    return path


def invoke(*args: str):
    return CliRunner().invoke(app, ["select", *map(str, args)], env={"COLUMNS": "300"})


def read(path) -> list[dict]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def test_train_and_val_go_to_their_files(pairs_file, tmp_path):
    train, val = tmp_path / "train.jsonl", tmp_path / "val.jsonl"
    result = invoke(pairs_file, "--train", 30, "--val", 10, "-o", train, "--val-out", val)
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert len(read(train)) == 30 and len(read(val)) == 10
    assert not problems(read(train)) & problems(read(val))
    assert "100 read, 40 written; train: 30" in result.stderr and "val: 10" in result.stderr
    assert f"{BELOW_CUT}: 60" in result.stderr


def test_train_goes_to_stdout_without_o(pairs_file):
    result = invoke(pairs_file, "--train", 5, "--val", 0)
    assert result.exit_code == 0, result.output
    out = [orjson.loads(line) for line in result.stdout.splitlines()]
    assert [r["select"]["rank"] for r in out] == [1, 2, 3, 4, 5]


def test_val_needs_val_out(pairs_file, tmp_path):
    result = invoke(pairs_file, "--train", 5, "--val", 3)
    assert result.exit_code == 2
    expected = "fdpo select: error: --val 3 needs --val-out FILE for the validation pairs (or --val 0 for none)"
    assert result.stderr.strip() == expected
    assert result.stdout == ""
    same = tmp_path / "same.jsonl"
    assert invoke(pairs_file, "-o", same, "--val-out", same).exit_code == 2
    assert invoke(pairs_file, "--val-out", "-").exit_code == 2
    assert invoke(pairs_file, "--train", 0, "--val", 0).exit_code == 2


def test_the_defaults_are_the_papers_5000_and_1000(tmp_path):
    path = tmp_path / "pairs.jsonl"
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in many(7000)))
    val = tmp_path / "val.jsonl"
    result = invoke(path, "-o", tmp_path / "train.jsonl", "--val-out", val)
    assert result.exit_code == 0, result.output
    assert len(read(tmp_path / "train.jsonl")) == 5000 and len(read(val)) == 1000


def test_val_zero_writes_an_empty_val_out(pairs_file, tmp_path):
    val = tmp_path / "val.jsonl"
    result = invoke(pairs_file, "--train", 3, "--val", 0, "--val-out", val)
    assert result.exit_code == 0, result.output
    assert val.read_bytes() == b""


def test_max_per_problem_flag(pairs_file):
    result = invoke(pairs_file, "--train", 100, "--val", 0, "--max-per-problem", 1)
    assert result.exit_code == 0, result.output
    out = [orjson.loads(line) for line in result.stdout.splitlines()]
    assert len(out) == 50 and len(problems(out)) == 50
    assert f"{OVER_CAP}: 50" in result.stderr
    assert invoke(pairs_file, "--max-per-problem", 0).exit_code == 2


def test_seed_flag(pairs_file, tmp_path):
    runs = {}
    for name, seed in {"a": 0, "b": 0, "c": 1}.items():
        val = tmp_path / f"val-{name}.jsonl"
        result = invoke(pairs_file, "--train", 40, "--val", 20, "--val-out", val, "--seed", seed)
        assert result.exit_code == 0, result.output
        runs[name] = (result.stdout, val.read_bytes())
    assert runs["a"] == runs["b"]
    assert runs["a"][1] != runs["c"][1]


def test_fewer_pairs_warn_with_the_numbers(pairs_file, tmp_path):
    val = tmp_path / "val.jsonl"
    result = invoke(pairs_file, "--train", 100, "--val", 25, "--val-out", val)
    assert result.exit_code == 0, result.output
    assert "only 100 pairs to select from for --train 100 --val 25: keeping 80 train / 20 validation pairs" in result.stderr
    assert len(result.stdout.splitlines()) == 80 and len(read(val)) == 20


def test_errors_and_missing_diffs_are_counted_in_the_summary(tmp_path):
    path = tmp_path / "pairs.jsonl"
    records = [pair("a", 1.0), {**pair("b", 2.0), "error": "boom"}, {"id": "c", "problem_id": "c", "diff": {}}]
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    result = invoke(path, "--val", 0)
    assert result.exit_code == 0, result.output
    assert ids(orjson.loads(line) for line in result.stdout.splitlines()) == ["a:c0>c9"]
    assert "3 read, 1 written" in result.stderr
    assert f"{ERROR}: 1" in result.stderr and f"{NO_DIFF}: 1" in result.stderr


def test_a_malformed_line_stops_with_its_number_unless_skipped(tmp_path):
    path = tmp_path / "pairs.jsonl"
    path.write_bytes(orjson.dumps(pair("a", 1.0)) + b"\n{not json\n" + orjson.dumps(pair("b", 2.0)) + b"\n")
    result = invoke(path, "--val", 0)
    assert result.exit_code == 1
    assert "fdpo select: error: line 2: invalid JSON" in result.stderr
    result = invoke(path, "--val", 0, "--skip-invalid")
    assert result.exit_code == 0, result.output
    assert ids(orjson.loads(line) for line in result.stdout.splitlines()) == ["b:c0>c9", "a:c0>c9"]
    assert "1 invalid lines skipped (2)" in result.stderr


# --- real processes, real pipes ----------------------------------------------------


def _ranked(pid: str, wrong: list[str]) -> dict:
    """A ranked record: one correct completion and several wrong ones, each a one-token edit."""
    responses = ["    return x + 1\n", *wrong]
    rows = ["PP"] + ["PF"] * len(wrong)
    record = {
        "id": pid,
        "prompt": "def f(x):\n",
        "candidates": [{"id": f"c{i}", "response": r, "code": "def f(x):\n" + r} for i, r in enumerate(responses)],
        "tests": [{"id": f"t{j}", "response": "", "code": ""} for j in range(2)],
        "execution": {
            "outcomes": [["pass" if ch == "P" else "fail" for ch in row] for row in rows],
            "load": ["ok"] * len(rows),
        },
    }
    out = rank_record(record, "codedpo")
    del out["ranking"]["confidence"]  # read as 1.0: every record gives pairs
    return out


def test_locate_pipes_into_select(fdpo_exe, tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONUNBUFFERED", "FDPO_DEBUG")}
    wrong = ["    return x - 1\n", "    return x + 2\n", "    return y + 1\n", "    return 0\n"]
    ranked = [_ranked(f"p{i}", wrong[: 1 + i % 4]) for i in range(12)]
    val = tmp_path / "val.jsonl"
    pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "env": env}
    locate = subprocess.Popen(fdpo_exe + ["locate", "--pairs-per-problem", "4"], stdin=subprocess.PIPE, **pipes)
    select_ = subprocess.Popen(
        fdpo_exe + ["select", "-", "--train", "12", "--val", "4", "--val-out", str(val), "--max-per-problem", "2"],
        stdin=locate.stdout,
        **pipes,
    )
    locate.stdout.close()  # select owns the pipe now
    locate.stdin.write(b"".join(orjson.dumps(r) + b"\n" for r in ranked))
    locate.stdin.close()
    out, err = select_.communicate(timeout=120)
    assert locate.wait(timeout=60) == 0, locate.stderr.read().decode()
    assert select_.returncode == 0, err.decode()
    train = [orjson.loads(line) for line in out.splitlines()]
    held = read(val)
    assert len(train) == 12 and len(held) == 4
    assert not problems(train) & problems(held)
    everyone = train + held
    assert max(sum(r["problem_id"] == p for r in everyone) for p in problems(everyone)) <= 2
    values = [r["diff"]["value"] for r in train]
    assert values == sorted(values, reverse=True)
    # 30 pairs came through the pipe: 16 kept, the rest over the cap or below the cut.
    assert b"30 read, 16 written" in err and b"train: 12" in err and b"val: 4" in err
