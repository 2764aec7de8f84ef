"""The folder `fdpo train` writes opens unchanged in vLLM and decodes as transformers does."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
from test_train_cli import train_in_process
from test_train_data import make_pairs, write_pairs

PROMPT = 'def add0(a, b):\n    """Return a add b."""\n'

VLLM_SCRIPT = """
import json, sys
from vllm import LLM, SamplingParams

if __name__ == "__main__":
    llm = LLM(model=sys.argv[1], gpu_memory_utilization=0.3, max_model_len=256, seed=0, enforce_eager=True)
    [out] = llm.generate([sys.argv[2]], SamplingParams(max_tokens=8, temperature=0.0))
    print("TOKENS " + json.dumps(list(out.outputs[0].token_ids)))
"""


@pytest.mark.slow
def test_vllm_loads_the_trained_model_and_decodes_like_transformers(tiny_model_dir, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    pairs = write_pairs(tmp_path / "pairs.jsonl", make_pairs(4))
    out = tmp_path / "out"
    train_in_process(pairs, "-m", tiny_model_dir, "-O", out, "--batch-size", 2, "--grad-accum", 1, "--max-steps", 2)

    tokenizer = AutoTokenizer.from_pretrained(out)
    model = AutoModelForCausalLM.from_pretrained(out).eval()
    ids = tokenizer(PROMPT, return_tensors="pt").input_ids
    with torch.no_grad():
        expected = model.generate(ids, max_new_tokens=8, do_sample=False, eos_token_id=None)[0, ids.shape[1] :]

    script = tmp_path / "load.py"
    script.write_text(VLLM_SCRIPT)
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, str(script), str(out), PROMPT], capture_output=True, text=True, env=env, timeout=600
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("TOKENS ")]
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    got = json.loads(lines[0].removeprefix("TOKENS "))
    assert got and got == expected.tolist()[: len(got)]  # vLLM stops at EOS, transformers does not
