"""fdpo rank: score candidates and tests of executed records and label candidates correct / incorrect.

Does not cover running the code (``fdpo execute``) or building pairs (``fdpo locate``).
"""

from __future__ import annotations

from typing import Annotated

import typer

from fdpo.errors import handle_errors
from fdpo.options import InputArg, OutputOpt, ResumeOpt, ShardOpt, SkipInvalidOpt, stage_io
from fdpo.ranking import METHODS
from fdpo.stage import per_record, run_stage

HELP = """Score every candidate and test on the candidate–test pass graph, then label candidates.

The tests that the top-scored candidate passes become the truth tests; candidates that
pass all of them are `correct`, the other candidates that loaded are `incorrect`.
Methods (docs/rank.md): codedpo (CodeDPO's mutual reinforcement, damping 0.85, the
default), pagerank (networkx PageRank), count (tests passed), codet (CodeT dual
execution agreement). A record without a usable split says why in `ranking.reason`.

Example: fdpo rank executed.jsonl -o ranked.jsonl"""


def _method(value: str) -> str:
    if value not in METHODS:
        raise typer.BadParameter(f"choose from {', '.join(METHODS)}")
    return value


@handle_errors("rank")
def command(
    input: InputArg = None,
    output: OutputOpt = None,
    method: Annotated[str, typer.Option(callback=_method, help=f"Scoring method: {', '.join(METHODS)}.")] = "codedpo",
    resume: ResumeOpt = False,
    shard: ShardOpt = None,
    skip_invalid: SkipInvalidOpt = False,
) -> None:
    from fdpo.ranking import rank_record

    def transform(records, summary):
        for out in per_record(lambda r: rank_record(r, method))(records, summary):
            if "ranking" in out and not out.get("error"):
                summary.counts[out["ranking"]["reason"] or "usable split"] += 1
            yield out

    run_stage("rank", stage_io(input, output, resume, shard, skip_invalid), transform)
