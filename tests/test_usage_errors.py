"""Usage errors are usage errors: every flag value that can be checked without a model is
checked while the command line is parsed, and a bad one exits 2 with one line naming the flag.

The commands are pointed at inputs and models that do not exist, so a check that is
missing shows up as a different failure (exit 1), never as a model load.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from typer.testing import CliRunner

from fdpo.cli import app

SAMPLE = ["sample", "-m", "/nonexistent/model"]
SYNTH = ["synth", "/nonexistent/src", "--seeds-only"]
EVAL = ["eval", "-b", "humaneval", "--samples", "/nonexistent/samples.jsonl"]
TRAIN = ["train", "/nonexistent/pairs.jsonl", "-m", "/nonexistent/model", "-O", "/nonexistent/out"]
EXECUTE = ["execute", "/nonexistent/sampled.jsonl"]
DEMO = ["demo", "--out", "/nonexistent/demo", "-m", "/nonexistent/model"]
LOCATE = ["locate", "/nonexistent/ranked.jsonl"]

CASES = [
    (LOCATE, "--lambda", "nan"),
    (LOCATE, "--lambda", "-1"),
    (LOCATE, "--min-confidence", "nan"),
    (LOCATE, "--min-confidence", "1.5"),
    (SAMPLE, "--temperature", "nan"),
    (SAMPLE, "--temperature", "-1"),
    (SAMPLE, "--top-p", "0"),
    (SAMPLE, "--top-p", "5"),
    (SAMPLE, "--n-code", "0"),
    (SAMPLE, "--n-tests", "-3"),
    (SAMPLE, "--max-tokens", "0"),
    (SAMPLE, "--batch-size", "0"),
    (SAMPLE, "--max-tests", "-1"),
    (SAMPLE, "--dtype", "nonsense"),
    (SAMPLE, "--backend", "nonsense"),
    (SAMPLE, "--style", "nonsense"),
    (SAMPLE, "--concurrency", "0"),
    (SYNTH, "--temperature", "inf"),
    (SYNTH, "--max-tokens", "0"),
    (SYNTH, "--batch-size", "0"),
    (SYNTH, "--jobs", "0"),
    (SYNTH, "--dedup-threshold", "nan"),
    (SYNTH, "--dtype", "nonsense"),
    (SYNTH, "--backend", "nonsense"),
    (SYNTH, "--style", "nonsense"),
    (EVAL, "--k", "0"),
    (EVAL, "--k", "abc"),
    (EVAL, "--n", "0"),
    (EVAL, "--jobs", "0"),
    (EVAL, "--limit", "0"),
    (EVAL, "--temperature", "nan"),
    (EVAL, "--top-p", "0"),
    (EVAL, "--max-tokens", "0"),
    (EVAL, "--batch-size", "0"),
    (EVAL, "--dtype", "nonsense"),
    (EVAL, "--backend", "nonsense"),
    (EVAL, "--style", "nonsense"),
    (EVAL, "--memory-mb", "1"),
    (EVAL, "--min-time-limit", "inf"),
    (EVAL, "--time-factor", "0"),
    (TRAIN, "--beta", "-1"),
    (TRAIN, "--beta", "nan"),
    (TRAIN, "--lr", "nan"),
    (TRAIN, "--lr", "0"),
    (TRAIN, "--epochs", "0"),
    (TRAIN, "--epochs", "-1"),
    (TRAIN, "--max-steps", "-1"),
    (TRAIN, "--batch-size", "0"),
    (TRAIN, "--grad-accum", "0"),
    (TRAIN, "--max-length", "1"),
    (TRAIN, "--warmup-ratio", "1"),
    (TRAIN, "--w-focused", "nan"),
    (TRAIN, "--save-steps", "-1"),
    (TRAIN, "--lora-r", "0"),
    (EXECUTE, "--timeout", "inf"),
    (EXECUTE, "--timeout", "nan"),
    (EXECUTE, "--timeout", "0"),
    (EXECUTE, "--timeout", "1e9"),
    (EXECUTE, "--jobs", "0"),
    (EXECUTE, "--memory", "1"),
    (DEMO, "--epochs", "0"),
    (DEMO, "--max-tokens", "0"),
    (DEMO, "--pairs-per-problem", "0"),
]


@pytest.mark.parametrize(("base", "flag", "value"), CASES, ids=[f"{b[0]} {f} {v}" for b, f, v in CASES])
def test_a_bad_flag_value_exits_2_with_one_line_naming_the_flag(base, flag, value):
    result = CliRunner().invoke(app, [*base, flag, value], input="")
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"fdpo {base[0]}: error: ") and flag in lines[0], lines[0]
    assert result.stdout == ""


def test_a_good_value_passes_the_same_checks():
    # The same flags with sane values get past parsing: the missing input is what fails (exit 1).
    result = CliRunner().invoke(app, [*EXECUTE, "--timeout", "0.5", "--jobs", "1", "--memory", "512"])
    assert result.exit_code == 1 and "/nonexistent/sampled.jsonl" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["synth", "/nonexistent", "--max-problems", "3"], "give --model to write problems, or --seeds-only"),
        (["synth", "/nonexistent", "--seeds-only", "--min-lines", "9", "--max-lines", "4"],
         "--min-lines 9 is more than --max-lines 4"),
        (["eval", "--samples", "x.jsonl"], "--benchmark is required"),
        (["eval", "-b", "humaneval"], "give either --model"),
        (["eval", "--compare"], "--compare needs report files"),
        (["sample", "--no-such-flag"], "No such option: --no-such-flag"),
    ],
)
def test_flags_that_conflict_are_usage_errors_too(args, message):
    result = CliRunner().invoke(app, args, input="")
    assert result.exit_code == 2, result.output
    assert result.stderr.strip().count("\n") == 0 and message in result.stderr, result.stderr


def test_usage_errors_come_before_any_heavy_import():
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from fdpo.cli import app\n"
        "runs = [['sample', '-m', 'builtin:tiny-coder', '--temperature', 'nan'],\n"
        "        ['eval', '-b', 'humaneval', '-m', 'builtin:tiny-coder', '--jobs', '0'],\n"
        "        ['train', 'p.jsonl', '-m', 'builtin:tiny-coder', '-O', 'o', '--epochs', '0'],\n"
        "        ['execute', '--timeout', 'inf']]\n"
        "codes = [CliRunner().invoke(app, r, input='').exit_code for r in runs]\n"
        "heavy = [m for m in ('torch', 'transformers', 'vllm', 'accelerate') if m in sys.modules]\n"
        "print(codes, heavy)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "[2, 2, 2, 2] []", done.stdout + done.stderr
