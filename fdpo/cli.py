"""The ``fdpo`` Typer app: registers one command per stage and runs it.

Each stage lives in ``fdpo/commands/<name>.py`` and exposes ``command``; its
heavy imports (torch, transformers, vllm) happen inside the command so that
``fdpo --help`` stays instant. Usage errors (a bad flag value, an unknown
option) print one line, ``fdpo <cmd>: error: <what>``, and exit 2. ``main``
also makes a closed stdout pipe (``fdpo rank big.jsonl | head -1``) end quietly.
"""

from __future__ import annotations

import importlib
import os
import sys

import typer
from typer.core import TyperGroup

from fdpo import __version__

#: The pipeline in order.
STAGES = ["synth", "sample", "execute", "rank", "locate", "audit", "select", "train", "eval"]
#: Everything the app offers: the stages, then the end-to-end demo built on them.
COMMANDS = [*STAGES, "demo"]


class _Group(TyperGroup):
    """The command group, with a command's usage errors on one line.

    A bad flag value, an unknown option or a missing argument prints
    ``fdpo <cmd>: error: <what>`` (the format of ``fdpo.errors``) and exits 2,
    instead of Typer's usage text and boxed message.
    """

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except Exception as exc:
            # Typer's (vendored click's) errors have format_message/show/exit_code; the
            # "no arguments: show the help" signal keeps its own handling.
            if not _is_click_error(exc) or type(exc).__name__ == "NoArgsIsHelpError":
                raise
            where = getattr(exc, "ctx", None)
            command = where.info_name if where is not None and where.parent is not None else None
            message = " ".join(exc.format_message().split())  # one line, whatever the message
            sys.stderr.write(f"fdpo{' ' + command if command else ''}: error: {message}\n")
            sys.stderr.flush()
            raise typer.Exit(exc.exit_code) from None


def _is_click_error(exc: BaseException) -> bool:
    return all(hasattr(exc, a) for a in ("format_message", "show", "exit_code"))


app = typer.Typer(
    name="fdpo",
    cls=_Group,
    help=(
        "Focused-DPO for code models, as JSONL stages that pipe into each other.\n\n"
        "Example: fdpo sample problems.jsonl -m builtin:tiny-coder | fdpo execute | "
        "fdpo rank | fdpo locate > pairs.jsonl"
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"fdpo {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version."),
) -> None:
    """Focused-DPO for code models."""


def _register() -> None:
    for name in COMMANDS:
        module = importlib.import_module(f"fdpo.commands.{name}")
        app.command(name=name, help=module.HELP, no_args_is_help=getattr(module, "NO_ARGS_IS_HELP", False))(
            module.command
        )


_register()


def main() -> None:
    try:
        app()
    except BrokenPipeError:
        # The reader went away (e.g. `| head`): stop quietly, as the Python docs advise.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(1)
