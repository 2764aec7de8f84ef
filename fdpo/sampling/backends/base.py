"""The interface every sampling backend implements, and the helpers they share.

Covers ``Generation`` (one sampled text), the ``Backend`` contract (``generate`` n
samples per prompt in order, ``is_chat_model``, ``close``), per-prompt seeds, greedy
replication and encoding a prompt once with a Hugging Face tokenizer. Does not cover
any engine (see ``hf``, ``vllm``, ``openai``) or choosing one (``choose``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

from fdpo.errors import FdpoError

Seeds = int | Sequence[int | None] | None


@dataclass
class Generation:
    """One sampled continuation: the exact text, why it ended, how many tokens it took."""

    text: str
    finish_reason: str | None  # "stop" (EOS or a stop sequence) or "length" (max_tokens)
    num_tokens: int


class Backend(ABC):
    """A model that continues prompts. Use as a context manager or call ``close()``."""

    name: str = ""
    #: Problems per ``generate`` call that keep this engine busy without waste.
    default_batch_size: int = 8

    def __init__(self, model: str) -> None:
        self.model = model

    @property
    @abstractmethod
    def is_chat_model(self) -> bool:
        """Whether the model has a chat template, i.e. chat style is its natural default."""

    @abstractmethod
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
        """``n`` generations for each prompt, in prompt order.

        temperature 0 is greedy decoding (the one result is repeated ``n`` times).
        ``stop`` strings end a generation and are not part of its text. ``seed``: an int
        (prompt i uses seed + i) or one seed per prompt. ``chat=True``: each prompt is a
        user message, rendered with the model's chat template (or sent to a chat
        endpoint).
        """

    def render_chat(self, message: str) -> str | None:
        """The exact text a chat-style response continues, or None when unknown."""
        return None

    def close(self) -> None:
        """Free the engine (processes, memory). Safe to call twice."""

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class LocalTokenizerBackend(Backend):
    """A backend that holds the model's own tokenizer (``self.tokenizer``), so it knows the chat template."""

    tokenizer = None

    @property
    def is_chat_model(self) -> bool:
        return bool(getattr(self.tokenizer, "chat_template", None))

    def render_chat(self, message: str) -> str:
        return chat_text(self.tokenizer, message)


def check_request(prompts: list[str], n: int, temperature: float, top_p: float, max_tokens: int) -> None:
    if n < 1:
        raise FdpoError(f"n must be at least 1, got {n}")
    if temperature < 0:
        raise FdpoError(f"temperature must be >= 0, got {temperature}")
    if not 0 < top_p <= 1:
        raise FdpoError(f"top_p must be in (0, 1], got {top_p}")
    if max_tokens < 1:
        raise FdpoError(f"max_tokens must be at least 1, got {max_tokens}")


def prompt_seeds(seed: Seeds, count: int) -> list[int | None]:
    """One seed per prompt: ``seed + i`` for an int, the list itself (None: unseeded), or all None."""
    if seed is None:
        return [None] * count
    if isinstance(seed, int):
        return [seed + i for i in range(count)]
    seeds = list(seed)
    if len(seeds) != count:
        raise ValueError(f"got {len(seeds)} seeds for {count} prompts")
    return seeds


def samples_per_call(n: int, temperature: float) -> int:
    """Engines refuse n > 1 for greedy decoding; one greedy sample is repeated instead."""
    return 1 if temperature == 0 else n


def repeat_greedy(generations: list[Generation], n: int) -> list[Generation]:
    return generations if len(generations) == n else [generations[0]] * n


def chat_text(tokenizer, message: str) -> str:
    """``message`` as one user turn in the tokenizer's chat template, ready to be answered."""
    if not getattr(tokenizer, "chat_template", None):
        raise FdpoError("this model has no chat template: use --style completion")
    return tokenizer.apply_chat_template(
        [{"role": "user", "content": message}], tokenize=False, add_generation_prompt=True
    )


def encode(tokenizer, prompt: str, chat: bool) -> list[int]:
    """Token ids of a prompt, encoded once. A rendered chat text already holds its
    special tokens (a BOS included), so none are added to it."""
    if chat:
        return tokenizer(chat_text(tokenizer, prompt), add_special_tokens=False)["input_ids"]
    return tokenizer(prompt, add_special_tokens=True)["input_ids"]


def room(prompt_ids: list[int], max_tokens: int, context: int | None, index: int) -> int:
    """``max_tokens`` clamped to the context left after the prompt."""
    if context is None:
        return max_tokens
    left = context - len(prompt_ids)
    if left < 1:
        raise ValueError(f"prompt {index} has {len(prompt_ids)} tokens, the model's context is {context}")
    return min(max_tokens, left)
