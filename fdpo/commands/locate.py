"""fdpo locate: turn ranked records into preference pairs with their error-prone point.

Does not cover ranking (``fdpo rank``) or training on the pairs (``fdpo train``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import orjson
import typer

from fdpo.console import console, warn
from fdpo.errors import FdpoError, handle_errors, record_error
from fdpo.jsonl import replace_file
from fdpo.locating.pairs import MIN_CONFIDENCE, locate_record, problem_key
from fdpo.models import find_model
from fdpo.options import InputArg, OutputOpt, ResumeOpt, ShardOpt, SkipInvalidOpt, between, non_negative, stage_io
from fdpo.stage import check_output, run_stage

HELP = """Write one line per preference pair: the shared prefix, each response's mid (the
error-prone point) and the shared suffix, as character spans into each response.

Pairs are (correct, incorrect) candidates of a ranked record, best first by
Diff = rank gap + λ · shared length (the score gap over the record's score spread, the
shared prefix + suffix over the longer response; docs/locate.md). The shared parts are
whole, identical tokens: the policy's with --tokenizer, else Python's. Mids are widened
to whole expressions or statements with tree-sitter (whole lines where a response does
not parse); --paper keeps the paper's plain prefix / suffix match instead.
--reject-unloaded also pairs against candidates whose code did not load;
--min-confidence skips records the ranking is unsure of.
--stats prints how the segments go with correctness (the paper's Phi analysis).

Example: fdpo locate ranked.jsonl --tokenizer builtin:tiny-coder -o pairs.jsonl"""


def _tokenizer(name: str):
    """A fast Hugging Face tokenizer from a folder, hub name or ``builtin:NAME``."""
    try:
        path = find_model(name, "tokenizer")  # fails at once offline, or for a missing folder
    except FdpoError as exc:
        raise FdpoError(f"cannot load tokenizer {exc}") from None
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
    except (OSError, ValueError) as exc:
        raise FdpoError(f"cannot load tokenizer {name!r}: {exc}") from None
    if not tokenizer.is_fast:
        raise FdpoError(f"tokenizer {name!r} has no fast version: character offsets of tokens are needed")
    return tokenizer


@handle_errors("locate")
def command(
    input: InputArg = None,
    output: OutputOpt = None,
    tokenizer: Annotated[
        Optional[str],
        typer.Option(
            help="The policy's tokenizer (folder, hub name or builtin:NAME): match prefix/suffix on token ids.",
            show_default=False,
        ),
    ] = None,
    snap: Annotated[
        Optional[bool],
        typer.Option(
            "--snap/--no-snap",
            help="Widen mids to syntax boundaries (the default, except with --paper; --no-snap: unsnapped spans).",
            show_default=False,
        ),
    ] = None,
    paper: Annotated[
        bool,
        typer.Option("--paper", help="The paper's selection: plain prefix / suffix match (--no-snap; token ids with "
                     "--tokenizer) and no abstention (--min-confidence 0)."),
    ] = False,
    reject_unloaded: Annotated[
        bool,
        typer.Option("--reject-unloaded", help="Also reject candidates whose code did not load (ranking.unloaded)."),
    ] = False,
    min_confidence: Annotated[
        Optional[float],
        typer.Option(
            callback=between(0.0, 1.0),
            help=f"Skip records whose ranking.confidence is below this (absent: 1.0; 0: never skip). "
            f"[default: {MIN_CONFIDENCE}, 0 with --paper]",
            show_default=False,
        ),
    ] = None,
    lam: Annotated[float, typer.Option("--lambda", callback=non_negative, help="Weight of the shared length in Diff.")] = 1.0,
    pairs_per_problem: Annotated[int, typer.Option(min=1, help="Pairs kept per problem, best Diff first.")] = 1,
    stats: Annotated[bool, typer.Option("--stats", help="Print the Phi table of segments vs correctness on stderr.")] = False,
    stats_out: Annotated[
        Optional[Path], typer.Option(help="Also write the Phi statistics as JSON here (implies --stats).", show_default=False)
    ] = None,
    resume: ResumeOpt = False,
    shard: ShardOpt = None,
    skip_invalid: SkipInvalidOpt = False,
) -> None:
    # lazy: fdpo.locating.phi is not loaded by `fdpo --help`; only --stats needs it
    from fdpo.locating.phi import PhiStats

    if paper and snap:
        raise typer.BadParameter("--paper turns snapping off; leave out --snap", param_hint="'--snap'")
    snap = not paper if snap is None else snap
    if paper and min_confidence is None:
        min_confidence = 0.0
    if paper and not tokenizer:
        warn("--paper without --tokenizer matches characters (cut at Python token boundaries), not the policy's tokens")
    check_output(stats_out, "--stats-out", inputs=[input])
    tok = _tokenizer(tokenizer) if tokenizer else None
    phi = PhiStats() if stats or stats_out else None

    def transform(records, summary):
        # The output holds pairs only: a record that cannot give one (an upstream error,
        # or a failure here) is named on stderr and counted, so `train` never sees it.
        for record in records:
            if record.get("error"):
                summary.counts["no pair (upstream error)"] += 1
                continue
            try:
                lines, pairs, reason = locate_record(
                    record,
                    tokenizer=tok,
                    snap=snap,
                    lam=lam,
                    per_problem=pairs_per_problem,
                    reject_unloaded=reject_unloaded,
                    min_confidence=min_confidence,
                )
            except Exception as exc:  # noqa: BLE001 - one bad record must not stop the stage
                why = record_error(exc)
                summary.errors += 1
                # A ValueError says what is wrong with the record; anything else is shown with its type.
                warn(f"record {record.get('id')!r}: {exc if isinstance(exc, ValueError) else why}")
                continue
            if reason:
                summary.counts[f"no pair ({reason})"] += 1
            if phi is not None:
                phi.add(record, pairs)
            yield from lines

    io = stage_io(input, output, resume, shard, skip_invalid)
    run_stage("locate", io, transform, output_key=problem_key, grouped=True)
    if phi is not None:
        phi.print(console)
        if stats_out:
            replace_file(stats_out, orjson.dumps(phi.result(), option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE))
