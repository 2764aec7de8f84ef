"""`fdpo demo` end to end: real stage processes on the built-in model, on a slice of the bundled sets.

The full demo (330 problems, 154 held-out, 8 epochs) is what `make demo` runs; this runs the
same command on the first 10 demo problems and 14 evaluation problems with one epoch, and
checks every artifact, the summary, and the hidden-test check of the pairs against an
independent run of those tests.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from fdpo.jsonl import read_records, write_records

DATA = Path(__file__).resolve().parents[1] / "fdpo" / "data"


def head(source: Path, target: Path, n: int) -> Path:
    target.write_text("".join(source.read_text().splitlines(keepends=True)[:n]))
    return target


def passes(problem: dict, completion: str) -> bool:
    program = f"{problem['prompt']}{completion}\n{problem['test']}\ncheck({problem['entry_point']})\n"
    try:
        return subprocess.run([sys.executable, "-c", program], capture_output=True, timeout=10).returncode == 0
    except subprocess.TimeoutExpired:
        return False


@pytest.mark.slow
def test_demo_runs_every_stage_and_reports(tmp_path):
    problems = head(DATA / "tiny_demo.jsonl", tmp_path / "demo.jsonl", 10)
    eval_set = head(DATA / "tiny_eval.jsonl", tmp_path / "eval.jsonl", 14)
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "-m", "fdpo", "demo", "--out", str(out), "--problems", str(problems),
         "--eval-set", str(eval_set), "--epochs", "1", "--seed", "0"],
        capture_output=True, text=True, timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout == ""  # the stages' JSONL goes to files, the report to stderr

    for name in ("sampled", "executed", "ranked", "pairs", "eval-base", "eval-dpo", "eval-focused-dpo"):
        assert read_records(out / f"{name}.jsonl"), name
    for checkpoint in ("focused-dpo", "dpo"):
        assert (out / checkpoint / "model.safetensors").is_file()
    assert (out / "pass-at-1.png").read_bytes().startswith(b"\x89PNG")
    assert set(json.loads((out / "phi.json").read_text())["segments"]) >= {"prefix", "suffix"}

    summary = json.loads((out / "summary.json").read_text())
    pairs = read_records(out / "pairs.jsonl")
    assert summary["pairs"] == len(pairs) > 0
    assert set(summary["pass@1"]) == {"base", "DPO", "Focused-DPO"}
    assert all(0 <= v <= 1 for v in summary["pass@1"].values())
    assert list(summary["seconds"]) == ["sample", "execute", "rank", "locate", "check labels", "train Focused-DPO",
                                        "train DPO", "eval base", "eval DPO", "eval Focused-DPO", "compare"]
    for label in ("base", "DPO", "Focused-DPO"):
        assert label in done.stderr
    assert f"{len(pairs)} pairs built" in done.stderr

    by_id = {p["id"]: p for p in read_records(problems)}
    expected = {"right": 0, "both wrong": 0, "both right": 0, "reversed": 0}
    for pair in pairs:
        problem = by_id[pair["problem_id"]]
        verdict = (passes(problem, pair["chosen"]), passes(problem, pair["rejected"]))
        kind = {(True, False): "right", (False, False): "both wrong", (True, True): "both right"}.get(verdict, "reversed")
        expected[kind] += 1
    assert summary["pair labels"] == expected


@pytest.mark.slow
def test_demo_without_hidden_tests_skips_the_label_check(tmp_path):
    rows = read_records(DATA / "tiny_demo.jsonl")[:6]
    problems = tmp_path / "bare.jsonl"
    write_records(problems, [{k: r[k] for k in ("id", "prompt", "entry_point")} for r in rows])
    eval_set = head(DATA / "tiny_eval.jsonl", tmp_path / "eval.jsonl", 4)
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "-m", "fdpo", "demo", "--out", str(out), "--problems", str(problems),
         "--eval-set", str(eval_set), "--epochs", "1"],
        capture_output=True, text=True, timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["pair labels"] is None
    assert "check labels" not in summary["seconds"]
