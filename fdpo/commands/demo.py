"""fdpo demo: the whole method on the built-in model, by calling the public stages.

Covers running sample → execute → rank → locate → train (Focused-DPO and plain
DPO) → eval as real ``fdpo`` processes, one artifact file per stage, and the
closing table (pass@1, pairs, time per stage) with a bar chart. When the
problems carry hidden tests (the bundled ones do), ``fdpo audit`` checks rank's
labels and the pairs against them (pair precision and recall, label precision);
the pipeline itself never reads them.
Does not add any logic of its own to the method: every number comes from a stage.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from fdpo.console import console
from fdpo.errors import FdpoError, handle_errors
from fdpo.jsonl import read_records
from fdpo.models import check_model
from fdpo.options import ModelOpt, at_least, positive

HELP = """Run the whole Focused-DPO method end to end on the built-in model and data.

Samples k candidates and tests per demo problem, executes them, ranks, locates the
error-prone points, trains Focused-DPO and, from the same pairs, plain DPO, then
evaluates base, DPO and Focused-DPO on the held-out set. Every step is a real
`fdpo` subcommand; its command line is printed, and its output is kept in --out.
When the problems carry hidden tests (the bundled ones do), `fdpo audit` also reports how
many pairs and labels they confirm; the pipeline itself never reads them.

Example: fdpo demo --out demo-out --seed 0"""

DATA = Path(__file__).resolve().parents[1] / "data"


@handle_errors("demo")
def command(
    out: Annotated[Path, typer.Option("--out", help="Folder for every stage's output, the checkpoints and the chart.")] = Path(
        "demo-out"
    ),
    model: ModelOpt = "builtin:tiny-coder",
    problems: Annotated[
        Path, typer.Option(help="Problems to sample on.", show_default="the bundled tiny_demo.jsonl")
    ] = DATA / "tiny_demo.jsonl",
    eval_set: Annotated[
        Path, typer.Option(help="Held-out evaluation set (HumanEval-shaped JSONL).", show_default="the bundled tiny_eval.jsonl")
    ] = DATA / "tiny_eval.jsonl",
    seed: Annotated[int, typer.Option(help="Seed of sampling and training.")] = 0,
    epochs: Annotated[float, typer.Option(callback=positive, help="Training passes over the pairs.")] = 8.0,
    pairs_per_problem: Annotated[int, typer.Option(callback=at_least(1), help="Pairs kept per problem by locate.")] = 3,
    max_tokens: Annotated[
        int, typer.Option(callback=at_least(1), help="Most tokens per generation (the built-in model's answers are short).")
    ] = 192,
) -> None:
    check_model(model)  # a missing or empty model folder fails before the first step
    out.mkdir(parents=True, exist_ok=True)
    steps = Steps(out)
    tok = ["--tokenizer", model]
    steps.run("sample", ["sample", str(problems), "-m", model, "--backend", "transformers", "--seed", str(seed),
                         "--max-tokens", str(max_tokens), "-o", steps.file("sampled")])
    steps.run("execute", ["execute", steps.file("sampled"), "-o", steps.file("executed")])
    steps.run("rank", ["rank", steps.file("executed"), "-o", steps.file("ranked")])
    steps.run("locate", ["locate", steps.file("ranked"), *tok, "--pairs-per-problem", str(pairs_per_problem),
                         "--stats-out", str(out / "phi.json"), "-o", steps.file("pairs")])
    pairs = len(read_records(out / "pairs.jsonl"))
    if pairs == 0:
        raise FdpoError("locate built no pairs: nothing to train on (see the rank summary above)")
    audit = _check_labels(steps, problems)
    train = ["train", steps.file("pairs"), "-m", model, "--seed", str(seed), "--epochs", str(epochs)]
    steps.run("train Focused-DPO", [*train, "-O", str(out / "focused-dpo")])
    steps.run("train DPO", [*train, "--no-focus", "-O", str(out / "dpo")])
    models = {"base": model, "DPO": str(out / "dpo"), "Focused-DPO": str(out / "focused-dpo")}
    reports = []
    for label, path in models.items():
        name = label.lower().replace(" ", "-")
        report = out / f"eval-{name}.json"
        steps.run(f"eval {label}", ["eval", "-b", str(eval_set), "-m", path, "--label", label, "--seed", str(seed),
                                    "--max-tokens", str(max_tokens), "--backend", "transformers", "--report", str(report), "-o", steps.file(f"eval-{name}")])
        reports.append(report)
    steps.run("compare", ["eval", "--compare", *map(str, reports), "--chart", str(out / "pass-at-1.png")])
    _summarise(out, steps, reports, pairs, audit)


class Steps:
    """Runs fdpo subcommands as processes and times them."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.seconds: dict[str, float] = {}

    def file(self, name: str) -> str:
        return str(self.out / f"{name}.jsonl")

    def run(self, label: str, args: list[str]) -> None:
        console.rule(f"[bold]{label}")
        console.print(f"[dim]$ fdpo {' '.join(args)}")
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "fdpo", *args], stdout=subprocess.DEVNULL)
        self.seconds[label] = time.perf_counter() - start
        if done.returncode != 0:
            raise FdpoError(f"step '{label}' failed (exit {done.returncode}); its output is in {self.out}")


