"""The driver every JSONL stage runs on: read → shard → resume → transform → write.

Covers the shared loop (lazy reading, ``--shard``, ``--resume``, ``--skip-invalid``),
per-record error capture, progress on stderr and the closing summary, the
checks on every file a stage writes before any work starts (``check_output``),
and ids that repeat in the input (counted; ``occurrence`` tells them apart). A
stage supplies only a *transform*: a generator from input records to output
records. Does not cover any stage's own logic.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sized
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.progress import TextColumn

from fdpo.console import console, progress
from fdpo.errors import FdpoError, UsageError, record_error
from fdpo.jsonl import InvalidLine, Record, Sink, count_lines, iter_lines, open_input, parse_line, repeat_key

Transform = Callable[[Iterator[Record], "Summary"], Iterable[Record]]


@dataclass(frozen=True)
class Shard:
    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        """``"i/n"`` with 0 ≤ i < n."""
        try:
            i, n = (int(x) for x in text.split("/"))
        except ValueError:
            raise ValueError(f"expected i/n such as 0/4, got {text!r}") from None
        if n < 1 or not 0 <= i < n:
            raise ValueError(f"need 0 <= i < n, got {text!r} (shards count from 0)")
        return cls(i, n)

    def takes(self, position: int) -> bool:
        return position % self.count == self.index


@dataclass
class StageIO:
    """The options every stage shares, gathered from the command line."""

    input: str | None = None
    output: Path | None = None
    resume: bool = False
    shard: Shard | None = None
    skip_invalid: bool = False


@dataclass
class Summary:
    """What a run did; printed on stderr at the end and returned to callers."""

    stage: str
    read: int = 0
    written: int = 0
    errors: int = 0
    already_done: int = 0
    repeated: int = 0  # records whose id an earlier record of the input had
    repeated_ids: list = field(default_factory=list)  # the first few such ids, for the summary
    invalid_lines: list[int] = field(default_factory=list)
    counts: Counter = field(default_factory=Counter)
    seconds: float = 0.0

    def text(self) -> str:
        parts = [f"{self.read} read", f"{self.written} written"]
        if self.errors:
            parts.append(f"{self.errors} with error")
        if self.already_done:
            parts.append(f"{self.already_done} already done (--resume)")
        if self.repeated:
            shown = ", ".join(map(repr, self.repeated_ids[:3])) + (" …" if len(self.repeated_ids) > 3 else "")
            what = "record repeats" if self.repeated == 1 else "records repeat"
            parts.append(f"warning: {self.repeated} {what} an earlier id ({shown})")
        if self.invalid_lines:
            shown = ", ".join(map(str, self.invalid_lines[:10]))
            more = " …" if len(self.invalid_lines) > 10 else ""
            parts.append(f"{len(self.invalid_lines)} invalid lines skipped ({shown}{more})")
        extra = ", ".join(f"{k}: {v}" for k, v in self.counts.items())
        return f"fdpo {self.stage}: " + ", ".join(parts) + (f"; {extra}" if extra else "") + f" [{self.seconds:.1f}s]"


class Repeated(dict):
    """An input record whose id an earlier record of the input already had (the n-th: ``occurrence`` n)."""

    occurrence: int = 1


def occurrence(record: Record) -> int:
    """1 for the first record of the input with this id, 2 for the second, … (over the whole input, all shards)."""
    return getattr(record, "occurrence", 1)


def check_output(path: Path | str | None, option: str = "-o", *, inputs=(), folder: bool = False) -> None:
    """Refuse, before any work starts, an output that the run could not write or must not write.

    ``path`` (a file, or a ``folder``) must be writable where it is: an existing
    one of the right kind, in a directory (or below the nearest existing one)
    that may be written. It must not be any of the ``inputs`` (the same file,
    however named: a ``UsageError``, exit 2). ``None`` or ``-`` (stdout) pass.
    """
    if path is None or str(path) == "-":
        return
    p = Path(path)
    if p.exists():
        for source in inputs:
            if source is not None and str(source) != "-" and os.path.exists(source) and os.path.samefile(source, p):
                raise UsageError(f"{option} {p} is also the input {source}: it would be overwritten while it is read; "
                                 "write to another file")
        if folder and not p.is_dir():
            raise FdpoError(f"{option} {p}: not a folder")
        if not folder and p.is_dir():
            raise FdpoError(f"{option} {p}: is a directory, expected a file")
        if not os.access(p, os.W_OK | (os.X_OK if folder else 0)):
            raise FdpoError(f"{option} {p}: permission denied")
        if folder or not p.is_file():  # a folder, or /dev/null, a FIFO: written in place
            return
    where = Path(os.path.realpath(p)).parent  # where FILE.partial goes, or the file is made
    while not where.exists() and where != where.parent:
        where = where.parent
    if not where.is_dir():
        raise FdpoError(f"{option} {p}: {where} is not a directory")
    if not os.access(where, os.W_OK | os.X_OK):
        raise FdpoError(f"{option} {p}: cannot write in {where} (permission denied)")


def upstream_error(record: Record, summary: Summary) -> bool:
    """Whether ``record`` arrived with an ``error`` from an earlier stage (counted): it is passed on untouched."""
    if not record.get("error"):
        return False
    summary.counts["upstream errors passed on"] += 1
    return True


def per_record(fn: Callable[[Record], Record | list[Record]]) -> Transform:
    """A transform that applies ``fn`` to each record on its own.

    Records that arrive with an ``error`` from an earlier stage pass through
    untouched; an exception in ``fn`` puts an ``error`` field on the record
    instead of stopping the stage (``record_error``). Both are counted.
    """

    def transform(records: Iterator[Record], summary: Summary) -> Iterator[Record]:
        for record in records:
            if upstream_error(record, summary):
                yield record
                continue
            try:
                out = fn(record)
            except Exception as exc:  # noqa: BLE001 - a record's failure is data
                summary.errors += 1
                yield {**record, "error": record_error(exc)}
                continue
            yield from (out if isinstance(out, list) else [out])

    return transform


def run_stage(
    name: str,
    io: StageIO,
    transform: Transform,
    *,
    source: Iterable[Record] | None = None,
    output_key: Callable[[Record], Any] = lambda r: r.get("id"),
    grouped: bool = False,
    unit: str = "rec",
    live: tuple[str, ...] = (),
    closing: Callable[[Summary], str] = Summary.text,
) -> Summary:
    """Run ``transform`` over the input stream and write its records.

    The input is ``io.input`` (JSONL), or ``source``: records a stage makes
    itself (eval's benchmark problems, synth's seeds), which then get the same
    ``--resume``, progress, sink and summary. ``output_key`` maps an output
    record back to the key of the input that produced it (``problem_id`` for
    stages that write several lines per input, which also set ``grouped`` and,
    for ``--resume`` to tell repeated ids apart, return ``repeat_key(problem id,
    occurrence(input record))``). ``live`` names entries of ``summary.counts``
    that the transform keeps current and the progress bar shows as it goes;
    ``closing`` writes the last line. The input is opened and the output
    checked (``check_output``) before anything is written.
    """
    summary = Summary(name)
    start = time.perf_counter()
    stream = open_input(io.input) if source is None else None
    try:
        check_output(io.output, inputs=[io.input])
        sink = Sink(io.output, resume=io.resume, key=output_key, grouped=grouped)
    except BaseException:
        _close(stream, io)
        raise
    summary.already_done = len(sink.done)
    records = _parsed(stream, io, summary) if source is None else ((f"record {i}", r) for i, r in enumerate(source, 1))
    total = count_lines(io.input) if source is None else (len(source) if isinstance(source, Sized) else None)
    if total is not None and io.shard:
        total = (total + io.shard.count - 1) // io.shard.count
    failure: BaseException | None = None
    try:
        with progress(unit, TextColumn("[cyan]{task.fields[live]}")) as bar:
            task = bar.add_task(name, total=total, live="")
            todo = _todo(records, io, summary, sink, grouped, advance=lambda: bar.advance(task))
            for out in transform(todo, summary):
                sink.write(out)
                summary.written += 1
                if not grouped:
                    bar.advance(task)
                if live:
                    shown = (f"{summary.counts[k]:,} {k}" for k in live if k in summary.counts)
                    bar.update(task, live=" ".join(shown))
    except BaseException as exc:
        failure = exc
        raise
    finally:
        sink.close(failure)
        _close(stream, io)
        summary.seconds = time.perf_counter() - start
    console.print(closing(summary), soft_wrap=True)  # one line, so it can be grepped
    return summary


def _close(stream, io: StageIO) -> None:
    if stream is not None and io.input not in (None, "-"):
        stream.close()


def _parsed(stream, io: StageIO, summary: Summary) -> Iterator[tuple[str, Record]]:
    """("line N", record) for a JSONL stream; malformed lines stop the run, or with --skip-invalid are counted."""
    for lineno, line in iter_lines(stream):
        try:
            yield f"line {lineno}", parse_line(line, lineno)
        except InvalidLine:
            if not io.skip_invalid:
                raise
            summary.invalid_lines.append(lineno)


def _todo(records: Iterator[tuple[str, Record]], io: StageIO, summary: Summary, sink: Sink, grouped: bool,
          advance: Callable[[], None]) -> Iterator[Record]:
    """The records this run works on: its shard, minus what --resume finds done; repeated ids counted.

    The progress bar counts inputs: one done already, or (``grouped``) one handed on; otherwise the
    driver counts outputs."""
    position = -1
    everywhere: Counter = Counter()  # ids over the whole input, for occurrence()
    here: Counter = Counter()  # ids of this shard: the order of the output that --resume reads
    for where, record in records:
        position += 1
        rid = record.get("id")
        counted = isinstance(rid, (str, int, float))  # not None, a list, …
        if counted:
            everywhere[rid] += 1
        if io.shard and not io.shard.takes(position):
            continue
        n = everywhere[rid] if counted else 1
        if n > 1:
            summary.repeated += 1
            if rid not in summary.repeated_ids and len(summary.repeated_ids) <= 3:
                summary.repeated_ids.append(rid)
            record = Repeated(record)
            record.occurrence = n
        if io.resume:
            if "id" not in record:
                raise FdpoError(f"{where}: --resume needs an 'id' on every record")
            if counted:
                here[rid] += 1
            if repeat_key(rid, n if grouped or not counted else here[rid]) in sink.done:
                advance()
                continue
        summary.read += 1
        if grouped:
            advance()
        yield record
