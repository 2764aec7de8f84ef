"""Streaming JSON Lines: read records one at a time, write them one at a time.

Covers opening the input (a path, ``-`` or stdin), parsing each line into a
dict with its line number, and an output sink that flushes every record and
can resume an interrupted ``-o FILE``. Does not decide what a stage does with
records (see ``fdpo.stage``).
"""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson

from fdpo.errors import FdpoError

Record = dict[str, Any]
_DUMP_OPTS = orjson.OPT_APPEND_NEWLINE | orjson.OPT_SERIALIZE_NUMPY


class InvalidLine(FdpoError):
    def __init__(self, lineno: int, what: str) -> None:
        super().__init__(f"line {lineno}: {what}")
        self.lineno = lineno


def open_input(path: str | Path | None) -> IO[bytes]:
    """A binary stream for ``path``; ``None`` or ``-`` is stdin."""
    if path is None or str(path) == "-":
        return sys.stdin.buffer
    p = Path(path)
    if not p.exists():
        raise FdpoError(f"{p}: no such file")
    if p.is_dir():
        raise FdpoError(f"{p}: is a directory, expected a JSONL file")
    return p.open("rb")


def count_lines(path: str | Path | None) -> int | None:
    """Number of lines of a regular file (for a progress total), else None."""
    if path is None or str(path) == "-" or not Path(path).is_file():
        return None
    n = 0
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            n += chunk.count(b"\n")
    return n


def parse_line(line: bytes, lineno: int) -> Record:
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise InvalidLine(lineno, f"invalid JSON ({exc})") from None
    if not isinstance(value, dict):
        raise InvalidLine(lineno, f"expected a JSON object, got {type(value).__name__}")
    return value


def iter_lines(stream: IO[bytes]) -> Iterator[tuple[int, bytes]]:
    """(line number, bytes) for every non-blank line, read lazily."""
    for lineno, line in enumerate(stream, start=1):
        if line.strip():
            yield lineno, line


def dumps(record: Record) -> bytes:
    try:
        return orjson.dumps(record, option=_DUMP_OPTS)
    except TypeError:
        # NaN/inf or huge ints: fall back to the stdlib, which writes them as text.
        import json

        return (json.dumps(record, ensure_ascii=False, default=str) + "\n").encode()


def read_records(path: str | Path) -> list[Record]:
    """All records of a small file, for tests and side inputs (not the main stream)."""
    with open_input(path) as f:
        return [parse_line(line, n) for n, line in iter_lines(f)]


def write_records(path: str | Path, records) -> None:
    with open(path, "wb") as f:
        for r in records:
            f.write(dumps(r))


@dataclass
class Sink:
    """Where a stage's records go: stdout or a file, one flushed line per record.

    With ``resume=True`` and a file, the lines already there are kept: a partial
    last line (a run killed mid-write) is cut off, and ``done`` holds the keys of
    the complete records so the stage can skip their inputs. When a stage writes
    several lines per input (``grouped=True``), the last group may be incomplete,
    so it is cut off too and redone.
    """

    path: Path | None = None
    resume: bool = False
    key: Callable[[Record], Any] = lambda r: r.get("id")
    grouped: bool = False
    done: set = field(default_factory=set)
    kept: int = 0
    _out: IO[bytes] | None = None

    def __post_init__(self) -> None:
        if self.resume and self.path is None:
            raise FdpoError("--resume needs -o FILE: there is nothing to resume on stdout")
        if self.path is None:
            self._out = sys.stdout.buffer
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.resume and self.path.exists():
            self._recover()
            self._out = self.path.open("ab")
        else:
            self._out = self.path.open("wb")

    def _recover(self) -> None:
        data = self.path.read_bytes()
        good_end, keys_at = 0, []  # keys_at: (key, end offset of that line)
        offset = 0
        for line in io.BytesIO(data):
            end = offset + len(line)
            if not line.endswith(b"\n"):
                break
            if line.strip():
                try:
                    record = orjson.loads(line)
                except orjson.JSONDecodeError:
                    break
                keys_at.append((self.key(record), end))
            good_end = end
            offset = end
        if self.grouped and keys_at:
            last = keys_at[-1][0]
            while keys_at and keys_at[-1][0] == last:
                keys_at.pop()
            good_end = keys_at[-1][1] if keys_at else 0
        if good_end < len(data):
            with self.path.open("r+b") as f:
                f.truncate(good_end)
        self.done = {k for k, _ in keys_at}
        self.kept = len(keys_at)

    def write(self, record: Record) -> None:
        self._out.write(dumps(record))
        self._out.flush()

    def close(self) -> None:
        if self._out is not None and self._out is not sys.stdout.buffer:
            self._out.flush()
            try:
                os.fsync(self._out.fileno())
            except OSError:
                pass  # not a regular file (e.g. -o /dev/null): nothing to sync
            self._out.close()
