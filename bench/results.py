"""The numbers of docs/results.md: `fdpo demo` over several seeds, plus ablations on the same pairs.

For each seed it runs `fdpo demo --seed S` (sample → execute → rank → locate → train
Focused-DPO and DPO → eval, exactly as `make demo` does), then trains and evaluates, from that
seed's pairs, the variants the paper ablates:

- ``w=1``, ``w=5``: Focused-DPO with another weight on the middle (the demo trains w = 2);
- ``keep suffix``: Focused-DPO with the rejected suffix kept in the loss (weight 1);
- ``10 pairs/problem``: Focused-DPO and DPO on the pairs `fdpo locate --pairs-per-problem 10`
  builds from the same ranked file (the demo keeps 3);
- ``paper labels …``: the same candidates labelled as the paper does (`fdpo rank --method
  codedpo` over the model's own tests, the prompt's examples left out, no abstention), then the
  same locate and train — what fdpo's labels add;
- ``oracle …``: the same candidates labelled by the problems' hidden tests instead
  (the demo's `fdpo audit` judged them), then the same locate and train — what the
  self-verified labels still cost.

It reports how many pairs the hidden tests confirm (the demo checks that), and runs the
canonical solution against the model's tests (are wrong labels due to wrong tests, or to right
tests too weak to tell?).

Every step is a real `fdpo` process; the variants run ``--jobs`` at a time on one torch thread
each. Writes ``OUT/results.json`` and prints the tables of docs/results.md.

    .venv/bin/python bench/results.py --seeds 0 1 2 --out results-out
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from fdpo.jsonl import read_records, write_records

sys.path.insert(0, str(Path(__file__).parent))
from labelquality import without_examples  # noqa: E402

DATA = Path(__file__).resolve().parents[1] / "fdpo" / "data"
EVAL_SET = DATA / "tiny_eval.jsonl"
MODEL = "builtin:tiny-coder"
VARIANTS = {  # label -> (pairs file, extra `fdpo train` flags)
    "w=1": ("pairs", ["--w-focused", "1"]),
    "w=5": ("pairs", ["--w-focused", "5"]),
    "keep suffix": ("pairs", ["--rejected-suffix", "keep"]),
    "FDPO, 10 pairs/problem": ("pairs-10", []),
    "DPO, 10 pairs/problem": ("pairs-10", ["--no-focus"]),
    "paper labels FDPO": ("paper-pairs", []),
    "paper labels DPO": ("paper-pairs", ["--no-focus"]),
    "oracle FDPO": ("oracle-pairs", []),
    "oracle DPO": ("oracle-pairs", ["--no-focus"]),
    "oracle FDPO, 10 pairs/problem": ("oracle-pairs-10", []),
    "oracle DPO, 10 pairs/problem": ("oracle-pairs-10", ["--no-focus"]),
}
ROWS = ["base", "DPO", "Focused-DPO", *VARIANTS]


def fdpo(*args: str, threads: int | None = None, stdout=subprocess.DEVNULL) -> None:
    env = dict(os.environ)
    if threads:
        env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    subprocess.run([sys.executable, "-m", "fdpo", *args], check=True, env=env, stdout=stdout)


def hidden_verdicts(folder: Path) -> dict[str, dict[str, bool]]:
    """{problem id: {candidate id: passes the hidden tests}}, from the demo's own `fdpo audit`.

    The audit judged each candidate by the program `fdpo execute` ran (its ``code``); a
    candidate without code (null) did not load and counts as wrong.
    """
    return {r["id"]: {c["id"]: bool(t) for c, t in zip(r["candidates"], r["audit"]["truth"])}
            for r in read_records(folder / "audited.jsonl") if "candidates" in r and not r.get("error")}


def truth_tests(folder: Path, usable: list[dict], right: dict[str, dict[str, bool]]) -> dict[str, int]:
    """Why labels go wrong: are the model's tests, and rank's truth tests, right?

    Runs each problem's canonical solution against all the tests the model wrote, with
    `fdpo execute`. Counts the tests that are right, and the split problems by (every truth
    test right or not) × (every candidate labelled correct passes the hidden tests or not).
    """
    probes = [{"id": r["id"], "prompt": r["prompt"], "entry_point": r["entry_point"], "tests": r["tests"],
               "candidates": [{"id": "canonical", "code": r["prompt"] + r["canonical_solution"]}]} for r in usable]
    executed = folder / "tests-executed.jsonl"
    write_records(folder / "tests-canonical.jsonl", probes)
    fdpo("execute", str(folder / "tests-canonical.jsonl"), "-o", str(executed))
    counts = {"tests": 0, "tests right": 0}
    for record, done in zip(usable, read_records(executed)):
        outcomes = (done.get("execution") or {}).get("outcomes") or [[]]  # a record without tests has none
        test_right = {t["id"]: o == "pass" for t, o in zip(record["tests"], outcomes[0])}
        counts["tests"] += len(test_right)
        counts["tests right"] += sum(test_right.values())
        ranking = record["ranking"]
        if ranking.get("reason"):
            continue
        tests_right = all(test_right[t] for t in ranking["truth_tests"])
        labels_right = all(right[record["id"]][c] for c in ranking["correct"])
        key = f"truth tests {'right' if tests_right else 'wrong'}, labels {'right' if labels_right else 'wrong'}"
        counts[key] = counts.get(key, 0) + 1
    return counts


def oracle_pairs(folder: Path, usable: list[dict], right: dict[str, dict[str, bool]]) -> None:
    """Relabel the ranked candidates by the hidden tests, then locate exactly as the demo does."""
    relabelled = []
    for record in copy.deepcopy(usable):
        right_here = right[record["id"]]
        ranking = record["ranking"]
        ranking["correct"] = [i for i, ok in right_here.items() if ok]
        ranking["incorrect"] = [i for i, ok in right_here.items() if not ok]
        ranking["reason"] = None if ranking["correct"] and ranking["incorrect"] else "hidden tests: no split"
        relabelled.append(record)
    write_records(folder / "oracle-ranked.jsonl", relabelled)
    locate(folder, "oracle-ranked", "oracle-pairs", 3, "--min-confidence", "0")


def paper_pairs(folder: Path) -> None:
    """The paper's labels for the same executed candidates: codedpo over the model's own tests, no abstention."""
    executed = [without_examples(r) if "execution" in r else r for r in read_records(folder / "executed.jsonl")]
    write_records(folder / "paper-executed.jsonl", executed)
    fdpo("rank", str(folder / "paper-executed.jsonl"), "--method", "codedpo", "-o", str(folder / "paper-ranked.jsonl"))
    locate(folder, "paper-ranked", "paper-pairs", 3, "--min-confidence", "0")


def locate(folder: Path, ranked: str, pairs: str, per_problem: int, *flags: str) -> None:
    fdpo("locate", str(folder / f"{ranked}.jsonl"), "--tokenizer", MODEL, "--pairs-per-problem", str(per_problem),
         *flags, "-o", str(folder / f"{pairs}.jsonl"))


def variant(folder: Path, seed: int, label: str, epochs: str) -> float:
    pairs, flags = VARIANTS[label]
    name = "".join(c for c in label.replace(" ", "-") if c.isalnum() or c == "-")
    report = folder / f"eval-variant-{name}.json"
    if report.is_file():
        return pass_at_1(report)
    checkpoint = folder / f"variant-{name}"
    fdpo("train", str(folder / f"{pairs}.jsonl"), "-m", MODEL, "--seed", str(seed), "--epochs", epochs, *flags,
         "-O", str(checkpoint), threads=1)
    fdpo("eval", "-b", str(EVAL_SET), "-m", str(checkpoint), "--label", label, "--max-tokens", "192",
         "--backend", "transformers", "--report", str(report), "-o", str(folder / f"eval-variant-{name}.jsonl"),
         threads=1)
    return pass_at_1(report)


def pass_at_1(report: Path) -> float:
    return 100 * next(iter(json.loads(report.read_text())["scores"].values()))["pass@1"]


def run_seed(out: Path, seed: int, jobs: int, epochs: str) -> dict:
    folder = out / f"seed-{seed}"
    if not (folder / "summary.json").is_file():
        fdpo("demo", "--out", str(folder), "--seed", str(seed), "--epochs", epochs, stdout=None)
    summary = json.loads((folder / "summary.json").read_text())
    usable = [r for r in read_records(folder / "ranked.jsonl") if "candidates" in r and not r.get("error")]
    right = hidden_verdicts(folder)
    oracle_pairs(folder, usable, right)
    paper_pairs(folder)
    locate(folder, "ranked", "pairs-10", 10)
    locate(folder, "oracle-ranked", "oracle-pairs-10", 10, "--min-confidence", "0")
    with ThreadPoolExecutor(jobs) as pool:
        futures = {label: pool.submit(variant, folder, seed, label, epochs) for label in VARIANTS}
        scores = {label: 100 * summary["pass@1"][label] for label in ("base", "DPO", "Focused-DPO")}
        scores |= {label: future.result() for label, future in futures.items()}
    return {
        "seed": seed,
        "pass@1": scores,
        "pairs": summary["pairs"],
        "pair counts": {name: len(read_records(folder / f"{name}.jsonl"))
                        for name in ("pairs", "pairs-10", "paper-pairs", "oracle-pairs", "oracle-pairs-10")},
        "labels": summary["pair labels"],
        "pair precision": summary["pair precision"],
        "pair recall": summary["pair recall"],
        "paper labels": pair_labels(right, read_records(folder / "paper-pairs.jsonl")),
        "tests and splits": truth_tests(folder, usable, right),
        "phi": json.loads((folder / "phi.json").read_text())["segments"],
        "seconds": summary["seconds"],
    }


def pair_labels(right: dict[str, dict[str, bool]], pairs: list[dict]) -> dict[str, int]:
    """How many pairs the hidden tests confirm (chosen right, rejected wrong), and the other kinds."""
    kinds = {(True, False): "right", (False, False): "both wrong", (True, True): "both right", (False, True): "reversed"}
    counts = dict.fromkeys(kinds.values(), 0)
    for p in pairs:
        counts[kinds[right[p["problem_id"]][p["chosen_id"]], right[p["problem_id"]][p["rejected_id"]]]] += 1
    return counts


def table(runs: list[dict]) -> str:
    seeds = [r["seed"] for r in runs]
    lines = ["| model | " + " | ".join(f"seed {s}" for s in seeds) + " | mean | spread (min–max) |",
             "| --- |" + " ---: |" * (len(seeds) + 2)]
    for row in ROWS:
        values = [r["pass@1"][row] for r in runs]
        cells = " | ".join(f"{v:.1f}" for v in values)
        lines.append(f"| {row} | {cells} | {statistics.mean(values):.1f} | {min(values):.1f}–{max(values):.1f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", type=Path, default=Path("results-out"))
    parser.add_argument("--jobs", type=int, default=2, help="variants trained and evaluated at once")
    parser.add_argument("--epochs", default="8", help="as fdpo demo's --epochs")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    runs = [run_seed(args.out, seed, args.jobs, args.epochs) for seed in args.seeds]
    (args.out / "results.json").write_text(json.dumps(runs, indent=2) + "\n")
    print(table(runs))
    for run in runs:
        phi = {name: seg["phi"] for name, seg in run["phi"].items()}
        print(f"seed {run['seed']}: pairs {run['pair counts']}, labels {run['labels']}, paper labels "
              f"{run['paper labels']}, precision {run['pair precision']}, recall {run['pair recall']}, "
              f"tests and splits {run['tests and splits']}, Phi {phi}")


if __name__ == "__main__":
    main()
