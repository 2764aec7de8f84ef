"""Label and pair precision of each ranking method on the built-in model's own samples.

`builtin:tiny-coder` samples 10 candidates and 10 tests per problem at T = 1.5
(the paper's settings) for the 220 bundled problems (`fdpo/data/tiny_demo.jsonl`
and `tiny_eval.jsonl`); `fdpo execute` runs them (with output probes) and
`fdpo audit` judges every candidate by the problems' hidden tests, which the
pipeline never reads. Then every ranking method labels the same candidates,
`fdpo locate` builds up to 3 pairs per problem, and the hidden labels score
them: top-1, precision of `correct` / `incorrect`, pair precision, and recall
(the share of problems with both a right and a wrong loaded candidate that get
a pair), for each method and each `--min-confidence` threshold.

Run: nice -n 10 .venv/bin/python bench/labels.py --seeds 0 1 --out labels-out
     (samples and executions are kept in --out, so a second run only re-ranks)
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from rank_quality import HEADER, THRESHOLDS, Tally, _cells  # noqa: E402

from fdpo.jsonl import read_records, write_records  # noqa: E402
from fdpo.ranking import METHODS, rank_record  # noqa: E402

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

    by_method: dict[str, Tally] = defaultdict(Tally)
    by_threshold: dict[tuple[str, float], Tally] = defaultdict(Tally)
    records = 0
    for seed in args.seeds:
        for record in audited(args.out, seed, args.jobs):
            truth = (record.get("audit") or {}).get("truth")
            if record.get("error") or not truth or None in truth:
                continue
            records += 1
            for method in METHODS:
                ranked = rank_record(record, method)
                by_method[method].add(ranked, truth, 0.0)
                for t in THRESHOLDS:
                    by_threshold[method, t].add(ranked, truth, t)
    print(f"# builtin:tiny-coder, seeds {' '.join(map(str, args.seeds))}: {records} sampled problems judged by hidden tests\n")
    print(HEADER.format(first="method"))
    for method in METHODS:
        print(f"| {method} | {_cells(by_method[method].row())} |")
    print("\nWith `--min-confidence`:\n")
    print(HEADER.format(first="method, min confidence"))
    for (method, t), tally in sorted(by_threshold.items()):
        print(f"| {method} ≥ {t:g} | {_cells(tally.row())} |")


if __name__ == "__main__":
    main()
