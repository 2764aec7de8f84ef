"""Streaming JSON Lines: read records one at a time, write them one at a time.

Covers opening the input (a path, ``-`` or stdin; a UTF-8 byte order mark is
skipped), parsing each line into a dict with its line number, and an output
sink that flushes every record, never damages an existing ``-o FILE`` with a
failed run, and can resume an interrupted one. Does not decide what a stage
does with records (see ``fdpo.stage``).
"""

from __future__ import annotations

import io
import json
import os
import stat
import sys
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson

from fdpo.console import warn
from fdpo.errors import FdpoError

Record = dict[str, Any]
_DUMP_OPTS = orjson.OPT_APPEND_NEWLINE | orjson.OPT_SERIALIZE_NUMPY
BOM = b"\xef\xbb\xbf"  # a UTF-8 byte order mark, which some editors put first in a file
#: Beside ``FILE``, what a run that failed had written (``FILE`` itself is left as it was).
PARTIAL_SUFFIX = ".partial"


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
    """Number of non-blank lines of a regular file (for a progress total), else None."""
    if path is None or str(path) == "-" or not Path(path).is_file():
        return None
    with open(path, "rb") as f:
        return sum(1 for line in f if not line.isspace())  # isspace: no copy of a long line


def parse_line(line: bytes, lineno: int) -> Record:
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise InvalidLine(lineno, f"invalid JSON ({exc})") from None
    if not isinstance(value, dict):
        raise InvalidLine(lineno, f"expected a JSON object, got {type(value).__name__}")
    return value


def iter_lines(stream: IO[bytes]) -> Iterator[tuple[int, bytes]]:
    """(line number, bytes) for every non-blank line, read lazily; a byte order mark first is dropped."""
    for lineno, line in enumerate(stream, start=1):
        if lineno == 1 and line.startswith(BOM):
            line = line[len(BOM):]
        if line.strip():
            yield lineno, line


def repeat_key(key: Any, occurrence: int) -> Any:
    """How ``--resume`` tells apart records that share a key: the first is ``key``, the n-th ``(key, n)``."""
    return key if occurrence == 1 else (key, occurrence)


def dumps(record: Record) -> bytes:
    try:
        return orjson.dumps(record, option=_DUMP_OPTS)
    except TypeError:
        # NaN/inf or huge ints: fall back to the stdlib, which writes them as text.
        return (json.dumps(record, ensure_ascii=False, default=str) + "\n").encode()


def read_records(path: str | Path) -> list[Record]:
    """All records of a small file, for tests and side inputs (not the main stream)."""
    with open_input(path) as f:
        return [parse_line(line, n) for n, line in iter_lines(f)]


def write_records(path: str | Path, records) -> None:
    with open(path, "wb") as f:
        for r in records:
            f.write(dumps(r))


def replace_file(path: str | Path, data: bytes) -> None:
    """Write a whole file (a report, statistics) so that it is either the old one or the new one, never half."""
    target = Path(os.path.realpath(path))
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=PARTIAL_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(temp, _mode_for(target))
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def _mode_for(target: Path) -> int:
    """The permissions a new ``target`` gets: the old file's, else what ``open`` would give."""
    try:
        return stat.S_IMODE(target.stat().st_mode)
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _holds_data(path: Path) -> bool:
    try:
        info = path.stat()
    except FileNotFoundError:
        return False
    return stat.S_ISREG(info.st_mode) and info.st_size > 0


@dataclass
class Sink:
    """Where a stage's records go: stdout or a file, one flushed line per record.

    An existing, non-empty ``FILE`` is not touched while the run goes: records
    go to ``FILE.partial``, which ``close()`` renames over ``FILE`` when the run
    ends or is interrupted (``KeyboardInterrupt``: SIGINT, SIGTERM), so that
    ``--resume`` continues it. A run that fails (``close(error)``) leaves
    ``FILE`` as it was and what it wrote in ``FILE.partial``; one killed outright
    leaves both. A new or empty ``FILE`` is written in place, so even a killed
    run can be resumed.

    With ``resume=True`` and a file, the lines already there are kept (appended
    to in place): a partial last line (a run killed mid-write) is cut off, with
    a word on stderr, and ``done`` holds the keys of the complete records so the
    stage can skip their inputs; the n-th record with the same key is known as
    ``repeat_key(key, n)``. When a stage writes several lines per input
    (``grouped=True``), ``key`` names the input (``repeat_key`` included), and
    the last group may be incomplete, so it is cut off too and redone.
    """

    path: Path | None = None
    resume: bool = False
    key: Callable[[Record], Any] = lambda r: r.get("id")
    grouped: bool = False
    done: set = field(default_factory=set)
    kept: int = 0
    written: int = 0
    _out: IO[bytes] | None = None
    _partial: Path | None = None  # where the records go until close() puts them in place

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
        elif _holds_data(self.path):
            target = Path(os.path.realpath(self.path))  # a link stays a link to the new file
            self._partial = target.with_name(target.name + PARTIAL_SUFFIX)
            self._out = self._partial.open("wb")
            os.chmod(self._partial, _mode_for(target))
        else:
            self._out = self.path.open("wb")

    def _recover(self) -> None:
        data = self.path.read_bytes()
        good_end, keys_at = 0, []  # keys_at: (key, end offset of that line)
        offset, cut = 0, None
        for lineno, line in enumerate(io.BytesIO(data), start=1):
            end = offset + len(line)
            body = line[len(BOM):] if lineno == 1 and line.startswith(BOM) else line
            if body.strip():
                record = _record_or_none(body) if line.endswith(b"\n") else None
                if record is None:
                    if data[end:].strip():
                        raise FdpoError(
                            f"{self.path}: line {lineno} is not a complete JSON record and more lines follow; "
                            f"--resume only cuts a partial last line: mend or remove line {lineno}"
                        )
                    cut = lineno
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
            if cut is not None:
                warn(f"--resume: cut off line {cut} of {self.path}, a partial record left by an interrupted run")
            with self.path.open("r+b") as f:
                f.truncate(good_end)
        if self.grouped:
            self.done = {k for k, _ in keys_at}
        else:
            seen: Counter = Counter()
            for k, _ in keys_at:
                seen[k] += 1
                self.done.add(repeat_key(k, seen[k]))
        self.kept = len(keys_at)

    def write(self, record: Record) -> None:
        self._out.write(dumps(record))
        self._out.flush()
        self.written += 1

    def __enter__(self) -> Sink:
        return self

    def __exit__(self, kind, error, traceback) -> None:
        self.close(error)

    def close(self, error: BaseException | None = None) -> None:
        """Finish the output; ``error`` is what stopped the run early, if anything (see the class)."""
        out, self._out = self._out, None
        if out is None or out is sys.stdout.buffer:
            return
        out.flush()
        try:
            os.fsync(out.fileno())
        except OSError:
            pass  # not a regular file (e.g. -o /dev/null): nothing to sync
        out.close()
        if self._partial is None:
            return
        if error is None or isinstance(error, KeyboardInterrupt):
            os.replace(self._partial, self._partial.with_name(self._partial.name[: -len(PARTIAL_SUFFIX)]))
        elif self.written == 0:
            self._partial.unlink(missing_ok=True)
        else:
            warn(f"{self.path} is left as it was; the {self.written} records this run wrote before it failed "
                 f"are in {self._partial}")


def _record_or_none(line: bytes) -> Record | None:
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None
