"""The verdict board: a shared-memory table where a candidate's processes leave their results.

The worker maps one board per job before forking the candidate process, so
the candidate process (its load result, which test runs since when) and each
test process (its own verdict) write into it without waking anyone; the
worker reads it when the candidate process ends or a deadline passes. Writers
are untrusted: every read is bounds-checked and garbage reads as "no verdict".
A record's ``state`` byte is written last, so a set byte means a whole record
(a verdict without a reason is one write, state included).
Besides the ``Board`` methods, the module-level ``write`` / ``pack_record`` /
``pack_progress`` / ``unpack_progress`` take the raw map and a precomputed offset: a test process
calls them, and every object it touches costs it a copied page.
Does not cover what a verdict means (see ``runner`` and ``supervisor``).
Standard library only.
"""

from __future__ import annotations

import mmap
import struct

STATUSES = ("ok", "pass", "fail", "error", "timeout", "crash")
OK, PASS, FAIL, ERROR, TIMEOUT, CRASH = range(len(STATUSES))
REASON_BYTES = 1008
_RECORD = struct.Struct("<BBHxxxxd")  # state, status, reason length, seconds
_PROGRESS = struct.Struct("<qd")  # index of the running test (-1: none yet), when it started (monotonic)
RECORD_SIZE = _RECORD.size + REASON_BYTES
_LOAD_AT = 64
_STATUS_CODE = {s: i for i, s in enumerate(STATUSES)}
#: ``pack_record(map, offset, 1, status, 0, seconds)``: a whole verdict without a reason, in one call.
pack_record = _RECORD.pack_into
#: ``pack_progress(map, 0, test, since)``: which test runs since when; ``unpack_progress(map, 0)`` reads it.
pack_progress, unpack_progress = _PROGRESS.pack_into, _PROGRESS.unpack_from
_HEAD = _RECORD.size


def write(mem, offset: int, status: int, seconds: float, reason: str) -> None:
    """A verdict with its reason at ``offset`` of a board's map; the state byte last."""
    data = reason.encode("utf-8", "replace")[:REASON_BYTES]
    head = offset + _HEAD
    mem[head:head + len(data)] = data
    _RECORD.pack_into(mem, offset, 0, status, len(data), seconds)
    mem[offset] = 1


class Board:
    def __init__(self, tests: int):
        self.tests = tests
        self.map = mmap.mmap(-1, _LOAD_AT + RECORD_SIZE * (tests + 1))  # anonymous and shared across fork
        #: Offset of each test's record in ``map`` (computed once: a test process only looks its own up).
        self.offsets = [self._offset(j) for j in range(tests)]
        self.set_progress(-1, 0.0)

    def close(self) -> None:
        self.map.close()

    def _offset(self, test: int | None) -> int:
        return _LOAD_AT + RECORD_SIZE * (0 if test is None else test + 1)

    def put(self, test: int | None, status: str, seconds: float, reason: str) -> None:
        """Write the load's (``test=None``) or a test's verdict."""
        write(self.map, self._offset(test), _STATUS_CODE[status], seconds, reason)

    def clear(self, test: int | None) -> None:
        self.map[self._offset(test)] = 0

    def start_test(self, test: int, now: float) -> None:
        """Clear the test's record (nothing earlier may pre-fill it) and mark it running since ``now``."""
        self.map[self._offset(test)] = 0
        _PROGRESS.pack_into(self.map, 0, test, now)

    def has(self, test: int) -> bool:
        return self.map[self._offset(test)] == 1

    def get(self, test: int | None) -> tuple[str, float, str] | None:
        """(status, seconds, reason), or None when there is no (valid) verdict."""
        if test is not None and not 0 <= test < self.tests:
            return None
        state, status, length, seconds = _RECORD.unpack_from(self.map, self._offset(test))
        if state != 1 or status >= len(STATUSES) or length > REASON_BYTES or not seconds >= 0:
            return None
        head = self._offset(test) + _RECORD.size
        seconds = min(float(seconds), 1e9)
        return STATUSES[status], seconds, self.map[head:head + length].decode("utf-8", "replace")

    def set_progress(self, test: int, started: float) -> None:
        _PROGRESS.pack_into(self.map, 0, test, started)

    def progress(self) -> tuple[int, float]:
        return _PROGRESS.unpack_from(self.map, 0)
