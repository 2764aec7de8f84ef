"""The tiny-coder tokenizer and the token rows it trains on.

Covers training the byte-level BPE (``tools.randmodel.build_tokenizer``: the pipeline ``AutoTokenizer``
rebuilds for a Qwen2 folder, so that transformers, vLLM and training see the same tokens) on the
corpus, with no chat template, so ``fdpo sample`` prompts it completion style. Also packs
documents into rows: each is tokens(prompt) + tokens(completion) + EOS, the boundary the model
meets when a prompt is tokenized alone at sampling time, with the loss on the completion only.
Does not cover training.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from tools.randmodel import build_tokenizer
from tools.tinycoder.corpus import Document

IGNORE = -100  # the label torch's cross entropy skips
Row = tuple[list[int], list[int]]  # token ids and their labels


def train_tokenizer(documents: Iterable[Document], vocab_size: int, max_length: int):
    """The Qwen2-pipeline BPE of ``tools.randmodel``, trained on whole documents, without a chat template."""
    return build_tokenizer([prompt + completion for prompt, completion in documents], vocab_size, max_length, chat=False)


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
