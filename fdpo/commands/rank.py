"""fdpo rank: score candidates and tests of executed records and label candidates correct / incorrect.

Does not cover running the code (``fdpo execute``) or building pairs (``fdpo locate``).
"""

from __future__ import annotations

from typing import Annotated

import typer

from fdpo.errors import handle_errors
from fdpo.options import InputArg, OutputOpt, ResumeOpt, ShardOpt, SkipInvalidOpt, stage_io
from fdpo.ranking.methods import DEFAULT_METHOD, METHODS
from fdpo.stage import per_record, run_stage

HELP = """Label each executed record's candidates `correct` / `incorrect`, with a confidence.

The default, `dual`, groups the candidates that loaded by their behaviour (what they return
on every test's inputs: `execution.probes`), scores a group of k candidates passing t tests
√k·(t + 1), and labels the best group that passes all the prompt's own examples `correct`,
every other candidate `incorrect`. `ranking.confidence` (the best group's lead over the
runner-up, per candidate) lets `fdpo locate` skip records whose labels are likely wrong.
Other methods (docs/rank.md): codedpo (the paper's: CodeDPO's mutual reinforcement, damping
0.85; correct = passes the top candidate's tests), consensus (the largest behaviour group,
MBR-exec), codet, count, pagerank. A record without a usable split says why in
`ranking.reason`.

Example: fdpo rank executed.jsonl -o ranked.jsonl; the paper's: fdpo rank --method codedpo"""


def _method(value: str) -> str:
    if value not in METHODS:
        raise typer.BadParameter(f"choose from {', '.join(METHODS)}")
    return value


@handle_errors("rank")
def command(
    input: InputArg = None,
    output: OutputOpt = None,
    method: Annotated[str, typer.Option(callback=_method, help=f"Scoring method: {', '.join(METHODS)}.")] = DEFAULT_METHOD,
    resume: ResumeOpt = False,
    shard: ShardOpt = None,
    skip_invalid: SkipInvalidOpt = False,
) -> None:
    # heavy: fdpo.ranking.scoring imports numpy; loaded only when the command runs, so `fdpo --help` stays light
    from fdpo.ranking.scoring import rank_record

    def transform(records, summary):
        for out in per_record(lambda r: rank_record(r, method))(records, summary):
            if "ranking" in out and not out.get("error"):
                summary.counts[out["ranking"]["reason"] or "usable split"] += 1
            yield out

    run_stage("rank", stage_io(input, output, resume, shard, skip_invalid), transform)
