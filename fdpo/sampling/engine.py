"""Starting a model and asking it for text: the part every generating command shares.

Covers the options that pick and start an engine (``EngineOptions``, the flags of
sample, synth and eval), the decoding settings of one run (``Decoding``: style,
temperature, top-p, length, seed, batch size, with ``auto`` resolved against the
started engine), per-problem seeds (``problem_seed``) and the one retry policy
(``generate``: a failing batch is retried a prompt at a time, so only the prompts
that fail get an error). Does not cover prompt texts (``prompting``), reading
responses (``extract``), the engines themselves (``backends``) or what a command
does with a failed prompt.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

from fdpo.errors import ends_the_run
from fdpo.models import check_model
from fdpo.sampling.backends import Backend, Generation, load_backend


@dataclass
class EngineOptions:
    """Which model, on which backend, started how: the flags of every command that loads a model."""

    model: str
    backend: str | None = None  # None: vLLM on a GPU machine that has it, else transformers
    base_url: str | None = None  # openai
    api_key_env: str | None = None  # openai
    concurrency: int = 8  # openai
    tensor_parallel_size: int = 1  # vllm
    dtype: str = "auto"
    seed: int | None = None

    def check(self) -> None:
        """Fail now on a missing or empty model folder, before any input is read (a server names its own)."""
        if self.backend != "openai":
            check_model(self.model)

    def start(self) -> Backend:
        return load_backend(
            self.model, self.backend, base_url=self.base_url, api_key_env=self.api_key_env, seed=self.seed,
            tensor_parallel_size=self.tensor_parallel_size, dtype=self.dtype, concurrency=self.concurrency,
        )


@dataclass
class Decoding:
    """How one run samples: the same for every prompt of the run."""

    temperature: float
    max_tokens: int
    top_p: float = 1.0
    seed: int | None = None
    style: str = "auto"  # auto → chat when the model has a chat template, else completion (``fit``)
    batch_size: int | None = None  # problems per engine call; None → the engine's default (``fit``)

    def fit(self, engine: Backend) -> Decoding:
        """Resolve ``auto`` style and the default batch size for a started engine."""
        if self.style == "auto":
            self.style = "chat" if engine.is_chat_model else "completion"
        self.batch_size = self.batch_size or engine.default_batch_size
        return self

    @property
    def chat(self) -> bool:
        return self.style == "chat"

    def meta(self) -> dict:
        """What a record says about how it was sampled."""
        return {"style": self.style, "temperature": self.temperature, "top_p": self.top_p,
                "max_tokens": self.max_tokens, "seed": self.seed}


def problem_seed(seed: int | None, *key) -> int | None:
    """A sampling seed per problem (and kind of prompt), so a problem's samples do not depend on its batch."""
    if seed is None:
        return None
    return zlib.crc32("\0".join(map(str, (seed, *key))).encode()) & 0x7FFFFFFF


def generate(
    backend: Backend, prompts: list[str], seeds: list[int | None], decoding: Decoding, *, n: int,
    stop: list[str] | None = None,
) -> list[list[Generation] | Exception]:
    """``n`` generations per prompt, or the exception that prompt alone raised.

    A failing call is retried a prompt at a time, so one prompt the engine refuses
    (longer than its context, …) costs only its own result. ``FdpoError`` (the run
    cannot go on: a server down) and any failure under ``--debug`` are raised.
    ``stop`` applies in completion style only; a chat reply ends on its own.
    """
    try:
        return backend.generate(prompts, n=n, temperature=decoding.temperature, top_p=decoding.top_p,
                                max_tokens=decoding.max_tokens, stop=None if decoding.chat else stop, seed=seeds,
                                chat=decoding.chat)
    except Exception as exc:  # noqa: BLE001 - one prompt's failure is data
        if ends_the_run(exc):
            raise
        if len(prompts) == 1:
            return [exc]
        return [out for p, s in zip(prompts, seeds) for out in generate(backend, [p], [s], decoding, n=n, stop=stop)]
