"""fdpo select: keep the best pairs by Diff over the whole file and split them into train / validation.

Covers the command line: reading every pair first (this stage is global, not per
record), writing the training pairs to stdout or ``-o`` and the validation pairs
to ``--val-out``, the warnings and the closing summary. The ranking and the split
are ``fdpo.selection``. Does not cover making or scoring pairs (``fdpo locate``)
or training on them (``fdpo train``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from fdpo.console import console, warn
from fdpo.errors import handle_errors, report
from fdpo.jsonl import Sink
from fdpo.options import InputArg, OutputOpt, SkipInvalidOpt, stage_io
from fdpo.stage import check_output, run_stage

HELP = """Keep the best pairs by Diff over the whole file: --train pairs for training, --val for validation.

Reads the pairs of `fdpo locate`, ranks them all by `diff.value` (highest first, ties in
input order), keeps the best --train + --val (the paper: 5,000 + 1,000) and splits them by
problem: all pairs of a problem go to the same side, so validation never sees a problem
that training saw. Validation problems are drawn by a hash of --seed and the problem's id
(not by Diff), so validation has the same mix of Diff as training, and the same input and
seed give the same split. --max-per-problem keeps one problem from
filling the set with near copies. Pairs with an `error` or without a numeric
`diff.value` are not selected and are counted in the summary. With fewer pairs than
asked, both sides shrink in the same ratio, with a warning. docs/select.md has the details.

Example: fdpo select pairs.jsonl --train 5000 --val 1000 -o train.jsonl --val-out val.jsonl"""


def _usage(message: str) -> None:
    report("select", message)
    raise typer.Exit(2)


@handle_errors("select")
def command(
    input: InputArg = None,
    output: OutputOpt = None,
    train: Annotated[int, typer.Option("--train", min=0, help="Training pairs to keep (written to stdout or -o).")] = 5000,
    val: Annotated[int, typer.Option("--val", min=0, help="Validation pairs to keep (written to --val-out).")] = 1000,
    val_out: Annotated[
        Optional[Path],
        typer.Option("--val-out", help="Write the validation pairs to this file (needed when --val > 0).", show_default=False),
    ] = None,
    max_per_problem: Annotated[
        Optional[int],
        typer.Option(
            "--max-per-problem",
            min=1,
            help="Keep at most this many pairs of one problem, its best first. [default: no cap]",
            show_default=False,
        ),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the draw of validation problems.")] = 0,
    skip_invalid: SkipInvalidOpt = False,
) -> None:
    if val > 0 and val_out is None:
        _usage(f"--val {val} needs --val-out FILE for the validation pairs (or --val 0 for none)")
    if val_out is not None and str(val_out) == "-":
        _usage("--val-out needs a file: stdout carries the training pairs")
    if val_out is not None and output is not None and val_out.resolve() == output.resolve():
        _usage("--val-out and -o are the same file")
    if train + val == 0:
        _usage("--train 0 --val 0 selects nothing")
    check_output(val_out, "--val-out", inputs=[input])

    # lazy: fdpo.selection (and hashlib) is not loaded by `fdpo --help`
    from fdpo.selection import describe, select

    def transform(records, summary):
        chosen = select(records, train, val, max_per_problem=max_per_problem, seed=seed)
        if chosen.pool < train + val:
            warn(
                f"only {chosen.pool} pairs to select from for --train {train} --val {val}: keeping "
                f"{chosen.train_target} train / {chosen.val_target} validation pairs (the same ratio)"
            )
        if len(chosen.val) < chosen.val_target:
            warn(
                f"validation has {len(chosen.val)} pairs, not {chosen.val_target}: no remaining problem fits whole "
                "(--max-per-problem makes problems smaller)"
            )
        summary.counts.update(
            {
                "train": len(chosen.train),
                "train problems": chosen.train_problems,
                "val": len(chosen.val),
                "val problems": chosen.val_problems,
            }
        )
        summary.counts.update(chosen.left_out)
        console.print(
            f"fdpo select: Diff of train pairs {describe([r['diff']['value'] for r in chosen.train])}, "
            f"of validation pairs {describe([r['diff']['value'] for r in chosen.val])}",
            soft_wrap=True,
        )
        if val_out is not None:
            sink = Sink(val_out)
            try:
                for record in chosen.val:
                    sink.write(record)
                    summary.written += 1
            finally:
                sink.close()
        yield from chosen.train

    io = stage_io(input, output, resume=False, shard=None, skip_invalid=skip_invalid)
    run_stage("select", io, transform, grouped=True, unit="pair")
