"""Reference log-probs: per-segment sums from the initial policy, computed once, cached on disk.

Covers the cache key (the model's files, the tokenised pairs — which fold in the
data, the tokenizer, the chat template and ``--max-length`` — and the precision),
computing the sums over all pairs split across processes, and the cache file
``ref-<key>.safetensors`` (a float32 tensor [pairs, chosen/rejected, prefix/mid/suffix])
under ``--cache-dir``, by default ``<output-dir>/ref-cache``. As the sums are per
segment, changing ``w``, the rejected-suffix mode or ``--no-focus`` reuses the
cache. Does not cover the online reference (``--ref online``, see ``loop``).
"""

from __future__ import annotations

import hashlib
import json
import os
from array import array
from pathlib import Path

import torch

from fdpo.training.data import TokenizedPair, collate
from fdpo.training.loss import segment_sums, token_logps
from fdpo.training.modelio import reference_mode
from fdpo.training.spread import map_pairs
from fdpo.training.weights import Weighting

_FORMAT = 1


def model_fingerprint(path: str) -> dict:
    """Identifies the weights: each file's name, size and mtime (a hub name: its cached snapshot's)."""
    folder = Path(path)
    if not folder.is_dir():
        from transformers.utils import cached_file

        folder = Path(cached_file(path, "config.json")).parent
    files = sorted(f for f in folder.iterdir() if f.is_file() and f.suffix in (".safetensors", ".bin", ".json"))
    return {"path": str(folder.resolve()), "files": [(f.name, f.stat().st_size, f.stat().st_mtime_ns) for f in files]}


def data_fingerprint(pairs: list[TokenizedPair]) -> str:
    digest = hashlib.sha256()
    for pair in pairs:
        for ids in pair.ids_and_segments():
            digest.update(array("q", ids).tobytes())
            digest.update(b"|")
    return digest.hexdigest()


def cache_key(model_path: str, pairs: list[TokenizedPair], bf16: bool) -> str:
    parts = {"format": _FORMAT, "model": model_fingerprint(model_path), "data": data_fingerprint(pairs), "bf16": bf16}
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:20]


def compute(accelerator, model, pairs: list[TokenizedPair], batch_size: int) -> torch.Tensor:
    """[n, 2, 3] reference sums, with dropout off (and under LoRA the adapter off)."""
    device = accelerator.device

    def sums(indices: list[int]) -> torch.Tensor:
        batch = collate([pairs[i] for i in indices], Weighting(focus=False), trim=False).to(device)
        chosen, rejected = segment_sums(token_logps(model, batch), batch.segments).chunk(2)
        return torch.stack([chosen, rejected], dim=1)

    with reference_mode(accelerator, model):
        return map_pairs(accelerator, len(pairs), batch_size, sums)


def load_or_compute(accelerator, model, model_path: str, pairs, *, cache_dir: Path, batch_size: int, bf16: bool):
    """The reference sums for ``pairs`` and whether they came from the cache."""
    from safetensors.torch import load_file, save_file

    path = cache_dir / f"ref-{cache_key(model_path, pairs, bf16)}.safetensors"
    if path.is_file():
        sums = load_file(path)["sums"]
        if sums.shape == (len(pairs), 2, 3):
            return sums, True
    sums = compute(accelerator, model, pairs, batch_size)
    if accelerator.is_main_process:
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        save_file({"sums": sums.contiguous()}, tmp, metadata={"model": model_path, "pairs": str(len(pairs))})
        os.replace(tmp, path)
    accelerator.wait_for_everyone()
    return sums, False
