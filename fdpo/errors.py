"""One error format for every command: ``fdpo <cmd>: error: <what>``, exit 1.

Covers the ``FdpoError`` exception that stages raise for problems the user can
fix, and the decorator that turns it (and unexpected exceptions) into that
message. ``FDPO_DEBUG=1`` re-raises instead, so the traceback is shown.
Usage errors (bad flags) are Typer's and exit 2; they do not pass through here.
"""

from __future__ import annotations

import functools
import os
import sys

import typer


class FdpoError(Exception):
    """A failure the user can act on; its message is shown without a traceback."""


def debug() -> bool:
    return os.environ.get("FDPO_DEBUG", "") not in ("", "0")


def report(command: str, message: str) -> None:
    # Plain write rather than rich: a message must never be re-wrapped or styled away.
    sys.stderr.write(f"fdpo {command}: error: {message}\n")
    sys.stderr.flush()


def handle_errors(command: str):
    """Decorate a command so its failures exit 1 with one readable line."""

    def wrap(fn):
        @functools.wraps(fn)
        def run(*args, **kwargs):
            try:
                return fn(*args, **kwargs)
            except (typer.Exit, typer.Abort, BrokenPipeError, KeyboardInterrupt):
                raise
            except FdpoError as exc:
                if debug():
                    raise
                report(command, str(exc))
                raise typer.Exit(1) from None
            except Exception as exc:  # noqa: BLE001 - the one central formatter
                if debug() or _is_usage_error(exc):
                    raise
                report(command, f"{type(exc).__name__}: {exc} (FDPO_DEBUG=1 shows the traceback)")
                raise typer.Exit(1) from None

        return run

    return wrap


def _is_usage_error(exc: Exception) -> bool:
    # Typer's vendored click exceptions carry an exit_code and must reach Typer (exit 2).
    return hasattr(exc, "exit_code") and hasattr(exc, "show")
