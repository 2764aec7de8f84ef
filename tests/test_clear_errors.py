"""Clear one-line errors instead of raw exceptions: missing or empty model folders, hub names
that cannot be had offline, bad --config YAML, bad --samples lines, records whose ranking
names candidates they do not have, source files that do not parse, pairs without a difference.
"""

from __future__ import annotations

import json
import time

import pytest
from typer.testing import CliRunner

from fdpo.cli import app
from fdpo.errors import FdpoError


def invoke(*args, input: str = ""):
    return CliRunner().invoke(app, [str(a) for a in args], input=input)


def one_line_error(result, command: str, code: int = 1) -> str:
    assert result.exit_code == code, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"fdpo {command}: error: "), lines[0]
    return lines[0]


# --- models ----------------------------------------------------------------------------------


@pytest.fixture
def empty_folder(tmp_path):
    folder = tmp_path / "empty-model"
    folder.mkdir()
    return folder


@pytest.mark.parametrize("command", ["sample", "synth", "eval", "train", "demo"])
def test_a_missing_or_empty_model_folder_is_one_line(tmp_path, empty_folder, command):
    base = {
        "sample": ["sample"],
        "synth": ["synth", tmp_path],
        "eval": ["eval", "-b", "humaneval"],
        "train": ["train", tmp_path / "pairs.jsonl", "-O", tmp_path / "out"],
        "demo": ["demo", "--out", tmp_path / "demo"],
    }[command]
    line = one_line_error(invoke(*base, "-m", "./no-such-model"), command)
    assert "./no-such-model: no such folder" in line and "Repo id" not in line
    line = one_line_error(invoke(*base, "-m", empty_folder), command)
    assert f"{empty_folder}: not a Hugging Face model folder (it is empty)" in line


def test_a_hub_name_fails_at_once_offline():
    from fdpo.models import find_model

    start = time.perf_counter()
    with pytest.raises(FdpoError, match="not in the Hugging Face cache while HF_HUB_OFFLINE is set.*hf download"):
        find_model("bogus-org/no-such-model")  # conftest sets HF_HUB_OFFLINE=1
    assert time.perf_counter() - start < 5


def test_an_unreachable_hub_is_one_request_not_a_minute_of_retries(monkeypatch):
    import huggingface_hub

    from fdpo import models

    calls = []

    def no_network(self, repo, timeout=None, **kwargs):
        calls.append(timeout)
        raise ConnectionError("Name or service not known")

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(huggingface_hub.HfApi, "model_info", no_network)
    with pytest.raises(FdpoError, match="Hub cannot be reached .*check the network, give a local folder"):
        models.find_model("bogus-org/no-such-model", "tokenizer")
    assert calls == [models.HUB_TIMEOUT]


def test_locate_with_an_unknown_tokenizer_offline_is_quick_and_says_what_to_do(tmp_path):
    start = time.perf_counter()
    line = one_line_error(invoke("locate", "-", "--tokenizer", "bogus-org/name"), "locate")
    assert time.perf_counter() - start < 10
    assert "cannot load tokenizer bogus-org/name" in line and "hf download bogus-org/name" in line


# --- train --config ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("beta: [1, 2\nlr: 3\n", "invalid YAML at line 2, column 3: expected ',' or ']'"),
        ("beta: 0.1\n  lr: : x\n", "invalid YAML at line 2, column 5: mapping values are not allowed here"),
        ("beta: -2\n", "--beta must be a finite number > 0, got -2 (in "),
    ],
)
def test_a_bad_config_file_is_one_line(tmp_path, text, message):
    config = tmp_path / "train.yaml"
    config.write_text(text)
    result = invoke("train", tmp_path / "pairs.jsonl", "-m", "builtin:tiny-coder", "-O", tmp_path / "out",
                    "--config", config)
    assert message in one_line_error(result, "train")


