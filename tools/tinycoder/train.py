"""Deterministic from-scratch training of the tiny coder: causal-LM loss on packed token rows.

Covers the seeded initialisation, AdamW with linear warmup and cosine decay, and the step loop,
run on one torch thread with deterministic algorithms so that a seed gives the same weights bit
for bit. The number of steps, not wall time, ends training. The rows' labels say which tokens
are learned. Does not cover the config (``tools.randmodel.qwen2_config``), the data
(``tokenizer``) or writing the folder (``build``).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator


@contextlib.contextmanager
def deterministic_torch() -> Iterator[None]:
    """One thread and deterministic kernels for the block; the previous settings come back after."""
    import torch

    threads, strict = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(strict)


def new_model(config, seed: int):
    import torch
    from transformers import Qwen2ForCausalLM

    torch.manual_seed(seed)
    return Qwen2ForCausalLM(config)


def learning_rate(step: int, *, steps: int, peak: float, warmup: int, floor: float) -> float:
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, steps - warmup)
    return peak * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress)))


def _batch(rows: list[tuple[list[int], list[int]]], pad_id: int):
    import torch

    width = max(len(ids) for ids, _ in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    labels = torch.full((len(rows), width), -100, dtype=torch.long)
    for i, (row_ids, row_labels) in enumerate(rows):
        ids[i, : len(row_ids)] = torch.tensor(row_ids)
        labels[i, : len(row_labels)] = torch.tensor(row_labels)
    return ids, labels


def pretrain(
    model,
    rows: list[tuple[list[int], list[int]]],
    *,
    pad_id: int,
    batch_rows: int,
    peak_lr: float,
    warmup: int,
    floor: float,
    weight_decay: float,
    on_step: Callable[[int, float, int], None] = lambda step, loss, tokens: None,
) -> None:
    """One pass over ``rows`` in order, ``batch_rows`` rows per step."""
    import torch

    params = list(model.parameters())
    optimizer = torch.optim.AdamW(
        [
            {"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
            {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
        ],
        lr=peak_lr,
        betas=(0.9, 0.95),
    )
    steps = len(rows) // batch_rows
    model.train()
    for step in range(steps):
        batch = rows[step * batch_rows : (step + 1) * batch_rows]
        ids, labels = _batch(batch, pad_id)
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step, steps=steps, peak=peak_lr, warmup=warmup, floor=floor)
        loss = model(input_ids=ids, labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        on_step(step, loss.item(), sum(len(ids) for ids, _ in batch))
    model.eval()
