"""A minimal stage on the shared driver, run as a real process by the streaming tests.

It copies each record and adds ``seen: true``; ``--delay`` slows it down so a
test can kill it mid-run; a record with ``"boom"`` raises, to show per-record
errors. It exercises exactly what every fdpo stage uses: options, run_stage,
per_record, the error decorator and main()'s closed-pipe handling.
"""

import time
from typing import Annotated

import typer

from fdpo import cli
from fdpo.errors import handle_errors
from fdpo.options import InputArg, OutputOpt, ResumeOpt, ShardOpt, SkipInvalidOpt, stage_io
from fdpo.stage import per_record, run_stage


@handle_errors("echo")
def echo(
    input: InputArg = None,
    output: OutputOpt = None,
    delay: Annotated[float, typer.Option(help="Seconds to sleep per record.")] = 0.0,
    resume: ResumeOpt = False,
    shard: ShardOpt = None,
    skip_invalid: SkipInvalidOpt = False,
) -> None:
    def one(record):
        if record.get("boom"):
            raise ValueError("boom")
        time.sleep(delay)
        return {**record, "seen": True}

    run_stage("echo", stage_io(input, output, resume, shard, skip_invalid), per_record(one))


cli.app.command(name="echo")(echo)

if __name__ == "__main__":
    cli.main()