# --- eval --samples ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x7fELF\x02\x01\x01\x00\xff\xfe\n", "line 1: invalid JSON"),
        (b'{"task_id": "HumanEval/0", "completion": "    return 1\\n"}\n\n[1, 2]\n', "line 3: expected a JSON object, got list"),
        (b'{"task_id": "HumanEval/0", "completion": "    return 1\\n"}\n{"task_id": "HumanEval/1"}\n',
         "line 2: expected {task_id, completion}"),
    ],
)
def test_bad_samples_lines_are_reported_with_their_number(tmp_path, content, message):
    samples = tmp_path / "samples.jsonl"
    samples.write_bytes(content)
    line = one_line_error(invoke("eval", "-b", "humaneval", "--samples", samples), "eval")
    assert f"{samples}: {message}" in line


# --- locate ----------------------------------------------------------------------------------


def ranked(rid: str, candidates: list, ranking: dict) -> dict:
    base = {"code_scores": [1.0, 0.5], "correct": ["c0"], "incorrect": ["c1"], "confidence": 1.0}
    return {"id": rid, "prompt": "def f():\n", "candidates": candidates, "ranking": {**base, **ranking}}


def test_locate_says_what_is_wrong_with_a_record():
    good = [{"id": "c0", "response": "    return 1\n"}, {"id": "c1", "response": "    return 2\n"}]
    records = [
        ranked("unknown-id", good, {"incorrect": ["zzz"]}),
        ranked("no-response", [good[0], {"id": "c1"}], {}),
        ranked("short-scores", good, {"code_scores": [1.0]}),
        ranked("fine", good, {}),
    ]
    result = invoke("locate", "-", input="".join(json.dumps(r) + "\n" for r in records))
    assert result.exit_code == 0, result.output
    err = " ".join(result.stderr.split())
    assert "record 'unknown-id': the ranking names candidate 'zzz', which is not among the record's candidates ('c0', 'c1')" in err
    assert "record 'no-response': candidate 'c1' has no 'response' text" in err
    assert "record 'short-scores': ranking.code_scores has 1 scores for the record's 2 candidates" in err
    assert "KeyError" not in err and "IndexError" not in err
    assert [json.loads(line)["problem_id"] for line in result.stdout.splitlines()] == ["fine"]


# --- synth -----------------------------------------------------------------------------------


def test_synth_counts_a_file_with_a_syntax_error_as_unparseable(tmp_path):
    body = '    """Add."""\n    c = a + b\n    d = c * 2\n    e = d - 1\n    return e\n'
    (tmp_path / "good.py").write_text("def good(a, b):\n" + body)
    (tmp_path / "broken.py").write_text("def broken(a, b:\n    return [\n\ndef other(a, b):\n" + body)
    result = invoke("synth", tmp_path, "--seeds-only")
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["name"] for line in result.stdout.splitlines()] == ["good"]
    assert "unparseable files 1" in " ".join(result.stderr.split())
    assert "Traceback" not in result.output


# --- train: pairs without a difference ---------------------------------------------------------


def test_pairs_with_chosen_equal_to_rejected_are_left_out():
    from fdpo.training.data import Pair, drop_identical

    pairs = [Pair(1, "p", "a", "b", None), Pair(2, "p", "same", "same", None), Pair(3, "p", "x", "y", None)]
    kept, same = drop_identical(pairs)
    assert [p.lineno for p in kept] == [1, 3] and same == 1


def test_train_warns_with_a_count_and_skips_identical_pairs(tmp_path, tiny_model_dir):
    import torch
    from test_train_data import make_pairs, write_pairs

    torch.set_num_threads(1)
    pairs = make_pairs(3)
    same = [{**p, "id": f"same{i}", "rejected": p["chosen"]} for i, p in enumerate(pairs[:2])]
    path = write_pairs(tmp_path / "pairs.jsonl", pairs + same)
    result = invoke("train", path, "-m", tiny_model_dir, "-O", tmp_path / "out", "--max-steps", "1", "--batch-size", "3",
                    "--grad-accum", "1")
    assert result.exit_code == 0, result.output
    assert "2 training pairs with chosen equal to rejected were skipped" in " ".join(result.stderr.split())
    assert json.loads(result.stdout)["steps"] == 1

    only_same = write_pairs(tmp_path / "same.jsonl", same)
    line = one_line_error(invoke("train", only_same, "-m", tiny_model_dir, "-O", tmp_path / "out2", "--max-steps", "1"),
                          "train")
    assert "every training pair has chosen equal to rejected: nothing to train on" in line
