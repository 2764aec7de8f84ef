"""The OpenAI-compatible backend: any server with ``/v1/completions`` or ``/v1/chat/completions``.

Covers one HTTP request per prompt asking for ``n`` choices (topped up with more
requests when a server returns fewer, as llama.cpp and Ollama do), a bounded number of
requests in flight, and retries with exponential backoff on 408/409/429/5xx and
connection errors. Standard library only. Does not cover starting a server (run
``vllm serve``, SGLang, llama.cpp or Ollama yourself).

Servers report tokens per request, not per choice: ``Generation.num_tokens`` shares a
request's completion tokens among its choices by text length. The OpenAI API (and
``vllm serve``) take at most four stop sequences: the first four go to the server, and
every text is cut at the earliest of all of them here.
"""

from __future__ import annotations

import json
import os
import random
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from fdpo.errors import FdpoError
from fdpo.sampling.backends.base import (
    Backend,
    Generation,
    Seeds,
    chat_text,
    check_request,
    prompt_seeds,
    repeat_greedy,
    samples_per_call,
)
from fdpo.sampling.extract import cut_at_stops

DEFAULT_BASE_URL = "http://127.0.0.1:8000/v1"
SERVER_STOPS = 4
RETRY_STATUS = {408, 409, 429, 500, 502, 503, 504}
# Failing fast beats a thousand identical per-record errors when the key or model is wrong.
FATAL_STATUS = {401, 403, 404}


class RequestError(RuntimeError):
    """A request the server refused (for this prompt) or that kept failing."""


class OpenAIBackend(Backend):
    name = "openai"
    default_batch_size = 64

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key_env: str | None = None,
        concurrency: int = 8,
        retries: int = 5,
        backoff: float = 1.0,
        timeout: float = 600.0,
        **_ignored,
    ) -> None:
        super().__init__(model)
        self.base_url = (base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
        key_env = api_key_env or "OPENAI_API_KEY"
        self.api_key = os.environ.get(key_env)
        if api_key_env and not self.api_key:
            raise FdpoError(f"environment variable {api_key_env} (--api-key-env) is not set")
        self.concurrency = max(1, concurrency)
        self.retries, self.backoff, self.timeout = retries, backoff, timeout
        self.tokenizer = _local_tokenizer(model)

    @property
    def is_chat_model(self) -> bool:
        # A server does not say; served models are mostly instruct models.
        return True

    def render_chat(self, message: str) -> str | None:
        """Rendered locally when ``model`` is a local folder with a chat template."""
        if self.tokenizer is None or not getattr(self.tokenizer, "chat_template", None):
            return None
        return chat_text(self.tokenizer, message)

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
        check_request(prompts, n, temperature, top_p, max_tokens)
        body = {"model": self.model, "temperature": temperature, "top_p": top_p, "max_tokens": max_tokens}
        if stop:
            body["stop"] = stop[:SERVER_STOPS]
        per_prompt = samples_per_call(n, temperature)
        seeds = prompt_seeds(seed, len(prompts))

        def one(i: int) -> list[Generation]:
            return repeat_greedy(self._choices(prompts[i], per_prompt, seeds[i], body, chat, stop), n)

        with ThreadPoolExecutor(self.concurrency) as pool:
            return list(pool.map(one, range(len(prompts))))

    def _choices(
        self, prompt: str, n: int, seed: int | None, body: dict, chat: bool, stop: list[str] | None
    ) -> list[Generation]:
        gens: list[Generation] = []
        while len(gens) < n:
            request = {**body, "n": n - len(gens)}
            if seed is not None:
                request["seed"] = seed + len(gens)  # a top-up must not repeat the first choices
            if chat:
                request["messages"] = [{"role": "user", "content": prompt}]
                reply = self._post("/chat/completions", request)
            else:
                request["prompt"] = prompt
                reply = self._post("/completions", request)
            got = _generations(reply, chat, stop)
            if not got:
                raise RequestError(f"server returned no choices: {json.dumps(reply)[:300]}")
            gens.extend(got)
        return gens[:n]

    def _post(self, path: str, body: dict) -> dict:
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        data = json.dumps(body).encode()
        attempt = 0
        while True:
            request = urllib.request.Request(self.base_url + path, data=data, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    return json.loads(response.read())
            except urllib.error.HTTPError as exc:
                detail = exc.read().decode(errors="replace")[:500]
                if exc.code in FATAL_STATUS:
                    raise FdpoError(f"{self.base_url}{path}: HTTP {exc.code}: {detail}") from None
                if exc.code not in RETRY_STATUS or attempt == self.retries:
                    raise RequestError(f"HTTP {exc.code}: {detail}") from None
                wait = _retry_after(exc) or self._delay(attempt)
            except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
                if attempt == self.retries:
                    raise RequestError(f"{self.base_url}{path}: {exc}") from None
                wait = self._delay(attempt)
            time.sleep(wait)
            attempt += 1

    def _delay(self, attempt: int) -> float:
        return self.backoff * 2**attempt * (0.5 + random.random() / 2)


def _retry_after(exc: urllib.error.HTTPError) -> float | None:
    try:
        return float(exc.headers.get("Retry-After", ""))
    except ValueError:
        return None


def _generations(reply: dict, chat: bool, stop: list[str] | None) -> list[Generation]:
    choices = sorted(reply.get("choices") or [], key=lambda c: c.get("index", 0))
    raw = [(c["message"].get("content") or "") if chat else c.get("text", "") for c in choices]
    texts = [cut_at_stops(text, stop) for text in raw]
    used = (reply.get("usage") or {}).get("completion_tokens") or 0
    total_chars = sum(len(t) for t in raw) or 1
    # Cumulative rounding: the shares add up to exactly what the server reported.
    bounds, seen = [0], 0
    for text in raw:
        seen += len(text)
        bounds.append(round(used * seen / total_chars))
    return [
        Generation(text, "stop" if text != full else choice.get("finish_reason"), bounds[i + 1] - bounds[i])
        for i, (text, full, choice) in enumerate(zip(texts, raw, choices))
    ]


def _local_tokenizer(model: str):
    """The tokenizer of a local model folder (to know chat-rendered prompts), else None."""
    if not (Path(model) / "tokenizer_config.json").is_file():
        return None
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(model)
