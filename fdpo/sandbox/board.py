"""The verdict board: a shared-memory table where a candidate's processes leave their results.

The worker maps one board per job before forking the candidate process, so
the candidate process (its load result, which test runs since when) and each
test process (its own verdict) write into it without waking anyone; the
worker reads it when the candidate process ends or a deadline passes. Writers
are untrusted: every read is bounds-checked and garbage reads as "no verdict".
A record's ``state`` byte is written last, so a set byte means a whole record
(a verdict without a reason is one write, state included).
Besides the ``Board`` methods, the module-level ``prepare`` / ``write`` / ``pack_record`` /
``pack_progress`` / ``unpack_progress`` take the raw map and a precomputed offset: a test process
calls them, and every object it touches costs it a copied page.
Does not cover what a verdict means (see ``runner`` and ``supervisor``).
Standard library only.
"""

from __future__ import annotations

import ctypes
import os
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
# The map comes from libc through ctypes (loaded in the worker anyway), not the mmap module: one library
# less mapped into every fork, and a test process writes its verdict through the interpreter's own code.
_libc = ctypes.CDLL(None, use_errno=True)
_mmap, _munmap = _libc.mmap, _libc.munmap
_mmap.restype, _mmap.argtypes = ctypes.c_void_p, (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                                                  ctypes.c_int, ctypes.c_long)
_munmap.argtypes = (ctypes.c_void_p, ctypes.c_size_t)
_as_view = ctypes.pythonapi.PyMemoryView_FromMemory
_as_view.restype, _as_view.argtypes = ctypes.py_object, (ctypes.c_void_p, ctypes.c_ssize_t, ctypes.c_int)
_PROT_RW, _MAP_SHARED_ANONYMOUS, _PYBUF_WRITE = 0x1 | 0x2, 0x01 | 0x20, 0x200


def prepare(mem, offset: int) -> None:
    """Clear a test's record before it runs, laid out as a pass without a reason: a test that passes then
    writes only its time (``times[(offset >> 3) + 1] = seconds``, ``times`` being ``Board.times``) and
    the state byte, through the interpreter's own code (no ``struct`` call, whose code a test process would
    have to fault in). ``runner._run_tests`` makes the same ``pack_record`` call inline, a frame fewer per test."""
    _RECORD.pack_into(mem, offset, 0, PASS, 0, 0.0)


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
        self._size = _LOAD_AT + RECORD_SIZE * (tests + 1)
        self._address = _mmap(None, self._size, _PROT_RW, _MAP_SHARED_ANONYMOUS, -1, 0)  # shared across fork
        if self._address in (None, ctypes.c_void_p(-1).value):
            err = ctypes.get_errno()
            raise OSError(err, f"mmap: {os.strerror(err)}")
        #: The shared memory as a writable ``memoryview`` of bytes, and of doubles (a record's time, see ``prepare``).
        self.map = _as_view(self._address, self._size, _PYBUF_WRITE)
        self.times = self.map.cast("d")
        #: Offset of each test's record in ``map`` (computed once: a test process only looks its own up).
        self.offsets = [self._offset(j) for j in range(tests)]
        self.set_progress(-1, 0.0)

    def close(self) -> None:
        try:
            self.times.release()
            self.map.release()
        except BufferError:  # a view of it is still in use somewhere: leave the memory mapped
            return
        _munmap(self._address, self._size)

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
        return STATUSES[status], seconds, bytes(self.map[head:head + length]).decode("utf-8", "replace")

    def set_progress(self, test: int, started: float) -> None:
        _PROGRESS.pack_into(self.map, 0, test, started)

    def progress(self) -> tuple[int, float]:
        return _PROGRESS.unpack_from(self.map, 0)
