"""Sampling backends: one interface over transformers, vLLM and OpenAI-compatible servers.

The API the stages build on::

    from fdpo.sampling.backends import load_backend, Backend, Generation

    backend = load_backend(model, backend=None, *, base_url=None, api_key_env=None,
                           seed=None, tensor_parallel_size=1, dtype="auto", **kwargs)
    # model: a folder, a hub name or "builtin:NAME"; backend: "vllm" | "transformers" |
    # "openai" | None (vLLM when a GPU and vLLM are present, else transformers).
    results = backend.generate(prompts, n=10, temperature=1.5, top_p=1.0, max_tokens=512,
                               stop=None, seed=None, chat=False)
    # -> list (one per prompt, in order) of n Generation(text, finish_reason, num_tokens).
    # temperature 0 is greedy. chat=True: prompts are user messages, rendered with the
    # model's chat template (or sent to /v1/chat/completions). seed: an int (prompt i
    # uses seed + i) or a list with one seed per prompt.
    backend.is_chat_model    # a chat template is present: chat style is the default
    backend.render_chat(msg) # the exact text a chat response continues (None if unknown)
    backend.close()          # or: with load_backend(...) as backend: ...

Does not cover prompts (``fdpo.sampling.prompting``) or extraction (``fdpo.sampling.extract``).
"""

from fdpo.sampling.backends.base import Backend, Generation
from fdpo.sampling.backends.choose import BACKENDS, default_backend, load_backend

__all__ = ["BACKENDS", "Backend", "Generation", "default_backend", "load_backend"]
