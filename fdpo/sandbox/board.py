"""The verdict board: a shared-memory table where a candidate's processes leave their results.

The worker maps one board per job before forking the candidate process, so
the candidate process (its load result, which test runs since when) and each
test process (its own verdict) write into it without waking anyone; the
worker reads it when the candidate process ends or a deadline passes. Writers
are untrusted: every read is bounds-checked and garbage reads as "no verdict".
A record's ``state`` byte is written last, so a set byte means a whole record
(a verdict without a reason is one write, state included).
Besides the ``Board`` methods, the module-level ``prepare`` / ``write`` / ``pack_progress`` /
``unpack_progress`` take a board (``prepare``: its byte view) and a precomputed offset: a test process calls them,
and every object it touches costs it a copied page. Records are read and written through typed views
of the memory (``memoryview.cast``), not ``struct``: one library less in every fork.
Does not cover what a verdict means (see ``runner`` and ``supervisor``).
Standard library only.
"""

from __future__ import annotations

from fdpo.sandbox import syscalls

STATUSES = ("ok", "pass", "fail", "error", "timeout", "crash")
OK, PASS, FAIL, ERROR, TIMEOUT, CRASH = range(len(STATUSES))
REASON_BYTES = 1008
# A record: state (byte 0), status (byte 1), reason length (uint16 at 2), seconds (double at 8), the reason.
_HEAD = 16
RECORD_SIZE = _HEAD + REASON_BYTES
#: A pass without a reason, its state byte clear: what a test's record holds before it runs.
BLANK = bytes((0, PASS)) + bytes(_HEAD - 2)
# Progress at the start: the index of the running test (int64; -1: none yet), when it started (a double).
_LOAD_AT = 64
_STATUS_CODE = {s: i for i, s in enumerate(STATUSES)}


def prepare(mem, offset: int) -> None:
    """Clear a test's record before it runs, laid out as a pass without a reason: a test that passes then
    writes only its time (``times[(offset >> 3) + 1] = seconds``, ``times`` being ``Board.times``) and
    the state byte. The compiled test loop (``syscalls.run_tests``) copies ``BLANK`` there itself."""
    mem[offset:offset + _HEAD] = BLANK


def write(board: Board, offset: int, status: int, seconds: float, reason: str) -> None:
    """A verdict with its reason at ``offset`` of ``board``; the state byte last."""
    data = reason.encode("utf-8", "replace")[:REASON_BYTES]
    mem = board.map
    head = offset + _HEAD
    mem[head:head + len(data)] = data
    mem[offset] = 0
    mem[offset + 1] = status
    board.halves[(offset >> 1) + 1] = len(data)
    board.times[(offset >> 3) + 1] = seconds
    mem[offset] = 1


def pack_progress(board: Board, test: int, since: float) -> None:
    """Say which test runs since when (``unpack_progress`` reads it)."""
    board.longs[0] = test
    board.times[1] = since


def unpack_progress(board: Board) -> tuple[int, float]:
    return board.longs[0], board.times[1]


class Board:
    def __init__(self, tests: int):
        self.tests = tests
        self.size = _LOAD_AT + RECORD_SIZE * (tests + 1)  # a multiple of 8: each view below fits
        #: The shared memory (``syscalls.map_shared``: shared across fork) as a writable ``memoryview`` of
        #: bytes, and as doubles, int64s and uint16s (a record's time and reason length, the progress);
        #: ``address``: where it is mapped (``syscalls.run_tests`` writes there).
        self.map, self.address = syscalls.map_shared(self.size)
        self.times, self.longs, self.halves = self.map.cast("d"), self.map.cast("q"), self.map.cast("H")
        #: Offset of each test's record in ``map`` (computed once: a test process only looks its own up).
        self.offsets = [self._offset(j) for j in range(tests)]
        self.set_progress(-1, 0.0)

    def close(self) -> None:
        try:
            for view in (self.times, self.longs, self.halves, self.map):
                view.release()
        except BufferError:  # a view of it is still in use somewhere: leave the memory mapped
            return
        syscalls.unmap(self.address, self.size)

    def _offset(self, test: int | None) -> int:
        return _LOAD_AT + RECORD_SIZE * (0 if test is None else test + 1)

    def put(self, test: int | None, status: str, seconds: float, reason: str) -> None:
        """Write the load's (``test=None``) or a test's verdict."""
        write(self, self._offset(test), _STATUS_CODE[status], seconds, reason)

    def clear(self, test: int | None) -> None:
        self.map[self._offset(test)] = 0

    def start_test(self, test: int, now: float) -> None:
        """Clear the test's record (nothing earlier may pre-fill it) and mark it running since ``now``."""
        self.map[self._offset(test)] = 0
        pack_progress(self, test, now)

    def has(self, test: int) -> bool:
        return self.map[self._offset(test)] == 1

    def get(self, test: int | None) -> tuple[str, float, str] | None:
        """(status, seconds, reason), or None when there is no (valid) verdict."""
        if test is not None and not 0 <= test < self.tests:
            return None
        offset = self._offset(test)
        state, status = self.map[offset], self.map[offset + 1]
        length, seconds = self.halves[(offset >> 1) + 1], self.times[(offset >> 3) + 1]
        if state != 1 or status >= len(STATUSES) or length > REASON_BYTES or not seconds >= 0:
            return None
        head = offset + _HEAD
        seconds = min(float(seconds), 1e9)
        return STATUSES[status], seconds, bytes(self.map[head:head + length]).decode("utf-8", "replace")

    def set_progress(self, test: int, started: float) -> None:
        pack_progress(self, test, started)

    def progress(self) -> tuple[int, float]:
        return unpack_progress(self)
