"""Label and pair precision of each ranking method, on HumanEval+ mutants with wrong tests mixed in.

A realistic stand-in for self-generated data, built from HumanEval+ (v0.1.10):

- candidates: the canonical solution (1–5 identical copies, as a model repeats
  itself) and one-token mutants of it (an operator, keyword or number changed);
- visible tests (what `fdpo rank` sees), written as a model writes them,
  `assert f(*x) == <literal>` on HumanEval+ inputs: the literal is the canonical
  solution's output (a right test) or a mutant's differing output (a wrong test,
  wrong the way a model's own tests are wrong); plus the prompt's own examples,
  which `fdpo execute` adds (`fdpo.execution.examples`);
- hidden truth: a candidate is truly correct when it agrees with the canonical
  solution on every base input and up to 15 HumanEval+ inputs.

Everything runs once in the sandbox, with output probes, the way `fdpo execute`
runs it; then, per setting of wrong tests out of 10, every problem is drawn
``--draws`` times (which candidates, which tests, their order), ranked with each
method, and `fdpo locate` builds up to 3 pairs per record: top-1 accuracy,
precision of the `correct` and `incorrect` labels, pair precision and recall (the
share of records with both a truly right and a truly wrong candidate that get a
pair), per method and per `--min-confidence` threshold.

It also runs ``fdpo locate --stats`` (the Phi table) on the paper's labels.

Run: nice -n 10 .venv/bin/python bench/rank_quality.py [--problems 164 --draws 20 --jobs 2]
     [--executed results.json]   (keeps the sandbox results, so a second run only re-scores)
"""

from __future__ import annotations

import argparse
import ast
import gzip
import json
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from labelquality import evaluate, table, without_examples  # noqa: E402
from mutants import mutants  # noqa: E402

from fdpo.execution.examples import prompt_tests  # noqa: E402
from fdpo.locating.pairs import locate_record  # noqa: E402
from fdpo.locating.phi import PhiStats  # noqa: E402
from fdpo.ranking.scoring import rank_record  # noqa: E402

DATA = Path(os.environ.get("FDPO_DATA_DIR", Path(__file__).resolve().parents[2] / "shared" / "data"))
POOL_TESTS = 10  # right tests and wrong tests executed per problem (each)
HIDDEN_PLUS = 15
MAX_INPUT_CHARS = 300
MAX_VALUE_CHARS = 300
SETTINGS = (2, 5, 7)  # wrong tests out of 10

# Hidden tests raise instead of asserting, so that `fdpo execute` makes no output probe of them.
HIDDEN = """import math as _math
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
if not _same({entry}(*{args!r}), _ns[{entry!r}](*{args!r})):
    raise AssertionError("differs from the reference")
"""
SHOW = "print({marker!r} + repr({entry}(*{args!r})))"


def load_problems(limit: int) -> list[dict]:
    with gzip.open(DATA / "HumanEvalPlus.jsonl.gz", "rt") as f:
        return [json.loads(line) for line in f][:limit]


def small(inputs: list) -> list:
    return [x for x in inputs if len(repr(x)) <= MAX_INPUT_CHARS]


def prepare(problem: dict, rng: random.Random) -> dict | None:
    """Candidate pool (the solution first, then mutants), visible inputs and hidden tests of one problem."""
    prompt, right = problem["prompt"], problem["canonical_solution"]
    wrong = mutants(right, prompt, rng, 12)
    base, plus = small(problem["base_input"]), small(problem["plus_input"])
    if len(wrong) < 4 or len(base) + len(plus) < 4:
        return None
    rng.shuffle(plus)
    inputs = base + plus
    visible = [rng.choice(inputs) for _ in range(2 * POOL_TESTS)]
    hidden = [HIDDEN.format(atol=problem["atol"] or 0, reference=prompt + right, args=args, entry=problem["entry_point"])
              for args in base + plus[:HIDDEN_PLUS]]
    return {"task_id": problem["task_id"], "prompt": prompt, "entry": problem["entry_point"],
            "responses": [right, *wrong[:9]], "inputs": visible, "hidden": hidden,
            "examples": prompt_tests(prompt, problem["entry_point"])}


