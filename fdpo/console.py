"""Everything fdpo says to humans goes through here: one rich console on stderr.

Covers the shared stderr console, progress bars that never touch stdout, and
warnings. Does not cover data output (see ``fdpo.jsonl``).
"""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

console = Console(stderr=True, highlight=False)


class RateColumn(ProgressColumn):
    """Items per second over the whole run (``unit`` names the items)."""

    def __init__(self, unit: str = "rec") -> None:
        super().__init__()
        self.unit = unit

    def render(self, task) -> Text:
        elapsed = task.elapsed or 0.0
        rate = task.completed / elapsed if elapsed > 0 else 0.0
        return Text(f"{rate:,.1f} {self.unit}/s", style="cyan")


def progress(unit: str = "rec", *extra_columns: ProgressColumn) -> Progress:
    """A progress bar on stderr; stdout stays pure data.

    ``extra_columns`` are appended, e.g. a ``TextColumn("{task.fields[tok_s]}")``.
    """
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        RateColumn(unit),
        TimeElapsedColumn(),
        *extra_columns,
        console=console,
        redirect_stdout=False,
        redirect_stderr=False,
    )


def warn(message: str) -> None:
    """One line on stderr, never wrapped (it may be grepped) and never read as markup (paths may hold ``[``)."""
    console.print(Text.assemble(("warning:", "yellow"), " ", message), soft_wrap=True)
