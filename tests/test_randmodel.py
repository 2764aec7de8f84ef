"""The random test models of ``tools.randmodel``: a real Qwen2 folder that reloads as it was built."""

from __future__ import annotations

import json

TEXTS = [
    "def count_evens(numbers):\n    return sum(1 for x in numbers if x % 2 == 0)\n",
    "    assert count_evens([1, 2, 4]) == 2  # café, naïve, 3.14159, don't\n",
    "<|im_start|>user\nWrite a function.<|im_end|>\n",
]


def test_reloaded_tokenizer_splits_text_as_the_built_one(tiny_model_dir):
    # AutoTokenizer rebuilds a Qwen2 folder's tokenizer with Qwen2's own pre-tokenizer; the
    # tokenizer must have been trained with that pipeline or the ids differ after a reload.
    from transformers import AutoTokenizer

    from tools.randmodel import build_tokenizer, default_corpus

    built = build_tokenizer(default_corpus(), 512)
    loaded = AutoTokenizer.from_pretrained(tiny_model_dir)
    for text in TEXTS:
        assert loaded(text)["input_ids"] == built(text)["input_ids"], text
        assert loaded.decode(loaded(text)["input_ids"]) == text
    assert loaded.chat_template and loaded.eos_token == loaded.pad_token == "<|endoftext|>"


def test_config_has_heads_of_64_and_eos_as_pad(tiny_model_dir):
    config = json.loads((tiny_model_dir / "config.json").read_text())
    assert config["head_dim"] == 64
    assert config["hidden_size"] == 64 * config["num_attention_heads"]
    assert config["tie_word_embeddings"] is True
    assert config["eos_token_id"] == config["pad_token_id"]
