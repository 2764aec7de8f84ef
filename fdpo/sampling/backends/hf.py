"""The transformers backend: ``model.generate`` on one device, the CPU default.

Covers loading a causal LM and its tokenizer, left-padded batches of prompts sampled
``n`` times each with ``num_return_sequences`` into a preallocated (static) cache, stop
strings, seeding, and turning output ids back into ``Generation``s. Does not cover multi-device inference (use the
vLLM backend) or training.

Reproducibility: with a seed, torch's RNG is seeded at every call from the first
prompt's seed, so the same input in the same batches gives the same samples; unlike
vLLM, a sample also depends on which prompts share its batch.
"""

from __future__ import annotations

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
from fdpo.sampling.extract import cut_at_stops


class TransformersBackend(LocalTokenizerBackend):
    name = "transformers"
    default_batch_size = 8

    def __init__(self, model: str, *, dtype: str = "auto", device: str | None = None, **kwargs) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        super().__init__(model)
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.tokenizer = AutoTokenizer.from_pretrained(model)
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.lm = AutoModelForCausalLM.from_pretrained(model, dtype=dtype, **kwargs).to(self.device).eval()
        eos = self.lm.generation_config.eos_token_id
        if eos is None:
            eos = self.tokenizer.eos_token_id
        self.eos_ids = set(eos if isinstance(eos, list) else [eos])
        self.context = getattr(self.lm.config, "max_position_embeddings", None)

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
        import torch

        check_request(prompts, n, temperature, top_p, max_tokens)
        if not prompts:
            return []
        ids = [encode(self.tokenizer, p, chat) for p in prompts]
        max_new = min(room(p, max_tokens, self.context, i) for i, p in enumerate(ids))
        batch = self.tokenizer.pad({"input_ids": ids}, padding_side="left", return_tensors="pt").to(self.device)
        seeds = prompt_seeds(seed, len(prompts))
        if seeds[0] is not None:
            torch.manual_seed(seeds[0])
        per_prompt = samples_per_call(n, temperature)
        # top_k=0: transformers would otherwise default to 50; vLLM and the paper use none.
        sampling = {"do_sample": True, "temperature": temperature, "top_p": top_p, "top_k": 0}
        if temperature == 0:
            sampling = {"do_sample": False}
        options = {
            **sampling,
            "max_new_tokens": max_new,
            "stop_strings": stop or None,
            "tokenizer": self.tokenizer if stop else None,
            "pad_token_id": self.tokenizer.pad_token_id,
            "disable_compile": True,  # shapes change from call to call
        }
        with torch.inference_mode():
            out = self.lm.generate(**batch, num_return_sequences=per_prompt, cache_implementation="static", **options)
        new = out[:, batch["input_ids"].shape[1] :].tolist()
        gens = [self._generation(row, stop, max_new) for row in new]
        return [repeat_greedy(gens[i * per_prompt : (i + 1) * per_prompt], n) for i in range(len(prompts))]

    def _generation(self, row: list[int], stop: list[str] | None, max_new: int) -> Generation:
        # Finished rows are padded; with pad == EOS the first EOS marks the end either way.
        end = next((j for j, t in enumerate(row) if t in self.eos_ids or t == self.tokenizer.pad_token_id), None)
        text = self.tokenizer.decode(row[:end], skip_special_tokens=True)
        cut = cut_at_stops(text, stop)
        if cut != text:
            return Generation(cut, "stop", end if end is not None else len(row))
        if end is not None:
            ended_by_eos = row[end] in self.eos_ids
            return Generation(text, "stop", end + 1 if ended_by_eos else end)
        return Generation(text, "length" if len(row) >= max_new else "stop", len(row))
