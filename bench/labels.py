"""Label and pair precision of each ranking method on the built-in model's own samples.

`builtin:tiny-coder` samples 10 candidates and 10 tests per problem at T = 1.5
(the paper's settings) for the 220 bundled problems (`fdpo/data/tiny_demo.jsonl`
and `tiny_eval.jsonl`); `fdpo execute` runs them (with output probes) and
`fdpo audit` judges every candidate by the problems' hidden tests, which the
pipeline never reads. Then every ranking method labels the same candidates,
`fdpo locate` builds up to 3 pairs per problem, and the hidden labels score
them: top-1, precision of `correct` / `incorrect`, pair precision, and recall
(the share of problems with both a right and a wrong loaded candidate that get
a pair), for the paper's labels and each method with and without abstention
(``bench/labelquality.py``).

Run: nice -n 10 .venv/bin/python bench/labels.py --seeds 0 1 --out labels-out
     (samples and executions are kept in --out, so a second run only re-ranks)
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from labelquality import evaluate, table  # noqa: E402

from fdpo.jsonl import read_records, write_records  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SETS = [ROOT / "fdpo" / "data" / "tiny_demo.jsonl", ROOT / "fdpo" / "data" / "tiny_eval.jsonl"]


def fdpo(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "fdpo", *args], check=True)


def audited(out: Path, seed: int, jobs: int) -> list[dict]:
    """The seed's samples, executed and judged by the hidden tests (made once, then read back)."""
    problems, sampled = out / "problems.jsonl", out / f"sampled-{seed}.jsonl"
    executed, judged = out / f"executed-{seed}.jsonl", out / f"audited-{seed}.jsonl"
    if not problems.exists():
        write_records(problems, [r for path in SETS for r in read_records(path)])
    if not sampled.exists():
        fdpo("sample", str(problems), "-m", "builtin:tiny-coder", "--backend", "transformers", "--seed", str(seed),
             "--max-tokens", "192", "-o", str(sampled))
    if not executed.exists():
        fdpo("execute", str(sampled), "--jobs", str(jobs), "-o", str(executed))
    if not judged.exists():
        fdpo("audit", str(executed), "-b", str(problems), "--jobs", str(jobs), "-o", str(judged))
    return read_records(judged)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--out", type=Path, default=Path("labels-out"))
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    items = []
    for seed in args.seeds:
        for record in audited(args.out, seed, args.jobs):
            truth = (record.get("audit") or {}).get("truth")
            if not record.get("error") and truth and None not in truth:
                items.append((record, truth))
    with_examples = sum(any(t.get("source") == "prompt" for t in r["tests"]) for r, _ in items)
    print(f"# builtin:tiny-coder, seeds {' '.join(map(str, args.seeds))}: {len(items)} sampled problems judged by "
          f"hidden tests ({with_examples} with examples in the prompt)\n")
    print(table(evaluate(items)))


if __name__ == "__main__":
    main()
