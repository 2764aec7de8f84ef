"""`fdpo synth` as users run it: seeds from the stdlib, problems from a real (tiny, random) model."""

from __future__ import annotations

import json
import os
import subprocess
import sysconfig
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fdpo.cli import app

STDLIB = Path(sysconfig.get_paths()["stdlib"])

CORPUS = '''
import collections


def word_counts(lines):
    """Count the words of every line."""
    counts = collections.Counter()
    for line in lines:
        counts.update(line.split())
    return counts


def pairs(items):
    out = []
    for i, a in enumerate(items):
        for b in items[i + 1:]:
            out.append((a, b))
    return out


def flatten(nested):
    """Flatten nested lists."""
    if not isinstance(nested, list):
        return [nested]
    return [x for part in nested for x in flatten(part)]
'''


def invoke(*args: str):
    return CliRunner().invoke(app, ["synth", *args])


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture()
def corpus(tmp_path) -> Path:
    path = tmp_path / "corpus" / "small.py"
    path.parent.mkdir()
    path.write_text(CORPUS)
    return path.parent


def test_seeds_only_over_a_stdlib_package(tmp_path):
    out = tmp_path / "seeds.jsonl"
    result = invoke(str(STDLIB / "json"), "--seeds-only", "--max-problems", "6", "-o", str(out))
    assert result.exit_code == 0, result.output
    seeds = lines(out)
    assert len(seeds) == 6
    for seed in seeds:
        assert set(seed) >= {"id", "code", "concepts", "source"}
        assert seed["source"]["file"].startswith(str(STDLIB / "json"))
        assert seed["code"].lstrip().startswith(("def ", "async def ", "@"))
    assert "6 written" in result.stderr and "5 files" not in result.stdout


def test_the_first_seed_streams_out_and_a_closed_pipe_ends_quietly(fdpo_exe):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    proc = subprocess.Popen(fdpo_exe + ["synth", str(STDLIB), "--seeds-only"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env)
    try:
        first = json.loads(proc.stdout.readline())
        assert first["concepts"] and first["source"]["file"].startswith(str(STDLIB))
        assert proc.poll() is None  # the whole stdlib takes seconds; the first seed came before
        proc.stdout.close()
        assert proc.wait(timeout=60) != 0
        assert b"Traceback" not in proc.stderr.read()
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--max-problems", "3"], "give --model to write problems, or --seeds-only to write the seeds"),
        (["--seeds-only", "--model", "x"], "give --model to write problems, or --seeds-only to write the seeds"),
        (["--seeds-only", "--min-lines", "9", "--max-lines", "4"], "--min-lines 9 is more than --max-lines 4"),
    ],
)
def test_usage_mistakes_are_one_line_errors(corpus, args, message):
    result = invoke(str(corpus), *args)
    assert result.exit_code == 2
    assert result.stderr.strip() == f"fdpo synth: error: {message}"


def test_missing_paths_and_empty_folders(tmp_path):
    result = invoke(str(tmp_path / "nope"), "--seeds-only")
    assert result.exit_code == 1 and "no such file or folder" in result.stderr
    result = invoke(str(tmp_path), "--seeds-only")
    assert result.exit_code == 1 and "no Python files" in result.stderr


def test_a_template_without_placeholders_is_refused(corpus, tmp_path, tiny_model_dir):
    template = tmp_path / "t.txt"
    template.write_text("Write a problem.")
    result = invoke(str(corpus), "-m", str(tiny_model_dir), "--template", str(template))
    assert result.exit_code == 1 and "uses neither {code} nor {concepts}" in result.stderr


@pytest.mark.parametrize("style", ["chat", "completion"])
def test_a_random_model_gets_every_draft_counted(corpus, tmp_path, tiny_model_dir, style):
    out, rejects = tmp_path / "problems.jsonl", tmp_path / "rejects.jsonl"
    result = invoke(
        str(corpus), "-m", str(tiny_model_dir), "--backend", "transformers", "--style", style,
        "--max-tokens", "12", "--batch-size", "2", "--seed", "3",
        "-o", str(out), "--keep-rejects", str(rejects),
    )
    assert result.exit_code == 0, result.output
    problems, rejected = lines(out), lines(rejects)
    assert len(problems) + len(rejected) == 3  # every seed drafted once, none dropped silently
    summary = result.stderr.replace("\n", " ")
    assert "3 seeds; 3 drafted" in summary and f"{len(problems)} problems written" in summary
    reasons = Counter(r["reject"]["reason"] for r in rejected)
    for reason, count in reasons.items():
        assert f"{reason} {count}" in summary
    for r in rejected:
        assert r["source"]["file"].endswith("small.py") and isinstance(r["reply"], str)
        assert r["id"] == "synth/" + r["source"]["seed_hash"][:12]
    # The random model's reply really was checked: the reason matches what the reply holds.
    from fdpo.synth.problems import check_reply

    for r in rejected:
        assert check_reply(r["reply"], "", continued=style == "completion").reason == r["reject"]["reason"]
