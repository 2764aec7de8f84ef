"""How often each ranking method's top candidate is truly correct, next to random choice.

A realistic stand-in for self-generated data, built from HumanEval+ (v0.1.10):

- candidates: the canonical solution (1–5 identical copies, as a model repeats
  itself) and one-token mutants of it (an operator, keyword or number changed);
- visible tests (what `fdpo rank` sees): `assert f(*x) == expected` on HumanEval+
  inputs, the expected value from the canonical solution (a right test) or from
  a mutant (a deliberately wrong test, the kind of wrong test a model writes);
- hidden truth: a candidate is truly correct when it agrees with the canonical
  solution on every base input and up to 15 HumanEval+ inputs.

Everything runs once in the sandbox (``fdpo.sandbox.Executor``); then, per
setting of wrong tests out of 10, every problem is drawn ``--draws`` times
(which candidates, which tests, their order), ranked with each method, and scored:
top-1 accuracy, precision of the `correct` labels, and the share of
(correct, incorrect) pairs that really are (truly correct, truly incorrect).

It also runs ``fdpo locate --stats`` (the Phi table) on the records ranked by ``codedpo``.

Run: nice -n 10 .venv/bin/python bench/rank_quality.py [--problems 164 --draws 20 --jobs 2]
     [--executed results.json]   (keeps the sandbox results, so a second run only re-scores)
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from mutants import mutants  # noqa: E402

from fdpo.pairs import locate_record  # noqa: E402
from fdpo.phi import PhiStats  # noqa: E402
from fdpo.ranking import METHODS, rank_record  # noqa: E402

DATA = Path(os.environ.get("FDPO_DATA_DIR", Path(__file__).resolve().parents[2] / "shared" / "data"))
POOL_TESTS = 10  # right tests and wrong tests executed per problem (each)
HIDDEN_PLUS = 15
MAX_INPUT_CHARS = 300
SETTINGS = (2, 5, 7)  # wrong tests out of 10

TEST = """import math as _math
def _same(a, b):
    if isinstance(a, float) or isinstance(b, float):
        try:
            return _math.isclose(a, b, rel_tol=1e-6, abs_tol={atol}) or (a != a and b != b)
        except TypeError:
            return False
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b
_ns = {{}}
exec({reference!r}, _ns)
assert _same({entry}(*{args!r}), _ns[{entry!r}](*{args!r}))
"""


def load_problems(limit: int) -> list[dict]:
    with gzip.open(DATA / "HumanEvalPlus.jsonl.gz", "rt") as f:
        return [json.loads(line) for line in f][:limit]


def small(inputs: list) -> list:
    return [x for x in inputs if len(repr(x)) <= MAX_INPUT_CHARS]


def prepare(problem: dict, rng: random.Random) -> dict | None:
    """Candidate pool, visible test pool (right, wrong) and hidden tests of one problem."""
    prompt, right = problem["prompt"], problem["canonical_solution"]
    wrong = mutants(right, prompt, rng, 12)
    base, plus = small(problem["base_input"]), small(problem["plus_input"])
    if len(wrong) < 4 or len(base) + len(plus) < 4:
        return None
    rng.shuffle(plus)
    inputs = base + plus
    test = lambda body, args: TEST.format(atol=problem["atol"] or 0, reference=prompt + body, args=args, entry=problem["entry_point"])
    right_tests = [test(right, rng.choice(inputs)) for _ in range(POOL_TESTS)]
    wrong_tests = [test(rng.choice(wrong), rng.choice(inputs)) for _ in range(POOL_TESTS)]
    hidden = [test(right, args) for args in base + plus[:HIDDEN_PLUS]]
    return {
        "task_id": problem["task_id"],
        "prompt": prompt,
        "responses": [right, *wrong[:9]],
        "tests": right_tests + wrong_tests,
        "hidden": hidden,
    }


def execute(pools: list[dict], jobs: int) -> None:
    """Adds per candidate: ``load``, ``visible`` statuses and ``truly_correct``."""
    from fdpo.sandbox import Executor, Limits

    with Executor(jobs=jobs, limits=Limits(timeout=1.0, load_timeout=2.0)) as ex:
        for pool in pools:
            tests = pool["tests"] + pool["hidden"]
            results = list(ex.map((pool["prompt"] + r, tests, None) for r in pool["responses"]))
            if len(results) != len(pool["responses"]):
                raise SystemExit(f"{pool['task_id']}: the sandbox returned {len(results)} results for {len(pool['responses'])} candidates")
            pool["load"] = [r.load for r in results]
            pool["visible"] = [r.statuses[: len(pool["tests"])] for r in results]
            pool["truly_correct"] = [r.load == "ok" and all(s == "pass" for s in r.statuses[len(pool["tests"]) :]) for r in results]


def draw(pool: dict, n_wrong_tests: int, rng: random.Random) -> tuple[dict, list[bool]]:
    """One executed record drawn from a pool, and which of its candidates are truly correct."""
    n_right = rng.randint(1, 5)
    picks = [0] * n_right + rng.sample(range(1, len(pool["responses"])), min(10 - n_right, len(pool["responses"]) - 1))
    rng.shuffle(picks)
    tests = rng.sample(range(POOL_TESTS), 10 - n_wrong_tests) + [POOL_TESTS + j for j in rng.sample(range(POOL_TESTS), n_wrong_tests)]
    rng.shuffle(tests)
    record = {
        "id": pool["task_id"],
        "prompt": pool["prompt"],
        "candidates": [{"id": f"c{i}", "response": pool["responses"][k], "code": ""} for i, k in enumerate(picks)],
        "tests": [{"id": f"t{j}", "response": "", "code": ""} for j in range(len(tests))],
        "execution": {
            "outcomes": [[pool["visible"][k][t] for t in tests] for k in picks],
            "load": [pool["load"][k] for k in picks],
        },
    }
    return record, [pool["truly_correct"][k] for k in picks]


def score(pools: list[dict], n_wrong_tests: int, draws: int, seed: int) -> tuple[dict[str, dict[str, float]], PhiStats]:
    """The metrics per method, and ``fdpo locate --stats`` over the records ranked by ``codedpo``."""
    rng = random.Random(seed)
    phi = PhiStats()
    sums: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    n = 0
    for pool in pools:
        for _ in range(draws):
            record, truth = draw(pool, n_wrong_tests, rng)
            ok = [truth[i] for i, status in enumerate(record["execution"]["load"]) if status == "ok"]
            n += 1
            sums["random"]["top1"] += sum(ok) / len(ok) if ok else 0.0
            sums["oracle"]["top1"] += any(ok)
            index = {c["id"]: i for i, c in enumerate(record["candidates"])}
            for method in METHODS:
                ranking = rank_record(record, method)["ranking"]
                s = sums[method]
                s["top1"] += ranking["top"] is not None and truth[index[ranking["top"]]]
                correct = [truth[index[c]] for c in ranking["correct"]]
                incorrect = [truth[index[c]] for c in ranking["incorrect"]]
                s["labelled correct"] += len(correct)
                s["truly correct among them"] += sum(correct)
                s["pairs"] += len(correct) * len(incorrect)
                s["right pairs"] += sum(correct) * (len(incorrect) - sum(incorrect))
                s["usable"] += ranking["reason"] is None
                if method == "codedpo":
                    ranked = {**record, "ranking": ranking}
                    phi.add(ranked, locate_record(ranked)[1])
    table = {}
    for name, s in sums.items():
        row = {"top1": s["top1"] / n}
        if name in METHODS:
            row["precision"] = s["truly correct among them"] / max(s["labelled correct"], 1)
            row["pair precision"] = s["right pairs"] / max(s["pairs"], 1)
            row["usable"] = s["usable"] / n
        table[name] = row
    return table, phi


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--problems", type=int, default=164)
    parser.add_argument("--draws", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--executed", type=Path, help="JSON cache of the sandbox results: read if it exists, else written")
    args = parser.parse_args()

    if args.executed and args.executed.exists():
        saved = json.loads(args.executed.read_text())
        pools, seconds = saved["pools"], saved["seconds"]
    else:
        rng = random.Random(args.seed)
        pools = [p for p in (prepare(problem, rng) for problem in load_problems(args.problems)) if p]
        start = time.perf_counter()
        execute(pools, args.jobs)
        seconds = time.perf_counter() - start
        if args.executed:
            args.executed.write_text(json.dumps({"pools": pools, "seconds": seconds}))
    kept = [p for p in pools if p["truly_correct"][0]]  # the canonical solution must pass its own hidden tests
    truly = sum(sum(p["truly_correct"][1:]) for p in kept)
    print(f"# {len(kept)} HumanEval+ problems (of {len(pools)} prepared; {args.problems} read), "
          f"{sum(len(p['responses']) for p in kept)} distinct candidates executed in {seconds:.0f} s; "
          f"{truly} of the mutants are truly correct (equivalent)\n")
    for n_wrong in SETTINGS:
        table, phi = score(kept, n_wrong, args.draws, args.seed)
        print(f"## {n_wrong} of 10 visible tests wrong ({len(kept) * args.draws} drawn records)\n")
        print("| method | top-1 truly correct | `correct` labels truly correct | pairs (truly correct, truly incorrect) | usable split |")
        print("| --- | ---: | ---: | ---: | ---: |")
        for name in ("random", *METHODS, "oracle"):
            row = table[name]
            cells = [f"{row['top1']:.1%}"] + [f"{row[k]:.1%}" if k in row else "" for k in ("precision", "pair precision", "usable")]
            print(f"| {name} | " + " | ".join(cells) + " |")
        print(f"\n`fdpo locate --stats` on the `codedpo` records ({phi.pairs} pairs):\n")
        print("| segment | in correct | in incorrect | Phi | paper Phi |")
        print("| --- | ---: | ---: | ---: | ---: |")
        for name, row in phi.result()["segments"].items():
            rates = [f"{k / n:.0%}" if n else "–" for k, n in ((row["in_correct"], row["correct"]), (row["in_incorrect"], row["incorrect"]))]
            value = "–" if row["phi"] is None else f"{row['phi']:+.3f}"
            print(f"| {name} | {rates[0]} | {rates[1]} | {value} | {row['paper_phi']:+.3f} |")
        print()


if __name__ == "__main__":
    main()
