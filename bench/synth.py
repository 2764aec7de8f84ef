"""Benchmark for `fdpo synth`: mining seeds from the standard library, and the duplicate index.

1. Seeds: the whole stdlib through ``iter_seeds`` with 1 and 2 worker processes, next to
   a bare tree-sitter parse of the same files (the floor: what reading and parsing cost
   before any concept is extracted).
2. Dedup: a stream of benchmark prompts and perturbed copies of them, screened with the
   MinHash/LSH index and with brute-force pairwise Jaccard (the reference); both must
   make the same keep/drop decisions.

Run: FDPO_DATA_DIR=../shared/data nice -n 10 .venv/bin/python bench/synth.py [--copies 4]
"""

from __future__ import annotations

import argparse
import random
import sysconfig
import time
from collections import Counter
from pathlib import Path


def bench_seeds(jobs_list: list[int]) -> None:
    from fdpo.synth.parsing import parse
    from fdpo.synth.seeds import SeedRules, find_files, iter_seeds

    files = find_files([sysconfig.get_paths()["stdlib"]])
    start = time.perf_counter()
    size = 0
    for f in files:
        data = Path(f).read_bytes()
        size += len(data)
        parse(data)
    floor = time.perf_counter() - start
    print(f"stdlib: {len(files)} files, {size / 1e6:.1f} MB")
    print(f"  parse only (reference)  {floor:6.2f} s")
    for jobs in jobs_list:
        counts: Counter = Counter()
        start = time.perf_counter()
        seeds = sum(len(batch) for _, batch in iter_seeds(files, SeedRules(), jobs=jobs, counts=counts))
        took = time.perf_counter() - start
        print(f"  iter_seeds --jobs {jobs}      {took:6.2f} s  {seeds} seeds, {seeds / took:,.0f} seeds/s, "
              f"{took / floor:.2f}x parse-only")


def bench_dedup(copies: int, threshold: float) -> None:
    from fdpo.synth.decontam import load_prompts
    from fdpo.synth.dedup import NearDuplicateIndex, jaccard, ngrams

    rng = random.Random(0)
    prompts = [p.text for p in load_prompts()]
    texts = list(prompts)
    for _ in range(copies):
        texts += [" ".join(w for w in p.split() if rng.random() > 0.1) for p in prompts]
    rng.shuffle(texts)

    start = time.perf_counter()
    index, lsh_kept = NearDuplicateIndex(threshold), []
    for i, text in enumerate(texts):
        if index.find(text) is None:
            index.add(str(i), text)
            lsh_kept.append(i)
    lsh = time.perf_counter() - start

    start = time.perf_counter()
    kept_grams, brute_kept = [], []
    for i, text in enumerate(texts):
        grams = ngrams(text, 3)
        if all(jaccard(grams, k) < threshold for k in kept_grams):
            kept_grams.append(grams)
            brute_kept.append(i)
    brute = time.perf_counter() - start

    same = sum(a == b for a, b in zip(lsh_kept, brute_kept))
    print(f"dedup: {len(texts)} texts ({len(prompts)} HumanEval+MBPP prompts + {copies} copies each, 10% of words "
          f"dropped), Jaccard >= {threshold}")
    print(f"  brute force (reference) {brute:6.2f} s  kept {len(brute_kept)}")
    print(f"  MinHash LSH index       {lsh:6.2f} s  kept {len(lsh_kept)}  "
          f"({brute / lsh:.1f}x faster, {same}/{len(brute_kept)} identical decisions)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=4)
    parser.add_argument("--threshold", type=float, default=0.7)
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    bench_seeds(args.jobs)
    bench_dedup(args.copies, args.threshold)


if __name__ == "__main__":
    main()
