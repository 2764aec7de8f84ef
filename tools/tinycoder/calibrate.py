"""Is a model calibrated for the demo? Held-out greedy pass@1 and right/wrong mixes at T = 1.5.

``python -m tools.tinycoder.calibrate [--model M]`` runs the public ``fdpo eval`` twice: greedy
on the evaluation set, then n samples at temperature T on the demo problems, and counts the
demo problems that got both right and wrong samples (the ones Focused-DPO can build pairs
from). Does not cover training or the demo pipeline itself.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from tools.tinycoder.build import DATA_DIR, DEMO_FILE, EVAL_FILE


def fdpo_eval(benchmark: Path, model: str, out: Path, *options: str) -> list[dict]:
    command = [sys.executable, "-m", "fdpo", "eval", "--benchmark", str(benchmark), "--model", model,
               "-o", str(out), *options]
    subprocess.run(command, check=True)
    return [json.loads(line) for line in out.read_text().splitlines()]


def mixes(records: list[dict]) -> dict[str, int]:
    """How many problems had all samples right, some right, or none right."""
    counts = {"all right": 0, "mixed": 0, "all wrong": 0}
    for record in records:
        right = sum(s["passed"] for s in record["samples"])
        key = "all right" if right == len(record["samples"]) else "all wrong" if right == 0 else "mixed"
        counts[key] += 1
    return counts


def calibrate(model: str, folder: Path, n: int, temperature: float, seed: int, backend: str | None) -> dict:
    common = ["--backend", backend] if backend else []
    greedy = fdpo_eval(DATA_DIR / EVAL_FILE, model, folder / "eval_greedy.jsonl", *common)
    sampled = fdpo_eval(DATA_DIR / DEMO_FILE, model, folder / "demo_sampled.jsonl", *common, "--n", str(n),
                        "--temperature", str(temperature), "--seed", str(seed), "--k", "1")
    samples = [s for r in sampled for s in r["samples"]]
    return {
        "model": model,
        "backend": backend or "fdpo eval's default",
        "eval greedy pass@1": sum(r["samples"][0]["passed"] for r in greedy) / len(greedy),
        f"demo T={temperature} n={n}": mixes(sampled),
        f"demo T={temperature} sample pass rate": sum(s["passed"] for s in samples) / len(samples),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.tinycoder.calibrate", description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="builtin:tiny-coder")
    parser.add_argument("--out", type=Path, help="keep fdpo eval's outputs here (default: a temporary folder)")
    parser.add_argument("--n", type=int, default=10)
    parser.add_argument("--temperature", type=float, default=1.5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--backend", help="fdpo eval's --backend (vllm, transformers, openai)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        folder = args.out or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        report = calibrate(args.model, folder, args.n, args.temperature, args.seed, args.backend)
        print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
