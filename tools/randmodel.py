"""Tiny random-weight Qwen2 models with their own byte-level BPE tokenizer.

Covers building a real Hugging Face folder (config, safetensors, tokenizer with
a chat template) from a config in seconds, for tests and benchmarks that need a
real architecture without downloading weights. head_dim is 64 so vLLM's CPU
backend accepts it. Does not cover the trained built-in model (see
``tools.tinycoder``).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]

# A minimal ChatML template, the same shape Qwen2 instruct models use.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def default_corpus() -> list[str]:
    """Python-flavoured text to train a small tokenizer on, from the stdlib."""
    import inspect
    import json
    import textwrap

    texts = [inspect.getsource(m) for m in (json, textwrap)]
    texts.append("def f(x):\n    return x + 1\n\nassert f(1) == 2\n" * 20)
    return texts


def build_tokenizer(texts: Iterable[str], vocab_size: int = 512, max_length: int = 2048, chat: bool = True):
    """A byte-level BPE ``Qwen2Tokenizer`` trained on ``texts``, with ChatML specials.

    It is trained with exactly the pipeline ``AutoTokenizer`` rebuilds for any Qwen2 folder
    (NFC, Qwen2's split regex, byte level), so a saved and reloaded tokenizer splits text the
    same way as the one that was trained. ``chat`` adds a ChatML chat template.
    """
    import json

    from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers, trainers
    from transformers import Qwen2Tokenizer
    from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX

    bpe = Tokenizer(models.BPE())
    bpe.normalizer = normalizers.NFC()
    bpe.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIALS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(list(texts), trainer=trainer)
    merges = [tuple(pair) for pair in json.loads(bpe.to_str())["model"]["merges"]]
    tokenizer = Qwen2Tokenizer(
        vocab=bpe.get_vocab(), merges=merges, model_max_length=max_length, additional_special_tokens=SPECIALS[1:]
    )
    if chat:
        tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def qwen2_config(tokenizer, *, hidden_size: int, layers: int, intermediate_size: int, max_positions: int):
    """A Qwen2 config with heads of 64 (vLLM's CPU backend needs head_dim 64), tied embeddings, EOS as pad."""
    from transformers import Qwen2Config

    heads = hidden_size // 64
    return Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=intermediate_size,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=heads,
        head_dim=64,
        max_position_embeddings=max_positions,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.eos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        torch_dtype="float32",
    )


def build_random_model(
    out_dir: str | Path,
    *,
    seed: int = 0,
    hidden_size: int = 128,
    num_layers: int = 2,
    intermediate_size: int = 256,
    vocab_size: int = 512,
    max_positions: int = 2048,
    texts: Iterable[str] | None = None,
) -> Path:
    """Write a random Qwen2 model folder (head_dim 64) and return its path."""
    import torch
    from transformers import Qwen2ForCausalLM

    out = Path(out_dir)
    tokenizer = build_tokenizer(texts if texts is not None else default_corpus(), vocab_size, max_positions)
    config = qwen2_config(
        tokenizer, hidden_size=hidden_size, layers=num_layers, intermediate_size=intermediate_size,
        max_positions=max_positions,
    )
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(config)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    return out
