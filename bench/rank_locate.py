"""Throughput of ``fdpo rank | fdpo locate`` on records of 10 candidates × 10 tests.

Records: HumanEval problems whose candidates are the canonical solution (1–5
times, some with an extra comment line) and one-token mutants of it, with a
pass matrix where correct candidates pass the 7 right tests and mutants a
random share of all 10. Measures, in the same run:

- the real pipeline, two processes joined by a pipe, against a reference pipeline
  of two processes that only parse and re-serialise every record (orjson);
- each stage's per-record work in process (rank by method; locate with and
  without snapping, on characters and on a byte-level BPE tokenizer's ids).

Run: nice -n 10 .venv/bin/python bench/rank_locate.py [--records 5000]
Threads: numpy / tokenizers use 1 thread (OMP/MKL/RAYON variables set to 1).
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "RAYON_NUM_THREADS"):
    os.environ[var] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"

import orjson  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from mutants import humaneval, mutants  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tools/ (tools.randmodel): the repository's, not installed with fdpo
FDPO = [str(Path(sys.executable).with_name("fdpo"))]
PASSTHROUGH = (
    "import sys, orjson\n"
    "out = sys.stdout.buffer\n"
    "for line in sys.stdin.buffer:\n"
    "    out.write(orjson.dumps(orjson.loads(line), option=orjson.OPT_APPEND_NEWLINE)); out.flush()\n"
)


def make_records(n: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    problems = [p for p in humaneval() if len(mutants(p["canonical_solution"], p["prompt"], random.Random(0), 9)) >= 5]
    records = []
    for k in range(n):
        p = problems[k % len(problems)]
        right = p["canonical_solution"]
        n_right = rng.randint(1, 5)
        wrong = mutants(right, p["prompt"], rng, 10 - n_right)
        responses = [right if i % 2 == 0 else "    # solve it\n" + right for i in range(n_right)] + wrong
        rows = []
        for i in range(len(responses)):
            if i < n_right:
                rows.append(["pass"] * 7 + ["fail"] * 3)
            else:
                rows.append([rng.choice(["pass", "fail"]) for _ in range(7)] + [rng.choice(["pass", "fail", "fail"]) for _ in range(3)])
        order = list(range(len(responses)))
        rng.shuffle(order)
        records.append(
            {
                "id": f"{p['task_id']}#{k}",
                "prompt": p["prompt"],
                "candidates": [
                    {"id": f"c{j}", "response": responses[i], "code": p["prompt"] + responses[i]} for j, i in enumerate(order)
                ],
                "tests": [{"id": f"t{j}", "response": f"assert {p['entry_point']}(...)", "code": "assert True"} for j in range(10)],
                "execution": {"outcomes": [rows[i] for i in order], "load": ["ok"] * len(order)},
            }
        )
    return records


def timed(fn, records) -> float:
    start = time.perf_counter()
    for r in records:
        fn(r)
    return len(records) / (time.perf_counter() - start)


def pipeline(first: list[str], second: list[str], src: Path) -> tuple[float, float]:
    """Wall seconds and CPU seconds (both processes, user + system) of ``first < src | second``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    with open(src, "rb") as stdin, open(os.devnull, "wb") as devnull:
        a = subprocess.Popen(first, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        b = subprocess.Popen(second, stdin=a.stdout, stdout=devnull, stderr=subprocess.DEVNULL)
        a.stdout.close()
        if b.wait() or a.wait():
            raise SystemExit(f"pipeline failed: {first} | {second}")
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=5000)
    args = parser.parse_args()

    from fdpo.locating.pairs import locate_record
    from fdpo.ranking.scoring import rank_record
    from tools.randmodel import build_tokenizer, default_corpus

    records = make_records(args.records)
    sample = records[:1000]
    print(f"# {args.records} records, 10 candidates x 10 tests each; python {sys.version.split()[0]}, 1 thread\n")

    print("## in process, one stage's own work per record (1,000 records)\n")
    print("| stage | records/s |")
    print("| --- | ---: |")
    for method in ("codedpo", "count", "codet", "pagerank"):
        print(f"| rank --method {method} | {timed(lambda r: rank_record(r, method), sample):,.0f} |")
    ranked = [rank_record(r) for r in sample]
    tokenizer = build_tokenizer(default_corpus(), 512)
    for label, kw in (
        ("locate (chars, snap)", {}),
        ("locate (chars, --no-snap)", {"snap": False}),
        ("locate (tokens, snap)", {"tokenizer": tokenizer}),
    ):
        print(f"| {label} | {timed(lambda r: locate_record(r, **kw), ranked):,.0f} |")

    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "executed.jsonl"
        src.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
        ref_wall, ref_cpu = pipeline([sys.executable, "-c", PASSTHROUGH], [sys.executable, "-c", PASSTHROUGH], src)
        wall, cpu = pipeline(FDPO + ["rank", str(src)], FDPO + ["locate"], src)
    n = args.records
    load = os.getloadavg()[0]
    print(f"\n## pipeline, two processes, start-up included (load average {load:.1f} on {os.cpu_count()} cores)\n")
    print("| pipeline | wall s | records/s (wall) | CPU s | records per CPU s |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for label, w, c in (("reference: orjson parse + dump, twice", ref_wall, ref_cpu), ("`fdpo rank` piped into `fdpo locate`", wall, cpu)):
        print(f"| {label} | {w:.2f} | {n / w:,.0f} | {c:.2f} | {n / c:,.0f} |")
    print(f"\nfdpo / reference: wall {wall / ref_wall:.1f}x, CPU {cpu / ref_cpu:.1f}x")


if __name__ == "__main__":
    main()