def _check_labels(steps: Steps, problems: Path) -> dict[str, Any] | None:
    """How good rank's labels and locate's pairs were, by ``fdpo audit`` against the problems' own tests.

    The pipeline never reads those tests. Returns the audit report (pair kinds, pair
    precision and recall, rank's label precision); None when the problems carry no
    HumanEval-style ``test``, and the step is skipped.
    """
    records = read_records(problems)
    if not all(isinstance(r.get("test"), str) and "task_id" in r for r in records):
        return None
    report = steps.out / "audit.json"
    steps.run("check labels", ["audit", steps.file("ranked"), "-b", str(problems), "--pairs", steps.file("pairs"),
                               "--report", str(report), "-o", steps.file("audited")])
    return json.loads(report.read_text())


def _pair_labels(audit: dict[str, Any] | None) -> dict[str, Any]:
    """What summary.json says about the labels: pair kinds (as before), pair precision and recall, rank's precision."""
    if audit is None:
        return {"pair labels": None}
    pairs, labels = audit["pairs"], audit["labels"]
    kinds = {"right": "right", "both wrong": "both_wrong", "both right": "both_right", "reversed": "reversed"}
    return {
        "pair labels": {name: pairs[key] for name, key in kinds.items()},
        "pair precision": pairs["precision"],
        "pair recall": {"mixed problems": pairs["mixed"], "with a pair": pairs["recall"],
                        "with a right pair": pairs["right_recall"]},
        "rank label precision": {"correct": labels["correct"]["precision"],
                                 "incorrect": labels["incorrect"]["precision"]},
    }


def _summarise(out: Path, steps: Steps, reports: list[Path], pairs: int, audit: dict[str, Any] | None) -> None:
    labels = _pair_labels(audit)
    precision = labels.get("pair precision")
    caption = None if audit is None else f"pair precision {_pct(precision)} (hidden tests, fdpo audit)"
    table = Table(title="fdpo demo", caption=caption)
    table.add_column("model")
    table.add_column("pass@1", justify="right")
    scores = {}
    for report in reports:
        data = json.loads(report.read_text())
        row = next(iter(data["scores"].values()))
        scores[data["label"]] = row["pass@1"]
        table.add_row(data["label"], f"{100 * row['pass@1']:.1f}%")
    console.print(table)
    times = Table(title="time per stage")
    times.add_column("stage")
    times.add_column("seconds", justify="right")
    for label, seconds in steps.seconds.items():
        times.add_row(label, f"{seconds:.1f}")
    times.add_row("[bold]total", f"[bold]{sum(steps.seconds.values()):.1f}")
    console.print(times)
    console.print(f"{pairs} pairs built")
    kinds = labels["pair labels"]
    if kinds:
        recall, ranked = labels["pair recall"], labels["rank label precision"]
        console.print(f"the problems' hidden tests (which the pipeline never reads) confirm {kinds['right']} of them "
                      f"({_pct(precision)} pair precision: chosen passes, rejected fails); both wrong "
                      f"{kinds['both wrong']}, reversed {kinds['reversed']}, both right {kinds['both right']}; "
                      f"{_pct(recall['with a right pair'])} of the {recall['mixed problems']} problems with right and "
                      f"wrong candidates got a right pair; rank's 'correct' labels {_pct(ranked['correct'])} right, "
                      f"'incorrect' {_pct(ranked['incorrect'])}")
    summary = {"pass@1": scores, "pairs": pairs, **labels, "seconds": steps.seconds}
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    console.print(f"artifacts in {out}/ (summary.json, pass-at-1.png, every stage's JSONL, both checkpoints)")
    console.print("over 3 seeds, with ablations and the paper's labels for comparison: docs/results.md")


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.0f}%"
