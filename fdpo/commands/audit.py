"""fdpo audit: judge every candidate against hidden tests and report how precise the labels are.

Covers the command line (where the hidden tests come from, ``--pairs``, ``--report``,
parallelism), the stage loop, the one-line summary and the table on stderr. Does not
cover finding hidden tests, judging or counting (see ``fdpo.audit``).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Optional

import orjson
import typer
from rich.table import Table

from fdpo import __version__
from fdpo.console import console
from fdpo.errors import FdpoError, handle_errors
from fdpo.jsonl import read_records, replace_file
from fdpo.options import InputArg, JobsOpt, MemoryOpt, OutputOpt, PinOpt, ResumeOpt, ShardOpt, SkipInvalidOpt, stage_io
from fdpo.stage import check_output, run_stage

HELP = """Judge every candidate against hidden tests the pipeline never reads; report label precision.

Reads ranked (or executed, or sampled) records and runs each candidate's `code` against
the hidden tests in the sandbox, by the rules of `fdpo eval`: a benchmark (-b humaneval,
humaneval+, mbpp, mbpp+ or a FILE of problems, matched by `task_id`, else `id`), or
without -b the record's own `test` + `entry_point` (or EvalPlus `base_input` +
`canonical_solution`). Adds `audit`: `truth` (true / false / null per candidate),
`outcomes`, `task_id`, `benchmark`, `reason` (why there are no hidden tests, else null).
A record that already has `audit.truth` for every candidate is not run again
(--rejudge runs it). The summary says how many `correct` / `incorrect` labels of
`fdpo rank` are right and, with --pairs, how many of `fdpo locate`'s pairs are right
(pair precision) and how many mixed problems got a pair (recall); --report keeps all
numbers as JSON.

Example: fdpo audit ranked.jsonl -b humaneval+ --pairs pairs.jsonl --report audit.json -o audited.jsonl"""


@handle_errors("audit")
def command(
    input: InputArg = None,
    output: OutputOpt = None,
    benchmark: Annotated[
        Optional[str],
        typer.Option("--benchmark", "-b", show_default=False,
                     help="Hidden tests from humaneval, humaneval+, mbpp, mbpp+ or a JSONL FILE of problems "
                          "(as fdpo eval -b). Default: each record's own test + entry_point."),
    ] = None,
    pairs: Annotated[
        Optional[Path],
        typer.Option(help="fdpo locate's pairs of these records: also report pair precision and recall.",
                     show_default=False),
    ] = None,
    report: Annotated[Optional[Path], typer.Option(help="Also write every number as JSON here.", show_default=False)] = None,
    rejudge: Annotated[bool, typer.Option("--rejudge", help="Run candidates again even where audit.truth is present.")] = False,
    jobs: JobsOpt = None,
    memory_mb: MemoryOpt = 4096,
    pin_workers: PinOpt = None,
    resume: ResumeOpt = False,
    shard: ShardOpt = None,
    skip_invalid: SkipInvalidOpt = False,
) -> None:
    # lazy: fdpo.audit and the sandbox pool (~35 ms: evaluation, urllib, email) are not loaded by `fdpo --help`
    from fdpo.audit import HiddenTests, audit_stream, label_report, slim, summary_counts
    from fdpo.sandbox import Executor, Limits

    started = time.time()
    io = stage_io(input, output, resume, shard, skip_invalid)
    check_output(report, "--report", inputs=[input, pairs])
    check_output(output, inputs=[pairs])
    pair_records = _read_pairs(pairs) if pairs else None
    hidden = HiddenTests(benchmark, jobs=jobs, memory_mb=memory_mb, pin=pin_workers)
    result: dict = {}

    def transform(records, summary):
        kept = []
        with Executor(jobs=jobs, limits=Limits(memory_mb=memory_mb), pin=pin_workers) as executor:
            for record, what in audit_stream(records, hidden, executor, rejudge=rejudge):
                if what == "error":
                    summary.errors += 1
                elif what == "upstream error":
                    summary.counts["upstream errors passed on"] += 1
                else:
                    summary.counts[what] += 1
                kept.append(slim(record))
                yield record
        # With --resume the numbers cover the records of earlier runs too, which only the file holds.
        everything = [slim(r) for r in read_records(output)] if resume and output else kept
        result.update(label_report(everything, pair_records))
        for name, text in summary_counts(result).items():  # texts, so not Counter.update (which adds)
            summary.counts[name] = text

    try:
        run_stage("audit", io, transform)
    finally:
        hidden.close()
    _print_table(console, result)
    if report:
        meta = {"benchmark": hidden.name, "input": input or "-", "pairs_file": str(pairs) if pairs else None,
                "fdpo_version": __version__, "date": time.strftime("%Y-%m-%d %H:%M:%S"),
                "seconds": round(time.time() - started, 1)}
        replace_file(report, orjson.dumps({**meta, **result}, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE))


def _read_pairs(path: Path) -> list[dict]:
    pairs = read_records(path)
    for n, pair in enumerate(pairs, start=1):
        if not all(k in pair for k in ("problem_id", "chosen_id", "rejected_id")):
            raise FdpoError(f"{path}: pair {n}: expected fdpo locate's problem_id, chosen_id and rejected_id")
    return pairs


def _pct(value) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def _print_table(console, result: dict) -> None:
    if not result:
        return
    table = Table(title="labels vs hidden tests", title_justify="left")
    table.add_column("what")
    table.add_column("count", justify="right")
    table.add_column("share", justify="right")
    cands = result["candidates"]
    table.add_row("problems audited", f"{result['audited']}/{result['records']}", "")
    table.add_row("candidates truly correct", f"{cands['truly_correct']}/{cands['judged']}",
                  _pct(cands["truly_correct"] / cands["judged"] if cands["judged"] else None))
    problems = result["problems"]
    table.add_row("problems mixed (right and wrong)", str(problems["mixed"]), "")
    table.add_row("problems with no right candidate", str(problems["none_right"]), "")
    if result["ranked"]:
        table.add_row("problems with a usable split", str(problems["usable_split"]), "")
        for side in ("correct", "incorrect"):
            row = result["labels"][side]
            table.add_row(f"'{side}' labels truly {side}", f"{row[f'truly_{side}']}/{row['judged']}", _pct(row["precision"]))
    if "pairs" in result:
        p = result["pairs"]
        table.add_row("pairs: right / both wrong / reversed / both right",
                      f"{p['right']} / {p['both_wrong']} / {p['reversed']} / {p['both_right']}", "")
        table.add_row("pair precision", f"{p['right']}/{p['built'] - p['not_judged']}", _pct(p["precision"]))
        table.add_row("mixed problems with a pair", f"{p['mixed_with_pair']}/{p['mixed']}", _pct(p["recall"]))
        table.add_row("mixed problems with a right pair", f"{p['mixed_with_right_pair']}/{p['mixed']}",
                      _pct(p["right_recall"]))
    console.print(table)
