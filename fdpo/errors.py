"""One error format for every command: ``fdpo <cmd>: error: <what>``, exit 1.

Covers the ``FdpoError`` exception that stages raise for problems the user can
fix, and the decorator that turns it (and unexpected exceptions) into that
message. ``FDPO_DEBUG=1`` re-raises instead, so the traceback is shown.
Usage errors (bad flags) are Typer's and exit 2; they do not pass through here,
except ``UsageError``, for a command line that is well-formed but cannot work
(the same file as input and output), which exits 2 with the same one line.
An interrupted run (SIGINT, or SIGTERM, which the decorator turns into the
same ``KeyboardInterrupt``) says how to continue it and exits 130 (143 for SIGTERM).
Also the one rule for a failure inside a stage (``record_error``): it is the
record's ``error`` unless it ``ends_the_run``.
"""

from __future__ import annotations

import functools
import os
import signal
import sys
import threading

import typer


class FdpoError(Exception):
    """A failure the user can act on; its message is shown without a traceback."""


class UsageError(FdpoError):
    """A command line that cannot work as given: one line, exit 2 (as Typer's usage errors)."""


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised as a ``KeyboardInterrupt`` so that the same clean-up runs as for Ctrl-C."""


#: How to continue an interrupted run, for the commands where it is not ``--resume``.
CONTINUE = {"synth": None, "select": None, "demo": None,
            "train": "continue from the last checkpoint with --resume-from-checkpoint latest"}


def debug() -> bool:
    return os.environ.get("FDPO_DEBUG", "") not in ("", "0")


def error_text(exc: BaseException, limit: int = 500) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= limit else text[:limit] + "…"


def ends_the_run(exc: Exception) -> bool:
    """Whether ``exc`` must stop the run rather than become one record's ``error``: an
    ``FdpoError`` (a server down, a bad flag), or anything under ``FDPO_DEBUG`` (to see the traceback)."""
    return isinstance(exc, FdpoError) or debug()


def record_error(exc: Exception) -> str:
    """The ``error`` text of a record that ``exc`` failed; raises ``exc`` again when it ``ends_the_run``."""
    if ends_the_run(exc):
        raise exc
    return error_text(exc)


def report(command: str, message: str) -> None:
    # Plain write rather than rich: a message must never be re-wrapped or styled away.
    sys.stderr.write(f"fdpo {command}: error: {message}\n")
    sys.stderr.flush()


def handle_errors(command: str):
    """Decorate a command so its failures exit 1 with one readable line."""

    def wrap(fn):
        @functools.wraps(fn)
        def run(*args, **kwargs):
            previous = _catch_sigterm()
            try:
                return fn(*args, **kwargs)
            except KeyboardInterrupt as exc:
                if debug():
                    raise
                terminated = isinstance(exc, Terminated)
                hint = CONTINUE.get(command, "rerun with --resume")
                sys.stderr.write(f"fdpo {command}: {'terminated' if terminated else 'interrupted'}"
                                 + (f"; {hint}" if hint else "") + "\n")
                sys.stderr.flush()
                raise typer.Exit(143 if terminated else 130) from None
            except (typer.Exit, typer.Abort, BrokenPipeError):
                raise
            except FdpoError as exc:
                if debug():
                    raise
                report(command, str(exc))
                raise typer.Exit(2 if isinstance(exc, UsageError) else 1) from None
            except Exception as exc:  # noqa: BLE001 - the one central formatter
                if debug() or _is_usage_error(exc):
                    raise
                report(command, f"{type(exc).__name__}: {exc} (FDPO_DEBUG=1 shows the traceback)")
                raise typer.Exit(1) from None
            finally:
                if previous is not None:
                    signal.signal(signal.SIGTERM, previous)

        return run

    return wrap


def _catch_sigterm():
    """Make SIGTERM raise ``Terminated`` in this process (not in forked children); the old handler, or None."""
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGTERM) != signal.SIG_DFL:
        return None
    owner = os.getpid()

    def terminate(signum, frame):
        if os.getpid() != owner:  # a fork that inherited the handler dies as it would have
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)
            return
        raise Terminated()

    return signal.signal(signal.SIGTERM, terminate)


def _is_usage_error(exc: Exception) -> bool:
    # Typer's vendored click exceptions carry an exit_code and must reach Typer (exit 2).
    return hasattr(exc, "exit_code") and hasattr(exc, "show")