def _values(pools: list[dict], ex) -> None:
    """What every response returns on every visible input, as a Python literal (None: no usable value)."""
    for pool in pools:
        shows = [SHOW.format(marker=f"@@{k}@@", entry=pool["entry"], args=args) for k, args in enumerate(pool["inputs"])]
        pool["values"] = []
        for result in ex.map((pool["prompt"] + r, shows, None) for r in pool["responses"]):
            seen = {}
            for line in result.output.splitlines():
                if line.startswith("@@") and "@@" in line[2:]:
                    k, value = line[2:].split("@@", 1)
                    seen[int(k)] = value
            pool["values"].append([_literal(seen.get(k)) for k in range(len(shows))])


def _literal(text: str | None) -> str | None:
    if text is None or len(text) > MAX_VALUE_CHARS:
        return None
    try:
        ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None
    return text


def _visible_tests(pool: dict, rng: random.Random) -> list[str]:
    """POOL_TESTS right tests (the solution's value) then POOL_TESTS wrong ones (a mutant's differing value),
    written as a model writes them: ``assert f(*args) == <literal>``."""
    entry, right = pool["entry"], pool["values"][0]
    call = lambda k: f"{entry}(*{pool['inputs'][k]!r})"
    right_tests = [f"assert {call(k)} == {right[k]}" for k in range(POOL_TESTS) if right[k] is not None]
    wrong = [(k, v[k]) for v in pool["values"][1:] for k in range(POOL_TESTS, 2 * POOL_TESTS)
             if v[k] is not None and right[k] is not None and v[k] != right[k]]
    rng.shuffle(wrong)
    wrong_tests = list(dict.fromkeys(f"assert {call(k)} == {value}" for k, value in wrong))[:POOL_TESTS]
    return right_tests + wrong_tests if len(right_tests) == POOL_TESTS and len(wrong_tests) == POOL_TESTS else []


def execute(pools: list[dict], jobs: int, seed: int) -> list[dict]:
    """The pools that have enough tests, each with ``execution`` (outcomes and probes) of responses × (the
    prompt's examples + visible tests), run the way `fdpo execute` runs them, and ``truly_correct`` per response
    (from the hidden tests)."""
    from fdpo.execution.matrix import execute as run_records, execution_field
    from fdpo.sandbox import Executor, Limits

    rng = random.Random(seed)
    limits = Limits(timeout=1.0, load_timeout=2.0)
    with Executor(jobs=jobs, limits=limits) as ex:
        _values(pools, ex)
        kept = []
        for pool in pools:
            pool["tests"] = _visible_tests(pool, rng)
            if pool["tests"]:
                kept.append(pool)
        records = ({"id": p["task_id"], "candidates": [{"id": i, "code": p["prompt"] + r} for i, r in enumerate(p["responses"])],
                    "tests": [{"id": j, "code": t} for j, t in enumerate(p["examples"] + p["tests"] + p["hidden"])]}
                   for p in kept)
        for pool, (record, plan) in zip(kept, run_records(records, ex, examples=False)):
            execution = execution_field(plan, limits)
            v = len(pool["examples"]) + len(pool["tests"])
            pool["execution"] = {key: [row[:v] for row in execution[key]] for key in ("outcomes", "probes")}
            pool["execution"]["load"] = execution["load"]
            pool["truly_correct"] = [load == "ok" and all(s == "pass" for s in row[v:])
                                     for load, row in zip(execution["load"], execution["outcomes"])]
    return kept


