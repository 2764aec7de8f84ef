"""The tiny-coder tokenizer and the token rows it trains on.

Covers training a byte-level BPE with exactly the pipeline that ``AutoTokenizer`` rebuilds for a
Qwen2 folder (NFC, Qwen2's split regex, byte-level), so that transformers, vLLM and training see
the same tokens; no chat template, so ``fdpo sample`` prompts it completion style. Also packs
documents into rows: each is tokens(prompt) + tokens(completion) + EOS, the boundary the model
meets when a prompt is tokenized alone at sampling time, with the loss on the completion only.
Does not cover training.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator

from fdpo.randmodel import SPECIALS
from fdpo.tinycoder.corpus import Document

IGNORE = -100  # the label torch's cross entropy skips
Row = tuple[list[int], list[int]]  # token ids and their labels


def train_tokenizer(documents: Iterable[Document], vocab_size: int, max_length: int):
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
    bpe.train_from_iterator([prompt + completion for prompt, completion in documents], trainer=trainer)
    merges = [tuple(pair) for pair in json.loads(bpe.to_str())["model"]["merges"]]
    return Qwen2Tokenizer(
        vocab=bpe.get_vocab(), merges=merges, model_max_length=max_length, additional_special_tokens=SPECIALS[1:]
    )


def encode(tokenizer, documents: list[Document]) -> list[Row]:
    """(token ids, labels) per document; the prompt's labels are -100, so only completions are learned."""
    prompts = tokenizer([p for p, _ in documents], add_special_tokens=False)["input_ids"]
    completions = tokenizer([c for _, c in documents], add_special_tokens=False)["input_ids"]
    rows = []
    for prompt, completion in zip(prompts, completions):
        completion = completion + [tokenizer.eos_token_id]
        rows.append((prompt + completion, [IGNORE] * len(prompt) + completion))
    return rows


def pack(sequences: Iterable[Row], length: int) -> Iterator[Row]:
    """Whole sequences, in order, into rows of at most ``length`` tokens (a row starts a document)."""
    ids: list[int] = []
    labels: list[int] = []
    for seq_ids, seq_labels in sequences:
        if ids and len(ids) + len(seq_ids) > length:
            yield ids, labels
            ids, labels = [], []
        ids, labels = ids + seq_ids[:length], labels + seq_labels[:length]
    if ids:
        yield ids, labels
