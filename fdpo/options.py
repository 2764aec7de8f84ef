"""Command-line options shared by several commands, defined once.

Covers the JSONL plumbing options every stage takes (input, ``-o``, ``--resume``,
``--shard``, ``--skip-invalid``) and ``--model``, the checks every command puts on
its flag values (a bad value exits 2 with one line, before anything loads), the
engine flags of every command that loads a model and the sandbox flags of every
command that runs code. Stage-specific options live with their command.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any, Callable, Optional

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


# --- Checked flag values ---------------------------------------------------------------
# Every check is a Typer callback: a bad value is a usage error (exit 2, one line naming
# the flag) found while the command line is parsed, so before any model loads. None (an
# optional flag left out) always passes. ``check.problem(value)`` gives the same verdict
# as text, for values that do not come from a flag (``fdpo train --config``).


def check(what: str, test: Callable[[Any], bool]) -> Callable[[Any], Any]:
    """A callback that refuses values failing ``test`` with ``must be WHAT, got VALUE``."""

    def problem(value: Any) -> Optional[str]:
        if value is None:
            return None
        try:
            ok = bool(test(value))
        except (TypeError, ValueError):
            ok = False
        return None if ok else f"must be {what}, got {value!r}"

    def callback(value: Any) -> Any:
        why = problem(value)
        if why is not None:
            raise typer.BadParameter(why)
        return value

    callback.what, callback.problem = what, problem
    return callback


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


non_negative = check("a finite number >= 0", lambda v: _finite(v) and v >= 0)
positive = check("a finite number > 0", lambda v: _finite(v) and v > 0)
probability = check("a number in (0, 1]", lambda v: _finite(v) and 0 < v <= 1)
fraction = check("a number in [0, 1)", lambda v: _finite(v) and 0 <= v < 1)


def at_least(low: int) -> Callable[[Any], Any]:
    """An integer >= ``low``."""
    return check(f"an integer >= {low}", lambda v: _integer(v) and v >= low)


def between(low: float, high: float, unit: str = "a number") -> Callable[[Any], Any]:
    """A finite number in [``low``, ``high``] (time limits: the sandbox cannot wait forever)."""
    return check(f"{unit} in [{low:g}, {high:g}]", lambda v: _finite(v) and low <= v <= high)


def one_of(*names: str) -> Callable[[Any], Any]:
    return check("one of " + ", ".join(names), lambda v: v in names)


DTYPES = ("auto", "float32", "bfloat16", "float16")
backend_name = one_of("vllm", "transformers", "openai")
dtype_name = one_of(*DTYPES)
style_name = one_of("auto", "completion", "chat")
#: Seconds a test (or a program's input) may run, at most: an hour.
MAX_SECONDS = 3600.0

# --- Engine flags: every command that loads a model (sample, synth, eval) --------------
# The defaults that differ by command (temperature, max tokens) stay with the command.
MaybeModelOpt = Annotated[
    Optional[str],
    typer.Option("--model", "-m", help="Hugging Face model folder or hub name, or a built-in model such as "
                 "builtin:tiny-coder.", show_default=False),
]
BackendOpt = Annotated[
    Optional[str],
    typer.Option(callback=backend_name, help="vllm, transformers or openai. [default: vllm when a GPU and vLLM are "
                 "present, else transformers]", show_default=False),
]
StyleOpt = Annotated[
    str,
    typer.Option(callback=style_name, help="auto (chat when the model has a chat template), completion (the prompt "
                 "is continued) or chat (the prompt is a user message in the model's chat template)."),
]
TemperatureOpt = Annotated[float, typer.Option(callback=non_negative, help="Sampling temperature; 0 is greedy.")]
TopPOpt = Annotated[float, typer.Option("--top-p", callback=probability, help="Nucleus sampling mass.")]
MaxTokensOpt = Annotated[int, typer.Option("--max-tokens", callback=at_least(1), help="Most tokens per generation.")]
SeedOpt = Annotated[Optional[int], typer.Option(help="Seed for reproducible samples.", show_default=False)]
BatchSizeOpt = Annotated[
    Optional[int],
    typer.Option("--batch-size", callback=at_least(1), help="Problems (synth: seeds) per engine call. [default: vllm 256, "
                 "transformers 8, openai 64]", show_default=False),
]
BaseUrlOpt = Annotated[
    Optional[str],
    typer.Option("--base-url", help="openai: server URL ending in /v1. [default: $OPENAI_BASE_URL or "
                 "http://127.0.0.1:8000/v1]", show_default=False),
]
ApiKeyEnvOpt = Annotated[
    Optional[str],
    typer.Option("--api-key-env", help="openai: environment variable holding the API key. [default: OPENAI_API_KEY, "
                 "optional]", show_default=False),
]
ConcurrencyOpt = Annotated[int, typer.Option(callback=at_least(1), help="openai: most requests in flight.")]
TensorParallelOpt = Annotated[
    int, typer.Option("--tensor-parallel-size", callback=at_least(1), help="vllm: GPUs to shard the model over.")
]
DtypeOpt = Annotated[str, typer.Option(callback=dtype_name, help="Weights dtype: " + ", ".join(DTYPES) + ".")]

# --- Sandbox flags: every command that runs code (execute, eval, audit) ------------------
JobsOpt = Annotated[
    Optional[int],
    typer.Option("--jobs", callback=at_least(1), help="Programs run in parallel. [default: the number of cores]",
                 show_default=False),
]
MemoryOpt = Annotated[
    int,
    typer.Option("--memory-mb", "--memory", callback=at_least(16), help="Address-space limit of each program's "
                 "process, in MB."),
]
PinOpt = Annotated[
    Optional[bool],
    typer.Option("--pin-workers/--no-pin-workers", help="Keep each sandbox worker, and the programs it runs, on a "
                 "CPU of its own. [default: when --jobs is at least the number of cores]", show_default=False),
]