def draw(pool: dict, n_wrong_tests: int, rng: random.Random) -> tuple[dict, list[bool]]:
    """One executed record drawn from a pool, and which of its candidates are truly correct."""
    n_right = rng.randint(1, 5)
    picks = [0] * n_right + rng.sample(range(1, len(pool["responses"])), min(10 - n_right, len(pool["responses"]) - 1))
    rng.shuffle(picks)
    e = len(pool["examples"])
    tests = rng.sample(range(POOL_TESTS), 10 - n_wrong_tests) + [POOL_TESTS + j for j in rng.sample(range(POOL_TESTS), n_wrong_tests)]
    rng.shuffle(tests)
    tests = list(range(e)) + [e + t for t in tests]
    codes = pool["examples"] + pool["tests"]
    ex = pool["execution"]
    record = {
        "id": pool["task_id"],
        "prompt": pool["prompt"],
        "candidates": [{"id": f"c{i}", "response": pool["responses"][k], "code": pool["prompt"] + pool["responses"][k]}
                       for i, k in enumerate(picks)],
        "tests": [{"id": f"t{j}", "response": "", "code": codes[t], **({"source": "prompt"} if t < e else {})}
                  for j, t in enumerate(tests)],
        "execution": {
            "outcomes": [[ex["outcomes"][k][t] for t in tests] for k in picks],
            "probes": [[ex["probes"][k][t] for t in tests] for k in picks],
            "load": [ex["load"][k] for k in picks],
        },
    }
    return record, [pool["truly_correct"][k] for k in picks]


def score(pools: list[dict], n_wrong_tests: int, draws: int, seed: int) -> tuple[dict, float, PhiStats]:
    """Each variant's row, the top-1 accuracy of a random pick, and the Phi table of the paper's labels."""
    rng = random.Random(seed)
    items = [draw(pool, n_wrong_tests, rng) for pool in pools for _ in range(draws)]
    random_top1 = 0.0
    for record, truth in items:
        ok = [truth[i] for i, status in enumerate(record["execution"]["load"]) if status == "ok"]
        random_top1 += sum(ok) / len(ok) if ok else 0.0
    phi = PhiStats()
    for record, _ in items:
        ranked = rank_record(without_examples(record), "codedpo")
        phi.add(ranked, locate_record(ranked, min_confidence=0.0)[1])
    return evaluate(items), random_top1 / len(items), phi


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
        prepared = [p for p in (prepare(problem, rng) for problem in load_problems(args.problems)) if p]
        start = time.perf_counter()
        pools = execute(prepared, args.jobs, args.seed)
        seconds = time.perf_counter() - start
        if args.executed:
            args.executed.write_text(json.dumps({"pools": pools, "seconds": seconds}))
    kept = [p for p in pools if p["truly_correct"][0]]  # the canonical solution must pass its own hidden tests
    truly = sum(sum(p["truly_correct"][1:]) for p in kept)
    print(f"# {len(kept)} HumanEval+ problems (of {len(pools)} with enough right and wrong tests; {args.problems} read), "
          f"{sum(len(p['responses']) for p in kept)} distinct candidates executed in {seconds:.0f} s; "
          f"{truly} of the mutants are truly correct (equivalent)\n")
    for n_wrong in SETTINGS:
        rows, random_top1, phi = score(kept, n_wrong, args.draws, args.seed)
        print(f"## {n_wrong} of 10 visible tests wrong ({len(kept) * args.draws} drawn records; "
              f"a random pick is truly correct {random_top1:.1%} of the time)\n")
        print(table(rows))
        print(f"\n`fdpo locate --stats` on the paper's labels ({phi.pairs} pairs):\n")
        print("| segment | in correct | in incorrect | Phi | paper Phi |")
        print("| --- | ---: | ---: | ---: | ---: |")
        for name, row in phi.result()["segments"].items():
            rates = [f"{k / n:.0%}" if n else "–" for k, n in ((row["in_correct"], row["correct"]), (row["in_incorrect"], row["incorrect"]))]
            value = "–" if row["phi"] is None else f"{row['phi']:+.3f}"
            print(f"| {name} | {rates[0]} | {rates[1]} | {value} | {row['paper_phi']:+.3f} |")
        print()


if __name__ == "__main__":
    main()
