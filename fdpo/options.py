"""Command-line options shared by several commands, defined once.

Covers the JSONL plumbing options every stage takes (input, ``-o``, ``--resume``,
``--shard``, ``--skip-invalid``) and ``--model``. Stage-specific options live
with their command.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from fdpo.stage import Shard, StageIO


def _shard(value: Optional[str]) -> Optional[str]:
    if value is not None:
        try:
            Shard.parse(value)
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from None
    return value


InputArg = Annotated[
    Optional[str],
    typer.Argument(help="JSONL input file; '-' or nothing reads stdin.", show_default=False),
]
OutputOpt = Annotated[
    Optional[Path],
    typer.Option("--output", "-o", help="Write JSONL to this file instead of stdout.", show_default=False),
]
ResumeOpt = Annotated[
    bool,
    typer.Option(
        "--resume",
        help="With -o FILE: keep the complete records already in FILE and skip their inputs (by id).",
    ),
]
ShardOpt = Annotated[
    Optional[str],
    typer.Option(
        "--shard",
        metavar="I/N",
        callback=_shard,
        help="Process only shard I of N (counting from 0): records I, I+N, I+2N, …",
        show_default=False,
    ),
]
SkipInvalidOpt = Annotated[
    bool,
    typer.Option("--skip-invalid", help="Skip malformed lines (counted in the summary) instead of stopping."),
]
ModelOpt = Annotated[
    str,
    typer.Option(
        "--model",
        "-m",
        help="Hugging Face model folder or hub name, or a built-in model such as builtin:tiny-coder.",
    ),
]


def stage_io(
    input: Optional[str],
    output: Optional[Path],
    resume: bool,
    shard: Optional[str],
    skip_invalid: bool,
) -> StageIO:
    return StageIO(
        input=input,
        output=output,
        resume=resume,
        shard=Shard.parse(shard) if shard else None,
        skip_invalid=skip_invalid,
    )
