"""The backend interface on a real engine: transformers on the tiny random Qwen2."""

from __future__ import annotations

import re

import pytest

from fdpo.errors import FdpoError
from fdpo.sampling.backends import Generation, load_backend

PROMPTS = ["def add(a, b):\n", "import json\n\n", "class Stack:\n    def push(self, x):\n"]


@pytest.fixture(scope="module")
def hf(tiny_model_dir):
    import torch

    torch.set_num_threads(1)
    with load_backend(str(tiny_model_dir), "transformers") as backend:
        yield backend


def texts(results: list[list[Generation]]) -> list[list[str]]:
    return [[g.text for g in gens] for gens in results]


def test_n_generations_per_prompt_in_prompt_order(hf):
    together = hf.generate(PROMPTS, n=2, temperature=0, max_tokens=12)
    alone = [hf.generate([p], n=1, temperature=0, max_tokens=12)[0][0].text for p in PROMPTS]
    assert [len(g) for g in together] == [2, 2, 2]
    assert [gens[0].text for gens in together] == alone  # greedy: batching and padding change nothing
    assert all(gens[0] == gens[1] for gens in together)  # greedy n>1 repeats the one result


def test_n_samples_with_a_single_allowed_token_equal_greedy(hf):
    """With only the top token left (tiny top_p), every sample must be the greedy text,
    whatever the prompts' lengths (left padding)."""
    greedy = hf.generate(PROMPTS, n=1, temperature=0, max_tokens=12)
    narrow = hf.generate(PROMPTS, n=3, temperature=1.0, top_p=1e-6, max_tokens=12, seed=0)
    assert texts(narrow) == [[gens[0].text] * 3 for gens in greedy]


def test_seed_makes_sampling_reproducible(hf):
    kw = dict(n=4, temperature=1.5, max_tokens=10)
    first = texts(hf.generate(PROMPTS, seed=11, **kw))
    assert texts(hf.generate(PROMPTS, seed=11, **kw)) == first
    assert texts(hf.generate(PROMPTS, seed=12, **kw)) != first
    assert len(set(first[0])) > 1  # n samples of one prompt differ at temperature 1.5


def test_length_finish_and_token_counts(hf):
    for gens in hf.generate(PROMPTS, n=3, temperature=1.0, top_p=0.9, max_tokens=7, seed=0):
        for g in gens:
            assert g.finish_reason in ("stop", "length")
            assert (g.num_tokens == 7) == (g.finish_reason == "length")
            assert 1 <= g.num_tokens <= 7


def test_stop_strings_end_the_text_before_the_stop(hf):
    full = hf.generate(PROMPTS[:1], n=1, temperature=0, max_tokens=30)[0][0].text
    match = re.search(r"[ -~]{3}", full[1:])
    assert match, f"greedy text has no ASCII run to stop at: {full!r}"
    stop = match.group(0)
    cut = hf.generate(PROMPTS[:1], n=2, temperature=0, max_tokens=30, stop=[stop])[0]
    assert [g.text for g in cut] == [full[: full.index(stop)]] * 2
    assert cut[0].finish_reason == "stop"
    assert cut[0].num_tokens < hf.generate(PROMPTS[:1], n=1, temperature=0, max_tokens=30)[0][0].num_tokens


def test_chat_renders_the_message_with_the_chat_template(hf):
    assert hf.is_chat_model
    rendered = hf.render_chat("Write add(a, b).")
    assert rendered == hf.tokenizer.apply_chat_template(
        [{"role": "user", "content": "Write add(a, b)."}], tokenize=False, add_generation_prompt=True
    )
    assert rendered.endswith("<|im_start|>assistant\n")
    as_chat = hf.generate(["Write add(a, b)."], n=1, temperature=0, max_tokens=10, chat=True)
    as_text = hf.generate([rendered], n=1, temperature=0, max_tokens=10)
    assert texts(as_chat) == texts(as_text)


def test_prompts_longer_than_the_context_are_refused(hf):
    with pytest.raises(ValueError, match="context"):
        hf.generate(["x " * 5000], n=1, temperature=0, max_tokens=4)


def test_bad_requests_and_names_are_user_errors(hf, tiny_model_dir):
    with pytest.raises(FdpoError, match="n must be"):
        hf.generate(PROMPTS, n=0, temperature=1.0, max_tokens=4)
    with pytest.raises(FdpoError, match="top_p"):
        hf.generate(PROMPTS, n=1, temperature=1.0, top_p=0, max_tokens=4)
    with pytest.raises(FdpoError, match="unknown backend"):
        load_backend(str(tiny_model_dir), "llamafile")
    with pytest.raises(FdpoError, match="unknown built-in model"):
        load_backend("builtin:no-such-model", "transformers")
    with pytest.raises(FdpoError, match="tensor-parallel"):
        load_backend(str(tiny_model_dir), "transformers", tensor_parallel_size=2)
